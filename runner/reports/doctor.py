"""`runbook doctor`'s findings: one line per check, or one JSON document.

A finding is a mapping with `check`, `ok`, `detail` and `fix` (runner/service/doctor.py
makes them); a failed one says what to fix on its own line, so that a mail from cron or
a Nagios check result reads without the documentation at hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from runner.reports.formats import PAGE_FORMATS
from runner.reports.summary import plural


def render_doctor(findings: Sequence[Mapping[str, Any]], fmt: str) -> str:
    if fmt not in PAGE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(PAGE_FORMATS)}")
    failed = [finding for finding in findings if not finding["ok"]]
    if fmt == "json":
        from runner.reports.render import FORMAT_VERSION

        document = {
            "format_version": FORMAT_VERSION,
            "ok": not failed,
            "failed": [finding["check"] for finding in failed],
            "checks": [dict(finding) for finding in findings],
        }
        return json.dumps(document, indent=2, default=str)
    lines = [_line(finding) for finding in findings]
    if failed:
        names = ", ".join(finding["check"] for finding in failed)
        lines.append(f"{len(failed)} of {plural(len(findings), 'check')} failed: {names}")
    else:
        lines.append(f"all {plural(len(findings), 'check')} passed")
    return "\n".join(lines)


def _line(finding: Mapping[str, Any]) -> str:
    text = f"{finding['check']}: {finding['detail']}"
    if not finding["ok"] and finding.get("fix"):
        text += f" -> fix: {finding['fix']}"
    # One line per check, whatever a driver's message holds (newlines, tabs).
    return f"{'ok  ' if finding['ok'] else 'FAIL'}  {' '.join(text.split())}"
