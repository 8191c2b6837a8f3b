"""`runbook prune`'s answer: what retention removed (or, with --dry-run, would remove).

The answer is a mapping with `runs`, `steps`, `deliveries`, `per_runbook`, `oldest`,
`newest` (history/upkeep.py's Pruned as a dict), and `days`, `keep`, `dry_run`, `store`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runner.reports.formats import PAGE_FORMATS
from runner.reports.summary import plural


def render_prune(answer: Mapping[str, Any], fmt: str) -> str:
    if fmt not in PAGE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(PAGE_FORMATS)}")
    if fmt == "json":
        from runner.reports.render import FORMAT_VERSION

        return json.dumps({"format_version": FORMAT_VERSION, **answer}, indent=2, default=str)
    verb = "would remove" if answer["dry_run"] else "removed"
    per_runbook = ", ".join(f"{name}: {count}" for name, count in answer["per_runbook"].items())
    line = f"{verb} {plural(answer['runs'], 'run')}"
    if per_runbook:
        line += f" ({per_runbook})"
    deliveries = answer["deliveries"]
    line += (
        f", {plural(answer['steps'], 'step result')} and "
        f"{deliveries} deliver{'y' if deliveries == 1 else 'ies'} from {answer['store']}"
    )
    lines = [line]
    if answer["oldest"]:
        lines.append(f"runs started from {answer['oldest']} to {answer['newest']}")
    lines.append(
        f"retention: runs older than {plural(answer['days'], 'day')} go, except the last "
        f"{answer['keep']} of each runbook"
    )
    return "\n".join(lines)
