"""Text pages for `runbook history`, `runbook list` and `runbook show NAME`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.base.durations import format_duration
from runner.base.status import Status
from runner.base.timestamps import timestamp_text
from runner.reports import summary
from runner.reports.text import STATUS_STYLES, finish, make_console, styled


def render_history_text(rows: list[dict[str, Any]], *, color: bool, width: int) -> str:
    from rich import box
    from rich.table import Table

    console, buffer = make_console(color=color, width=width)
    if not rows:
        console.print(styled("No runs recorded."))
        return finish(buffer)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, leading=1)
    # Two lines per run keep seven facts inside 100 columns: when above its run id,
    # how it was triggered above who ran it where. The note takes what is left. With
    # `--value` columns (a trend), who ran it and how long it took give them the room.
    names = list(rows[0].get("values") or {})
    table.add_column("Started / Run", no_wrap=True)
    table.add_column("Runbook", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("Status", no_wrap=True, min_width=8)
    if not names:
        table.add_column("Took", no_wrap=True, justify="right")
        table.add_column("By", no_wrap=True, overflow="ellipsis", max_width=18)
    for name in names:  # the value's name is enough when no other step has it
        short = name.partition(".")[2]
        alone = sum(other.partition(".")[2] == short for other in names) == 1
        header = short if alone else name
        table.add_column(header, justify="right", overflow="fold", min_width=len(header))
    table.add_column("Note", overflow="fold", ratio=1)
    for row in rows:
        status = _status(row.get("status"))
        when = styled(_timestamp(row.get("started")))
        when.append("\n" + str(row.get("run_id") or ""), style="dim")
        cells = [
            when,
            styled(str(row.get("runbook") or "")),
            # A run still going has no status yet; its outcome (running) says so.
            styled(
                str(row.get("status") or row.get("outcome") or ""),
                STATUS_STYLES.get(status, "") if status else "",
            ),
        ]
        if not names:
            who = styled(str(row.get("trigger") or ""))
            who.append("\n" + _user_at_host(row), style="dim")
            took = row.get("duration")
            cells += [styled(summary.seconds(took) if took is not None else ""), who]
        values = row.get("values") or {}
        cells += [styled(_shown(values.get(name))) for name in names]
        table.add_row(*cells, styled(_history_note(row)))
    console.print(table)
    console.print(styled(summary.plural(len(rows), "run")))
    return finish(buffer)


def render_status_text(rows: list[dict[str, Any]], *, color: bool, width: int) -> str:
    if rows and not color:
        plain = _plain_table(
            ["Runbook", "Status", "Last run", "Took", "Schedule", "Alert"],
            [_status_cells(row) for row in rows],
            right=frozenset({3}),
            max_widths={0: 28},
            width=width,
        )
        if plain is not None:
            return "\n".join([plain, *_late_lines(rows), _status_total(rows)])
    from rich import box
    from rich.table import Table

    console, buffer = make_console(color=color, width=width)
    if not rows:
        console.print(styled("No runbooks found."))
        return finish(buffer)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Runbook", no_wrap=True, overflow="ellipsis", max_width=28)
    table.add_column("Status", no_wrap=True)
    table.add_column("Last run", no_wrap=True)
    table.add_column("Took", no_wrap=True, justify="right")
    table.add_column("Schedule", no_wrap=True)
    table.add_column("Alert", overflow="fold", ratio=1)
    for row in rows:
        status = _status(row.get("status"))
        cells = _status_cells(row)
        table.add_row(
            *(
                styled(cell, (STATUS_STYLES.get(status, "dim") if status else "dim"))
                if index == 1
                else styled(cell)
                for index, cell in enumerate(cells)
            )
        )
    console.print(table)
    for line in _late_lines(rows):
        console.print(styled(line, STATUS_STYLES[Status.CRITICAL]), overflow="fold")
    console.print(styled(_status_total(rows)))
    return finish(buffer)


def _status_cells(row: Mapping[str, Any]) -> list[str]:
    # An abandoned run (its process died) says so; its time is when it was last seen.
    abandoned = " abandoned" if row.get("outcome") == "abandoned" else ""
    return [
        str(row.get("runbook") or ""),
        str(row.get("status") or "never run") + abandoned,
        _timestamp(row.get("started")) if row.get("started") else "",
        summary.seconds(row["duration"]) if row.get("duration") is not None else "",
        str(row.get("schedule") or ""),
        str(row.get("alert") or ""),
    ]


def _late_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Under the table, one line per late runbook (schedule/lateness.py) with the slot it
    missed: the table keeps its width, so 1,000 rows stay a plain table."""
    return [
        f"LATE {row['runbook']}: {summary.late_words(row['late'])}"
        for row in rows
        if row.get("late")
    ]


def _status_total(rows: list[dict[str, Any]]) -> str:
    counts = [row.get("status") for row in rows if row.get("status")]
    bad = sum(1 for value in counts if value != "OK")
    late = sum(1 for row in rows if row.get("late"))
    said = f", {late} LATE" if late else ""
    return f"{summary.plural(len(rows), 'runbook')}, {bad} not OK{said}"


def _plain_table(
    headers: list[str],
    rows: list[list[str]],
    *,
    right: frozenset[int] = frozenset(),
    max_widths: Mapping[int, int] | None = None,
    width: int,
) -> str | None:
    """The table rich draws without colour (box SIMPLE_HEAD, no edge), drawn directly:
    rich lays out 1,000 rows in over a second. None when rich has more to do than line
    cells up: a cell that is not plain ASCII on one line, a column over its max width,
    or a table wider than the page (rich then wraps or cuts cells)."""
    cells = [[summary.printable(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            if not cell.isascii() or not cell.isprintable():
                return None
            widths[index] = max(widths[index], len(cell))
    for index, limit in (max_widths or {}).items():
        if widths[index] > limit:
            return None
    total = sum(widths) + 3 * (len(widths) - 1)
    if total > width:
        return None

    def line(values: list[str]) -> str:
        return "   ".join(
            value.rjust(widths[index]) if index in right else value.ljust(widths[index])
            for index, value in enumerate(values)
        ).rstrip()

    return "\n".join([line(headers), "\u2500" * total, *(line(row) for row in cells)])


def _status(value: Any) -> Status | None:
    try:
        return Status(str(value))
    except ValueError:
        return None  # a run still going has no status yet


def _timestamp(value: Any) -> str:
    """The output's one format (base/timestamps.py): `2026-11-24T09:15:00.130Z`."""
    return "" if value is None else str(timestamp_text(value))


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return summary.short(str(value), 40)


def _user_at_host(row: Mapping[str, Any]) -> str:
    user = str(row.get("user") or "")
    return f"{user}@{row['host']}" if user and row.get("host") else user


def _history_note(row: Mapping[str, Any]) -> str:
    parts = []
    if row.get("mode") and row["mode"] != "run":
        parts.append(str(row["mode"]))
    if row.get("outcome") and row["outcome"] != "completed":
        parts.append(str(row["outcome"]))
    note = ", ".join(parts)
    error = " ".join(str(row.get("error") or "").split())
    if error:
        note = f"{note}: {error}" if note else error
    return summary.short(note, 200)


def render_runbook_list_text(runbooks: list[dict[str, Any]], *, color: bool, width: int) -> str:
    cells = [_list_cells(info) for info in runbooks]
    if runbooks and not color:
        plain = _plain_table(
            ["Name", "Kind", "Schedule", "Title", "Tags"], cells, max_widths={4: 18}, width=width
        )
        if plain is not None:
            return plain + "\n" + summary.plural(len(runbooks), "runbook")
    from rich import box
    from rich.table import Table

    console, buffer = make_console(color=color, width=width)
    if not runbooks:
        console.print(styled("No runbooks found."))
        return finish(buffer)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Name", no_wrap=True, style="bold")
    table.add_column("Kind", no_wrap=True)
    table.add_column("Schedule", no_wrap=True)
    # Titles get the room (up to 40 columns); tags wrap first, they are single words.
    longest = max(len(str(info.get("title") or "")) for info in runbooks)
    table.add_column("Title", min_width=min(longest, 40))
    table.add_column("Tags", max_width=18)
    for row in cells:
        table.add_row(*(styled(cell) for cell in row))
    console.print(table)
    console.print(styled(summary.plural(len(runbooks), "runbook")))
    return finish(buffer)


def _list_cells(info: Mapping[str, Any]) -> list[str]:
    return [
        str(info.get("name") or ""),
        str(info.get("kind") or ""),
        str(info.get("schedule") or ""),
        str(info.get("title") or ""),
        ", ".join(str(tag) for tag in info.get("tags") or ()),
    ]


def render_runbook_detail_text(info: Mapping[str, Any], *, color: bool, width: int) -> str:
    """`runbook show NAME`: reads like the prose runbook it replaced."""
    console, buffer = make_console(color=color, width=width)
    head = styled(str(info.get("name") or ""), "bold")
    if info.get("title"):
        head.append(f": {info['title']}")
    console.print(head)
    for line in _facts(info):
        console.print(styled(line, "dim"))
    if info.get("description"):
        console.print()
        # Prose wraps at the console width; hints and SQL elsewhere keep their own lines.
        for paragraph in str(info["description"]).strip().split("\n\n"):
            console.print(styled(" ".join(paragraph.split())), soft_wrap=False)
    inputs = info.get("inputs") or []
    if inputs:
        console.print()
        console.print(styled("Inputs", "bold"))
        console.print(_inputs_table(inputs))
    steps = info.get("steps") or []
    if steps:
        console.print()
        console.print(styled("Steps", "bold"))
        for number, step in enumerate(steps, 1):
            for line_text, style in _step_lines(number, step):
                console.print(styled(line_text, style))
    notify = info.get("notify") or {}
    if notify:
        console.print()
        console.print(styled("Notify", "bold"))
        for key, value in notify.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
            console.print(styled(f"  {key}: {shown}"))
    return finish(buffer)


def _facts(info: Mapping[str, Any]) -> list[str]:
    facts = []
    if info.get("kind"):
        facts.append(f"kind: {info['kind']}")
    if info.get("schedule"):
        zone = f" ({info['timezone']})" if info.get("timezone") else ""
        facts.append(f"schedule: {info['schedule']}{zone}")
    if info.get("connection"):
        facts.append(f"connection: {info['connection']}")
    lines = ["   ".join(facts)] if facts else []
    if info.get("tags"):
        lines.append("tags: " + ", ".join(map(str, info["tags"])))
    timing = []
    if info.get("deadline"):
        timing.append(f"deadline: {format_duration(info['deadline'])}")
    worst = info.get("worst_case")
    if isinstance(worst, Mapping) and worst.get("seconds"):
        timing.append(f"worst case: {worst['text']}")
    if timing:
        lines.append("   ".join(timing))
    scheduling = info.get("scheduling")
    if isinstance(scheduling, Mapping):
        lines.append(_scheduling(scheduling))
    if info.get("path"):
        lines.append(f"file: {info['path']}")
    return lines


def _scheduling(scheduling: Mapping[str, Any]) -> str:
    """`catch-up: latest within 1d   grace: 6m   jitter: 2m` (docs/scheduling.md)."""
    catchup = scheduling.get("catchup")
    parts = [f"catch-up: {catchup}"]
    if catchup != "none" and scheduling.get("catchup_window") is not None:
        parts[0] += f" within {format_duration(scheduling['catchup_window'])}"
    if scheduling.get("grace") is not None:
        parts.append(f"grace: {format_duration(scheduling['grace'])}")
    if scheduling.get("jitter"):
        parts.append(f"jitter: {format_duration(scheduling['jitter'])}")
    return "   ".join(parts)


def _inputs_table(inputs: list[Mapping[str, Any]]) -> Any:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for spec in inputs:
        if spec.get("required"):
            default = "required"
        elif spec.get("default") is None:
            default = "optional"
        else:
            default = f"default {summary.short(spec['default'], 30)}"
        grid.add_row(
            styled(f"  {spec.get('name', '')}"),
            styled(str(spec.get("type") or "string")),
            styled(default),
            styled(str(spec.get("description") or "")),
        )
    return grid


def _step_lines(number: int, step: Mapping[str, Any], indent: str = "  ") -> list[tuple[str, str]]:
    """A step as a numbered paragraph: what it does, its limits, its hint, then nested steps."""
    title = f" - {step['title']}" if step.get("title") else ""
    action = step.get("action") or ""
    if step.get("target"):
        action = f"{action}: {step['target']}" if action else str(step["target"])
    action = f" ({action})" if action else ""
    lines = [(f"{indent}{number}. {step.get('id', '')}{title}{action}", "bold")]
    body = indent + " " * (len(str(number)) + 2)
    for threshold in step.get("thresholds") or []:
        lines.append((f"{body}{threshold_text(threshold)}", ""))
    for index, hint_line in enumerate(str(step.get("hint") or "").strip().splitlines()):
        lead = "hint: " if index == 0 else "      "
        lines.append((f"{body}{lead}{hint_line}", "cyan" if index == 0 else ""))
    for nested_number, nested in enumerate(step.get("steps") or [], 1):
        lines.extend(_step_lines(nested_number, nested, body))
    return lines


def threshold_text(threshold: Mapping[str, Any]) -> str:
    """`pending_count: warning above 10, critical above 50`."""
    side = threshold.get("direction") or "above"
    limits = [
        f"{level} {side} {threshold[level]}"
        for level in ("warning", "critical")
        if threshold.get(level) is not None
    ]
    return f"{threshold.get('name', '')}: {', '.join(limits) or 'no limits'}"
