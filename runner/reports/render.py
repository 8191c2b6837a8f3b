"""Reports: how runs, history, runbooks and validation problems are shown.

Every function returns a string and prints nothing; the command line prints it.
Formats: `text` for people, `json` for programs (documented in docs/output.md and
kept stable: fields are added, never renamed or removed, without a new
`format_version`), `nagios` for monitoring, `github` for CI annotations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

from runner.base.errors import Aborted, ConfirmationRefused, InvalidInput, Problem, RunbookError
from runner.base.status import Status
from runner.base.timestamps import timestamp_text
from runner.language.results import RunResult
from runner.reports.formats import (
    PAGE_FORMATS,
    PROBLEM_FORMATS,
    RUN_FORMATS,
    RUN_RENDERERS,
    STATUS_FORMATS,
)
from runner.reports.summary import plural

#: Bumped only when a documented JSON field changes meaning or disappears.
FORMAT_VERSION = 1


__all__ = [
    "FORMAT_VERSION",
    "PAGE_FORMATS",
    "PROBLEM_FORMATS",
    "RUN_FORMATS",
    "error_message",
    "github_escape_data",
    "github_escape_property",
    "render_deliveries",
    "render_history",
    "render_problems",
    "render_recorded_run_json",
    "render_run",
    "render_run_error",
    "render_run_json",
    "render_runbook_detail",
    "render_runbook_list",
]


def render_run(
    run: RunResult,
    fmt: str,
    *,
    color: bool = False,
    width: int = 100,
    max_output: int | None = None,
    all_items: bool = False,
) -> str:
    """A finished (or skipped, aborted, dry-run) run as text, json or nagios output;
    `max_output` bounds the nagios output in bytes (default 4096); `all_items` lists
    every item of a for_each that was kept (reports/items.py).

    A run the state store did not take says so (json has the `not_recorded` field): a
    last line in text, a line of long output in nagios, kept within `max_output` by
    leaving the rest that much less room."""
    _check_format(fmt, RUN_FORMATS)
    options: dict[str, Any] = {"color": color, "width": width, "all_items": all_items}
    note = run.not_recorded
    if not note or fmt == "json":
        return _render_run(run, fmt, options, max_output)
    if fmt == "text":
        text = _render_run(run, fmt, options, None).rstrip("\n")
        return f"{text}\nnot recorded: {note.removeprefix('the run was not recorded: ')}"
    from runner.reports.nagios import MAX_OUTPUT

    limit = max_output or MAX_OUTPUT
    line = " ".join(note.split()).replace("|", "/")
    room = max(limit // 2, limit - len(line.encode()) - 1)
    text = _render_run(run, fmt, options, room).rstrip("\n")
    left = limit - len(text.encode()) - 1
    if len(line.encode()) > left:
        line = line.encode()[: max(left - 3, 0)].decode(errors="ignore") + "..."
    return f"{text}\n{line}"


def _render_run(run: RunResult, fmt: str, options: dict[str, Any], max_output: int | None) -> str:
    module, _, function = RUN_RENDERERS[fmt].partition(":")
    render = getattr(import_module(module), function)  # imported when used: rich is slow
    if max_output is not None:
        options = {**options, "max_output": max_output}
    return str(render(run, **options))


def render_run_json(run: RunResult, *, all_items: bool = False, **_: Any) -> str:
    """The run as the JSON document docs/output.md describes."""
    from runner.reports.items import summarise_dict

    document = summarise_dict(run.as_dict(), all_items=all_items)
    return _json({"format_version": FORMAT_VERSION, **_times(document)})


def render_run_error(
    runbook: str,
    error: BaseException,
    fmt: str,
    *,
    mode: str = "run",
    trigger: str = "manual",
    max_output: int | None = None,
) -> str:
    """The answer of `runbook run` when an error stopped it before it had a result (an
    unknown runbook, an invalid file, a bad --param, a state store that cannot be opened,
    a bug): UNKNOWN, outcome `invalid` (`refused` for a confirmation that could not be
    asked, `aborted` for SIGTERM or Ctrl-C), in the format that was asked for, so that a
    monitor always reads an answer. `runbook` is the name (or path) that was asked for."""
    _check_format(fmt, RUN_FORMATS)
    outcome = "invalid"
    if isinstance(error, ConfirmationRefused):
        outcome = "refused"
    elif isinstance(error, (Aborted, KeyboardInterrupt)):
        outcome = "aborted"
    run = RunResult(
        run_id="",
        runbook=runbook,
        status=Status.UNKNOWN,
        outcome=outcome,
        mode=mode,
        trigger=trigger,
        error=error_message(error),
    )
    if fmt == "text":
        from runner.reports.summary import unstarted_summary

        return unstarted_summary(run)
    if fmt == "json":
        data: dict[str, Any] = {"format_version": FORMAT_VERSION, **run.as_dict(), "run_id": None}
        if isinstance(error, InvalidInput):
            data["problems"] = [problem.as_dict() for problem in error.problems]
        return _json(data)
    return render_run(run, fmt, max_output=max_output)


def error_message(error: BaseException) -> str:
    """How an error reads to a person: its own message, or `internal error: Type: message`
    for one the runner did not raise on purpose (a bug)."""
    if isinstance(error, (RunbookError, Aborted)):
        return error.format_message()
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"internal error: {type(error).__name__}: {error}"


def render_deliveries(deliveries: list[dict[str, Any]], fmt: str) -> str:
    """`runbook notify-test`: one line per service that was sent the message, URLs masked."""
    _check_format(fmt, PAGE_FORMATS)
    if fmt == "json":
        return _json(
            {"format_version": FORMAT_VERSION, **_times({"notifications": list(deliveries)})}
        )
    from runner.reports.text import delivery_line

    lines = [delivery_line(item) for item in deliveries]
    accepted = sum(1 for item in deliveries if item.get("ok"))
    lines.append(f"{accepted} of {plural(len(deliveries), 'service')} accepted the message")
    return "\n".join(lines)


def render_problems(
    problems: list[Problem], fmt: str, *, checked_files: int, root: Path | None = None
) -> str:
    """What `runbook validate` found in `checked_files` files, as text, json or github.
    GitHub annotations name files relative to `root` (default: `repository_root()`),
    as GitHub needs them to annotate a pull request; the other formats as given."""
    _check_format(fmt, PROBLEM_FORMATS)
    ordered = sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.col or 0))
    errors = sum(1 for p in ordered if p.severity == "error")
    if fmt == "json":
        return _json(
            {
                "format_version": FORMAT_VERSION,
                "valid": errors == 0,
                "files": checked_files,
                "errors": errors,
                "warnings": len(ordered) - errors,
                "problems": [p.as_dict() for p in ordered],
            }
        )
    if fmt == "github":
        top = repository_root() if root is None else root
        lines = [_github_line(p, top) for p in ordered]
    else:
        lines = [p.format() for p in ordered]
    lines.append(_problem_tally(len(ordered), errors, checked_files))
    return "\n".join(lines)


def _problem_tally(total: int, errors: int, files: int) -> str:
    if total == 0:
        return f"{plural(files, 'file')} valid"
    return (
        f"{plural(errors, 'error')}, {plural(total - errors, 'warning')} in {plural(files, 'file')}"
    )


def repository_root(
    start: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The repository GitHub annotations are relative to: $GITHUB_WORKSPACE when set (a
    GitHub Actions job), else the nearest folder up from `start` (default: the current
    folder) that holds `.git`; None outside a repository."""
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_WORKSPACE"):
        return Path(environ["GITHUB_WORKSPACE"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _repository_path(file: str | None, root: Path | None) -> str | None:
    """`file` (as given, relative to the current folder) relative to `root`, with `/`;
    as given when there is no root or the file is outside it."""
    if file is None or root is None:
        return file
    try:
        return (Path.cwd() / file).resolve().relative_to(root).as_posix()
    except (OSError, ValueError):
        return file


def _github_line(problem: Problem, root: Path | None = None) -> str:
    """A GitHub Actions workflow command that annotates the file and line in a pull request."""
    command = "warning" if problem.severity == "warning" else "error"
    properties = {
        "file": _repository_path(problem.file, root),
        "line": problem.line,
        "col": problem.col,
        "title": "runbook validate",
    }
    props = ",".join(
        f"{name}={github_escape_property(str(value))}"
        for name, value in properties.items()
        if value is not None
    )
    message = problem.message
    if problem.key:
        message = f"{problem.key}: {message}"
    if problem.hint:
        message += f" ({problem.hint})"
    return f"::{command} {props}::{github_escape_data(message)}"


def github_escape_data(text: str) -> str:
    """Escape a workflow command's message, as actions/toolkit's escapeData does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_escape_property(text: str) -> str:
    """Escape a property value: `:` and `,` would end it early (actions/toolkit escapeProperty)."""
    return github_escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_history(
    rows: list[dict[str, Any]], fmt: str, *, color: bool = False, width: int = 100
) -> str:
    """`runbook history`: recorded runs, newest first as given."""
    _check_format(fmt, PAGE_FORMATS)
    if fmt == "json":
        return _json([_times(row) for row in rows])
    from runner.reports.pages import render_history_text

    return render_history_text(rows, color=color, width=width)


def render_recorded_run_json(run: Mapping[str, Any], *, all_items: bool = False) -> str:
    """`runbook history --run ID --format json`: one recorded run with its steps and
    notifications, as the store gives it (docs/output.md)."""
    from runner.reports.items import summarise_dict

    return _json(
        {"format_version": FORMAT_VERSION, **_times(summarise_dict(run, all_items=all_items))}
    )


def _times(document: Mapping[str, Any]) -> dict[str, Any]:
    """A run, history row or step with its timestamps in the output's one format (the
    store keeps microseconds): `started`, `ended`, each attempt's `started`, each
    notification's `at`, in nested steps too. Other values (what a step returned) are
    left as they are, even under a key named `started`."""
    data = dict(document)
    for key in ("started", "ended"):
        if key in data:
            data[key] = timestamp_text(data[key])
    if isinstance(data.get("attempts"), list):
        data["attempts"] = [
            _times(item) if isinstance(item, Mapping) else item for item in data["attempts"]
        ]
    for key in ("steps", "children"):
        if isinstance(data.get(key), list):
            data[key] = [_times(item) if isinstance(item, Mapping) else item for item in data[key]]
    if isinstance(data.get("notifications"), list):
        data["notifications"] = [
            {**item, "at": timestamp_text(item.get("at"))} if isinstance(item, Mapping) else item
            for item in data["notifications"]
        ]
    return data


def render_status(
    rows: list[dict[str, Any]], fmt: str, *, color: bool = False, width: int = 100
) -> str:
    """`runbook status`: each runbook's last run, open alert and lateness, worst first."""
    _check_format(fmt, STATUS_FORMATS)
    if fmt == "json":
        return _json([_times(row) for row in rows])
    if fmt == "nagios":
        from runner.reports.nagios import render_status_nagios

        return render_status_nagios(rows)
    from runner.reports.pages import render_status_text

    return render_status_text(rows, color=color, width=width)


def render_runbook_list(
    runbooks: list[dict[str, Any]], fmt: str, *, color: bool = False, width: int = 100
) -> str:
    """`runbook list`: every runbook found, with its kind, schedule and title."""
    _check_format(fmt, PAGE_FORMATS)
    if fmt == "json":
        return _json(list(runbooks))
    from runner.reports.pages import render_runbook_list_text

    return render_runbook_list_text(runbooks, color=color, width=width)


def render_runbook_detail(
    info: Mapping[str, Any], fmt: str, *, color: bool = False, width: int = 100
) -> str:
    """`runbook show NAME`: description, inputs, steps with thresholds and hints, notify."""
    _check_format(fmt, PAGE_FORMATS)
    if fmt == "json":
        return _json({"format_version": FORMAT_VERSION, **info})
    from runner.reports.pages import render_runbook_detail_text

    return render_runbook_detail_text(info, color=color, width=width)


def _check_format(fmt: str, known: tuple[str, ...]) -> None:
    if fmt not in known:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(known)}")


def _json(data: Any) -> str:
    # default=str: datetimes and Decimals from a database become readable strings.
    return json.dumps(data, default=str, indent=2)
