"""`runbook demo`: `reset [NAME]` rebuilds the embedded demos of this configuration;
`serve SYSTEM...` serves stand-ins of the other seeds' systems (runner/demos/), `faults`
lists what they can be switched into.

A demo is a connection with `demo:` in runner.yaml. NAME is the demo (`orders`) or the
connection's name; without it every demo connection is rebuilt. Each is replaced whole
(its database and the files its builder puts beside it) or, on failure, left as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runner.base.errors import ConfigError, RunbookError

if TYPE_CHECKING:
    from runner.language.config import ConnectionSpec


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
        if spec.kind == "odbc":  # a demo's tables on a server (wms on PostgreSQL)
            failed += _reset_on_server(spec)
            continue
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


def _reset_on_server(spec: ConnectionSpec) -> int:
    """Drop and build again a demo's tables on its server, in one transaction; 1 when it
    failed (said on stderr, nothing changed), else 0."""
    from runner.databases.demo import ensure_odbc_demo

    try:
        import pyodbc

        target, _ = spec.resolve()
        with contextlib.closing(pyodbc.connect(target, autocommit=True, timeout=15)) as db:
            ensure_odbc_demo(spec.demo or "", target, db, rebuild=True)
    except Exception as error:  # the driver's, the server's, or no pyodbc: one line
        reason = error.args[-1] if getattr(error, "args", None) else error
        print(
            f"runbook: demo {spec.demo} ({spec.name}): {reason}; nothing changed",
            file=sys.stderr,
        )
        return 1
    print(f"demo {spec.demo} ({spec.name}): rebuilt its tables on the server")
    return 0


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def serve_command(args: argparse.Namespace) -> int:
    """`runbook demo serve SYSTEM... [--fault NAME]... [--listen ADDR]`."""
    from runner.base.errors import InputError
    from runner.base.suggest import did_you_mean
    from runner.demos import SYSTEMS, system
    from runner.demos.base import DemoState
    from runner.demos.server import Served, serve
    from runner.language.config import load_config

    names = list(SYSTEMS) if "all" in args.systems else list(dict.fromkeys(args.systems))
    if args.listen is not None and len(names) > 1:
        raise InputError("--listen takes one SYSTEM: each system listens on its own port")
    systems = [system(name) for name in names]
    known = {fault for each in systems for fault in each.FAULTS}
    for fault in args.fault:
        if fault not in known:
            hint = did_you_mean(fault, known)
            raise InputError(
                f"no fault {fault!r} in {', '.join(names)}"
                f"{f' ({hint})' if hint else ''}: `runbook demo faults` lists them"
            )
    config = load_config(args.config)
    chosen = []
    for each in systems:
        host, port = args.listen or each.LISTEN
        state = DemoState(
            config.root / "var" / "demo" / each.NAME,
            faults=[fault for fault in args.fault if fault in each.FAULTS],
            config=config,
        )
        chosen.append(Served(each, state, host, port))
    serve(chosen)
    return 0


def faults_command(args: argparse.Namespace) -> int:
    """`runbook demo faults`: each system's faults, one per line."""
    from runner.demos import SYSTEMS, system

    for name in SYSTEMS:
        each = system(name)
        print(f"{name}: {each.TITLE} (listens on {each.LISTEN[0]}:{each.LISTEN[1]})")
        width = max((len(fault) for fault in each.FAULTS), default=0)
        for fault, what in each.FAULTS.items():
            print(f"  --fault {fault:<{width}}  {what}")
    return 0
