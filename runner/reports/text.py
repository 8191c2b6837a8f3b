"""The text report of a run, for people: a header, a table of steps, notes, a summary line.

`run_report` says what is printed (plain.py's blocks of styled pieces and its table);
rich draws it in colour, plain.py draws the same bytes without colour (a pipe, a
scheduler) and leaves to rich what it cannot draw identically. rich is imported inside
the functions, so importing this module costs nothing until rich draws. Every piece of
text from a runbook or a database goes to rich as a `Text`, never as markup:
`[dbo].[orders]` in SQL must print as written.
"""

from __future__ import annotations

import io
import json
import shlex
from typing import TYPE_CHECKING, Any

from runner.base.status import Status
from runner.language.results import RunResult, StepResult
from runner.reports import items, plain, summary
from runner.reports.plain import Block

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

STATUS_STYLES = {
    Status.OK: "green",
    Status.WARNING: "yellow",
    Status.CRITICAL: "bold red",
    Status.UNKNOWN: "magenta",
    Status.SKIPPED: "dim",
}
_INDENT = "  "


def make_console(*, color: bool, width: int) -> tuple[Console, io.StringIO]:
    """A console that draws into a string, deaf to the environment.

    `_environ={}` keeps FORCE_COLOR, NO_COLOR, COLUMNS and TTY_COMPATIBLE of the calling
    shell out of the result: the CLI decides about colour and passes it in.
    """
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        markup=False,
        highlight=False,
        emoji=False,
        # Lines outside tables (headers, SQL, hints, the summary) are never re-wrapped:
        # SQL must stay copyable and the summary line greppable; terminals wrap them anyway.
        soft_wrap=True,
        _environ={},
    )
    return console, buffer


def finish(buffer: io.StringIO) -> str:
    """The drawn text without trailing blanks, which rich leaves after padded cells."""
    return plain.tidy(buffer.getvalue())


def styled(value: str, style: str = "") -> Text:
    """Text for the terminal: stored text arrives here, so its control sequences go."""
    from rich.text import Text

    return Text(summary.printable(value), style=style)


def _block(value: str, style: str = "") -> Block:
    """A piece of styled text to print, without control sequences (see `styled`)."""
    return [(summary.printable(value), style)]


def _status_block(status: Status) -> Block:
    return _block(status.value, STATUS_STYLES.get(status, ""))


def render_run_text(
    run: RunResult, *, color: bool, width: int, all_items: bool = False, **_: Any
) -> str:
    printed = run_report(run, all_items)
    if not color:  # a pipe or a scheduler: the same bytes without rich, when it can
        drawn = plain.draw(printed, width)
        if drawn is not None:
            return drawn
    return draw_with_rich(printed, color=color, width=width)


def draw_with_rich(printed: list[Block | plain.Table], *, color: bool, width: int) -> str:
    """What `run_report` describes, drawn by rich: in colour, or what plain.py cannot draw."""
    from rich import box
    from rich.table import Table

    console, buffer = make_console(color=color, width=width)
    for item in printed:
        if isinstance(item, plain.Table):
            table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
            for column in item.columns:
                table.add_column(
                    column.header,
                    no_wrap=column.no_wrap,
                    overflow=column.overflow,
                    max_width=column.max_width,
                    justify=column.justify,
                )
            for row in item.rows:
                table.add_row(*(rich_text(cell) for cell in row))
            console.print(table)
        else:
            console.print(rich_text(item))
    return finish(buffer)


def rich_text(block: Block) -> Text:
    """A block as rich's Text: one piece is a Text of its style (a cell's padding takes
    it too); more pieces are spans of a Text without style."""
    from rich.text import Text

    if len(block) == 1:
        return Text(block[0][0], style=block[0][1])
    text = Text()
    for piece, style in block:
        text.append(piece, style=style or None)
    return text


def run_report(run: RunResult, all_items: bool) -> list[Block | plain.Table]:
    """What the text report prints, in order: a header, the steps table, notes, the summary."""
    printed: list[Block | plain.Table] = [_header(run)]
    if run.inputs:
        pairs = ", ".join(f"{key}={summary.short(value, 40)}" for key, value in run.inputs.items())
        printed.append(_block(f"inputs: {pairs}", "dim"))
    if run.steps:
        printed.append(_steps_table(run, all_items))
    sections = [_notes(run, all_items)]
    if run.mode in ("dry-run", "rehearse"):
        sections.append(_rendered_blocks(run))
    for blocks in sections:
        if blocks:
            printed.append([])
        printed.extend(blocks)
    if run.notifications:
        printed.append([])
        printed.append(_block("Notifications:", "bold"))
        for item in run.notifications:
            style = "" if item.get("ok") else STATUS_STYLES[Status.CRITICAL]
            printed.append(_block(_INDENT + delivery_line(item), style))
    error_lines = (run.error or "").strip().splitlines()
    if len(error_lines) > 1 or (error_lines and run.outcome == "completed"):
        # The summary line carries only the first line of an error; show all of it here.
        printed.append(_block("error:", "bold"))
        for line in error_lines:
            printed.append(_block(_INDENT + line))
    printed.append([])
    printed.append(_block(summary.run_summary(run), STATUS_STYLES.get(run.status, "")))
    return printed


def _header(run: RunResult) -> Block:
    header = _block(run.runbook, "bold")
    if run.title:
        header += _block(f": {run.title}")
    banner = summary.mode_phrase(run.mode)
    if banner:
        header += [("  ", ""), (f"[{banner}]", "bold reverse yellow")]
    else:
        header += _block(f"  [{run.trigger} {run.mode}]", "dim")
    return header


#: The steps table. Step, Status and Time never wrap: a status split over two lines is
#: unreadable. Result takes the remaining width and folds very long words (URLs).
STEP_COLUMNS = (
    plain.Column("Step", no_wrap=True, overflow="ellipsis", max_width=28),
    plain.Column("Status", no_wrap=True),
    plain.Column("Result", overflow="fold"),
    plain.Column("Time", no_wrap=True, justify="right"),
)


def _steps_table(run: RunResult, all_items: bool) -> plain.Table:
    table = plain.Table(STEP_COLUMNS)
    for depth, step in items.walk(run.steps, all_items=all_items):
        if isinstance(step, str):  # what a long for_each did not list: "and 9,812 more OK"
            table.add_row(_block(_INDENT * depth + "..."), [], _block(step, "dim"), [])
            continue
        table.add_row(
            _block(_INDENT * depth + summary.step_label(step)),
            _status_block(step.status),
            _result_cell(step, run.mode),
            _block(_time_cell(step, run.mode)),
        )
    return table


def _result_cell(step: StepResult, mode: str) -> Block:
    shows_rendering = step.rendered is not None and mode in ("dry-run", "rehearse")
    lines: list[Block] = []
    if step.outcome in ("skipped", "not_run"):
        if shows_rendering:
            lines.append(_block(summary.rendered_summary(step, mode)))
        else:
            word = summary.OUTCOME_WORDS[step.outcome]
            lines.append(_block(f"{word}: {step.error}" if step.error else word, "dim"))
        return _join(lines)
    if step.items_summary is not None and step.error:  # counts first: "100 items: 9 ok, ..."
        lines.append(_block(summary.children_summary(step)))
    for evaluation in step.evaluations:
        style = STATUS_STYLES[evaluation.status] if evaluation.status.is_bad else ""
        lines.append(_block(evaluation.text, style))
    bad_style = STATUS_STYLES.get(step.status, "")
    if step.error:
        text = step.error if step.outcome == "ok" else summary.outcome_sentence(step)
        lines.append(_block(text, bad_style))
    elif step.outcome != "ok" and not step.children:
        lines.append(_block(summary.outcome_sentence(step), bad_style))
    if not lines:
        if shows_rendering and mode == "rehearse":
            text = summary.rendered_summary(step, mode)
        elif step.children:
            text = summary.children_summary(step)
        else:
            text = summary.value_summary(step)
        if not text and step.rendered is not None:
            text = summary.rendered_summary(step, mode)
        lines.append(_block(text))
    return _join(lines)


def _time_cell(step: StepResult, mode: str) -> str:
    if step.outcome in ("skipped", "not_run") or mode == "dry-run":
        return ""
    took = summary.seconds(step.duration)
    tries = len(step.attempts)
    # Attempts go on their own line so the column stays narrow and Result keeps the width.
    return f"{took}\n{tries} attempts" if tries > 1 else took


def _path_label(path: list[StepResult]) -> str:
    return " > ".join(summary.step_label(step) for step in path)


def _bad_paths(
    steps: list[StepResult], prefix: list[StepResult], all_items: bool
) -> list[list[StepResult]]:
    """Paths to every bad step listed, nested ones included, parents first."""
    found: list[list[StepResult]] = []
    for step in steps:
        path = [*prefix, step]
        if step.bad:
            found.append(path)
        found.extend(_bad_paths(items.listed(step, all_items=all_items), path, all_items))
    return found


def _notes(run: RunResult, all_items: bool) -> list[Block]:
    """Under the table: what went wrong in words, and the hint a person should follow.

    A step whose children went wrong leaves the telling to them, and a hint a group
    borrowed from its failing child is shown once, not at every level.
    """
    blocks: list[Block] = []
    shown_hints: set[str] = set()
    for path in _bad_paths(run.steps, [], all_items):
        step = path[-1]
        lines: list[Block] = []
        failed = step.outcome in ("failed", "timed_out", "aborted")
        if failed and (step.error or not any(child.bad for child in step.children)):
            lines.append(_block(_INDENT + summary.outcome_sentence(step)))
        elif step.error:  # a group's own account: "1 of 2 items failed"
            lines.append(_block(_INDENT + step.error))
        hint = (step.hint or "").strip()
        if hint and hint not in shown_hints:
            shown_hints.add(hint)
            for index, hint_line in enumerate(hint.splitlines()):
                lead = "hint: " if index == 0 else "      "
                lines.append(_block(_INDENT + lead + hint_line, "cyan" if index == 0 else ""))
        # A template's error already starts with where the step is defined: say it once.
        if step.origin and lines and step.origin not in (step.error or ""):
            lines.append(_block(f"{_INDENT}defined at {step.origin}", "dim"))
        if lines:
            title = f" ({step.title})" if step.title and step.item is None else ""
            status_style = f"bold {STATUS_STYLES.get(step.status, '')}".rstrip()
            head = _block(f"{_path_label(path)}{title}: ", "bold")
            head += _block(step.status.value, status_style)  # the whole head is bold
            blocks.append(_join([head, *lines]))
    return blocks


def _rendered_blocks(run: RunResult) -> list[Block]:
    """What each step would send: SQL with its bound values, or the HTTP request."""
    title = "Would run:" if run.mode == "dry-run" else "Rehearsed (rolled back):"
    blocks: list[Block] = []
    for depth, step in summary.walk(run.steps):
        if step.rendered is None:
            continue
        indent = _INDENT * (depth + 1)
        head = _block(_INDENT * depth + summary.step_label(step), "bold")
        body = [_block(indent + line) for line in describe_rendered(step.rendered)]
        blocks.append(_join([head, *body]))
    return [_block(title, "bold"), *blocks] if blocks else []


def describe_rendered(rendered: dict[str, Any]) -> list[str]:
    """Lines that show a rendered request exactly enough to run it by hand."""
    rest = dict(rendered)
    lines: list[str] = []
    if "sql" in rest:
        connection = rest.pop("connection", None)
        source = rest.pop("file", None)
        if connection or source:
            where = f" on connection {connection}" if connection else ""
            lines.append(f"SQL{where}" + (f" from {source}:" if source else ":"))
        lines.extend(str(rest.pop("sql")).strip().splitlines())
        lines.append(f"params: {_as_json(rest.pop('params', []))}")
        if "rowcount" in rest:
            lines.append(f"rows touched: {rest.pop('rowcount')}")
    elif "url" in rest:
        lines.append(f"{str(rest.pop('method', 'GET')).upper()} {rest.pop('url')}")
        for name, value in (rest.pop("headers", None) or {}).items():
            lines.append(f"{name}: {value}")
        for body_key in ("json", "body", "data"):
            if rest.get(body_key) is not None:
                body = rest.pop(body_key)
                text = body if isinstance(body, str) else json.dumps(body, indent=2, default=str)
                lines.extend(text.splitlines())
    elif "argv" in rest:
        lines.append("$ " + shlex.join(str(arg) for arg in rest.pop("argv")))
    elif "shell" in rest:
        lines.append("shell script:")
        lines.extend(str(rest.pop("shell")).strip().splitlines())
    for key, value in rest.items():
        if value is not None:
            lines.append(f"{key}: {value if isinstance(value, str) else _as_json(value)}")
    return lines


def _as_json(value: Any) -> str:
    # JSON shows strings quoted and None as null: `params: ["pending", 60]` is unambiguous.
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _join(lines: list[Block]) -> Block:
    """Lines as one block, drawn as rich's `Text("\\n").join` draws them: each line's
    style a span (the empty piece keeps a single line from being a Text of its style)."""
    joined: Block = []
    for line in lines:
        joined.extend(line)
        joined.append(("\n", ""))
    if joined:
        joined[-1] = ("", "")
    return joined


def delivery_line(item: dict[str, Any]) -> str:
    """`sent    new CRITICAL to ops, oncall: json://host/hook` or `FAILED ...: why (2 attempts)`."""
    what = " ".join(
        str(part) for part in (item.get("kind"), item.get("status")) if part and part != "OK"
    )
    if item.get("subject"):
        what += f" ({item['subject']})"
    tags = ", ".join(item.get("tags") or [])
    line = f"{'sent' if item.get('ok') else 'FAILED':<7} {what or 'message'}"
    line += f" to {tags}" if tags else ""
    line += f": {item['url']}" if item.get("url") else ""
    if not item.get("ok"):
        tries = item.get("attempts") or 0
        line += f": {item.get('error') or 'not delivered'}"
        line += f" ({plural_attempts(tries)})" if tries > 1 else ""
    return line


def plural_attempts(count: int) -> str:
    return summary.plural(count, "attempt")
