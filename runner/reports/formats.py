"""The output formats, by name: what `--format` accepts (cheap to import: the command
line's parser reads it for every invocation, `--help` included)."""

from __future__ import annotations

#: The formats of `runbook run --format`: a module and its function, each taking the
#: RunResult (and `color`, `width`, `max_output` where it has a use for them, ignoring
#: the others) and returning the text.
#: A new format is one module under runner/reports/ and one line here.
RUN_RENDERERS = {
    "text": "runner.reports.text:render_run_text",
    "json": "runner.reports.render:render_run_json",
    "nagios": "runner.reports.nagios:render_run_nagios",
}
RUN_FORMATS = tuple(RUN_RENDERERS)
PROBLEM_FORMATS = ("text", "json", "github")
PAGE_FORMATS = ("text", "json")
#: `runbook status`: its pages, and nagios, a meta-check of every runbook and schedule.
STATUS_FORMATS = ("text", "json", "nagios")
