"""`runbook demo reset [NAME]`: rebuild the embedded demos of this configuration.

A demo is a connection with `demo:` in runner.yaml. NAME is the demo (`orders`) or the
connection's name; without it every demo connection is rebuilt. Each is replaced whole
(its database and the files its builder puts beside it) or, on failure, left as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runner.base.errors import ConfigError, RunbookError


class DemoResetFailed(RunbookError):
    """A demo could not be rebuilt (exit 3); the old one is left as it was."""


def demo_command(args: argparse.Namespace) -> int:
    from runner.databases.demo_reset import ResetError, reset_demo
    from runner.language.config import load_config

    config = load_config(args.config)
    demos = {name: spec for name, spec in config.connections.items() if spec.demo}
    if not demos:
        raise ConfigError(
            f"{config.display_path}: no connection has `demo:`, so there is no demo "
            "to reset (the embedded order demo is `orders: {sqlite: var/demo/orders.db, "
            "demo: orders}`)"
        )
    chosen = [spec for name, spec in demos.items() if args.name in (None, name, spec.demo)]
    if not chosen:
        known = ", ".join(f"{name} (demo {spec.demo})" for name, spec in sorted(demos.items()))
        raise ConfigError(
            f"no demo named {args.name!r} in {config.display_path}: known are {known}"
        )
    failed = 0
    for spec in chosen:
        target = Path(spec.resolve()[0])
        shown = _shown(target, config.root)
        try:
            entries = reset_demo(spec.demo or "", target)
        except ResetError as error:
            print(f"runbook: demo {spec.demo} ({spec.name}): {error}", file=sys.stderr)
            failed += 1
            continue
        beside = [  # a folder (the order demo's logs/) shown as one
            f"{entry}/" if (target.parent / entry).is_dir() else entry
            for entry in entries
            if entry != target.name
        ]
        extra = f" and {', '.join(beside)} beside it" if beside else ""
        print(f"demo {spec.demo} ({spec.name}): rebuilt {shown}{extra}")
    if failed:
        raise DemoResetFailed(f"{failed} of {len(chosen)} demos could not be rebuilt")
    return 0


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
