"""The `files` step: list, delete or archive the files of a folder that match a glob and
are older than a duration ("delete logs older than 30 days"), on Windows as on Linux.

    - id: old-logs
      files: {path: D:/logs/app, glob: "*.log", older_than: 30d, action: delete}

- `path` is the folder (a template; relative paths start at runner.yaml's folder);
  `glob` picks files in it (`*.log`; `**/*.log` includes subfolders; default `*`), and
  `older_than` keeps those last modified longer ago than that (default: any age; a
  template of a duration, such as "{{ inputs.keep_days }}d", is rendered as it runs).
- `action: list` (default) only reports them; `delete` deletes them; `archive` moves them
  into the folder `to` (created when missing), keeping their subfolders, and never
  overwrites a file already there. A folder is chosen over a zip file on purpose: a move
  is all or nothing per file, needs no room for a copy, and is undone by moving back.
- `keep_newest: N` (with `delete` or `archive`; a whole number, or a template of one such
  as "{{ inputs.keep }}") never acts on the N newest (by modification time; on equal
  times the name that sorts last is the newer) of ALL the files the glob matches,
  whatever their age: "delete backups older than 7 days, but never the newest 7", so
  that a nightly backup that stopped a week ago does not take the last good ones along.
- Only regular files are matched: never folders, never symbolic links.
- `--dry-run` describes the step and, for `delete` and `archive`, lists the files the
  action would apply to (the folder is read, never changed); `--rehearse` finds the files
  and reports what the action would do to them, changing nothing.

Result: `folder` (the folder looked in, absolute: relative paths start at runner.yaml's
folder), `count` and `bytes` of the files the action applied to (found, deleted or
archived), `files` (their names relative to the folder, with `/`, at most 100),
`newest_minutes` (the age of the most recently modified of them; null when none), and
`failed` and `errors` for files it could not delete or move (in use on Windows, no
permission): the others are still done, and the step is CRITICAL unless asserts judge.
With `keep_newest`, `kept` counts the files the action would have applied to (they
matched, and were old enough) but that were spared as among the newest N: more than 0
says that fewer than N newer files exist ("the backups stopped").

Reading the newest file ("Get-Content -Tail 50" of the newest log), with action: list:

    - id: newest-log
      files: {path: logs, glob: "woo_order_processing_*.log", tail: 50, match: "ERROR"}

- `tail: N` reads the newest matching file (by modification time) and adds `newest` (its
  name), `newest_age_minutes` and `lines`: its last N lines (each cut at 1,000
  characters), or with `match` (a regular expression, searched in each line) its last N
  lines that match, and `matched`, how many of its lines match.

The configuration and the work on the folder (finding, reading, deleting, moving) are in
runner/steps/fileplan.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.base.durations import parse_duration
from runner.base.errors import StepError
from runner.base.status import Status
from runner.base.wording import plural
from runner.language.schema_gen import MEANING
from runner.language.steptypes import BuildScope, StepChecks
from runner.language.templates import is_template
from runner.steps.base import StepType
from runner.steps.fileplan import (
    ACTIONS,
    DONE,
    KEEPS,
    MAX_NAMES,
    MAX_TAIL,
    NOT_A_COUNT,
    FilesConfig,
    Plan,
    bad_pattern,
    escapes,
    keep_count,
    shown,
    size_text,
)

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

__all__ = ["ACTIONS", "MAX_NAMES", "FilesConfig", "FilesStep"]


class FilesStep(StepType):
    name = "files"
    schema = {"files": {"$ref": "#/$defs/files"}}
    definitions = {
        "files": {
            "title": "Files",
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "description": "Files of a folder that match a glob and are older than a "
            "duration: list them, delete them, or move them into an archive folder (but never "
            "the newest N with keep_newest). Result: count, bytes, files, newest_minutes, "
            "kept.",
            "properties": {
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The folder (a template), such as D:/logs/app or "
                    "/var/log/app; a relative path starts at runner.yaml's folder.",
                },
                "glob": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Which files, such as *.log; **/*.log includes "
                    "subfolders. Default: * (every file of the folder itself).",
                },
                "older_than": {
                    MEANING: "older_than: takes a duration such as 30d, or a template of one",
                    "anyOf": [
                        {"$ref": "#/$defs/duration"},
                        {"type": "string", "pattern": "\\{\\{"},
                    ],
                    "description": "Only files last modified longer ago than this, such as "
                    '30d, or a template of a duration ("{{ inputs.keep_days }}d"). '
                    "Default: any age.",
                },
                "keep_newest": {
                    MEANING: "keep_newest: takes a whole number, 0 or more, or a template of one",
                    "anyOf": [
                        {"type": "integer", "minimum": 0},
                        {"type": "string", "pattern": "\\{\\{"},
                    ],
                    "description": "With action: delete or archive, never the newest N of all "
                    "the files the glob matches, whatever their age (keep the newest 7 "
                    'backups), such as 7 or "{{ inputs.keep }}"; the result\'s `kept` counts '
                    "the files it spared. Default: none.",
                },
                "action": {
                    "enum": list(ACTIONS),
                    "description": "list (default: only report them), delete, or archive "
                    "(move them into `to`, keeping their subfolders).",
                },
                "to": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The archive folder (a template) for action: archive; "
                    "created when missing. A file already there is never overwritten.",
                },
                "tail": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_TAIL,
                    "description": "With action: list, read the newest matching file and "
                    "give its last N lines as `lines` (with `match`: its last N matching "
                    "lines), its name as `newest` and its age as `newest_age_minutes`.",
                },
                "match": {
                    "type": "string",
                    "minLength": 1,
                    "description": "With tail: a regular expression (Python syntax, searched "
                    "in each line) that the lines kept must match, such as "
                    "'ERROR|Connection failed'; `matched` counts the file's matching lines.",
                },
            },
        }
    }

    # -- loading ------------------------------------------------------------------------

    def build(self, node: Node, scope: BuildScope) -> FilesConfig:
        files = node.child("files")
        glob, to = files.at("glob"), files.at("to")
        raw_age, age_node = files.get("older_than"), files.at("older_than")
        older_than, older_than_text = None, None
        if isinstance(raw_age, str) and is_template(raw_age):
            older_than_text = raw_age  # rendered when the step runs
        elif age_node is not None:
            try:
                older_than = parse_duration(raw_age)
            except ValueError:  # check() says what is wrong with it
                older_than_text = str(raw_age)
        raw_keep, keep_node = files.get("keep_newest"), files.at("keep_newest")
        keep_newest, keep_text, keep_bad = None, None, None
        if isinstance(raw_keep, str) and is_template(raw_keep):
            keep_text = raw_keep  # rendered when the step runs
        elif keep_node is not None:
            keep_newest = raw_keep if isinstance(raw_keep, int) else None
            if keep_count(keep_newest) is None:  # check() says what is wrong with it
                keep_newest, keep_bad = None, shown(raw_keep)
        action = files.get("action")
        tail, tail_node, match = files.get("tail"), files.at("tail"), files.at("match")
        return FilesConfig(
            files.text("path"),
            files.origin,
            glob=files.text("glob") or "*",
            older_than=older_than,
            action=action if action in ACTIONS else "list",
            to=files.text("to"),
            glob_origin=glob.origin if glob is not None else None,
            to_origin=to.origin if to is not None else None,
            tail=tail if isinstance(tail, int) and not isinstance(tail, bool) else None,
            match=files.text("match"),
            tail_origin=tail_node.origin if tail_node is not None else None,
            match_origin=match.origin if match is not None else None,
            older_than_text=older_than_text,
            older_than_origin=age_node.origin if age_node is not None else None,
            keep_newest=keep_newest,
            keep_newest_text=keep_text,
            keep_newest_origin=keep_node.origin if keep_node is not None else None,
            keep_newest_bad=keep_bad,
        )

    def check(self, config: FilesConfig, checks: StepChecks) -> None:
        age = config.older_than_text
        if age is not None and not is_template(age) and config.older_than_origin:
            try:
                parse_duration(age)
            except ValueError:  # as the schema words a duration it refuses
                checks.add(
                    config.older_than_origin,
                    f"{age!r} is not a duration: write 30s, 5m, 1h30m or 2d",
                )
        keep_origin = config.keep_newest_origin
        if config.keep_newest_bad is not None and keep_origin:
            checks.add(keep_origin, f"{config.keep_newest_bad} {NOT_A_COUNT}")
        elif keep_origin and config.action not in KEEPS:
            checks.add(
                keep_origin,
                f"`keep_newest:` spares files from action: delete or archive, and action: "
                f"{config.action} changes none",
                "give the step action: delete or archive; --dry-run or --rehearse shows what "
                "it would keep",
            )
        if config.action == "archive" and config.to is None:
            checks.add(
                config.origin,
                "action: archive needs `to:`, the folder the files are moved into",
                "such as to: D:/logs/archive",
            )
        if config.to is not None and config.action != "archive" and config.to_origin:
            checks.add(config.to_origin, "`to:` is only used with action: archive")
        if config.tail is not None and config.action != "list" and config.tail_origin:
            checks.add(
                config.tail_origin,
                f"`tail:` reads the newest file, which action: {config.action} does not keep",
                "read the logs in a step of its own with action: list",
            )
        if config.match is not None and config.match_origin:
            if config.tail is None:
                checks.add(
                    config.match_origin,
                    "`match:` picks lines of the newest file, and needs `tail:`",
                    "such as tail: 50",
                )
            elif not is_template(config.match):
                problem = bad_pattern(config.match)
                if problem:
                    checks.add(
                        config.match_origin,
                        f"match: {config.match!r} is not a regular expression: {problem}",
                    )
        if config.glob_origin and not is_template(config.glob) and escapes(config.glob):
            checks.add(
                config.glob_origin,
                f"the glob {config.glob!r} reaches outside the folder",
                "write a pattern inside it, such as *.log or **/*.log, and the folder as path:",
            )

    # -- running ------------------------------------------------------------------------

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        plan = Plan.of(step.config, ctx)
        if ctx.mode == "dry-run":
            return {"skipped": True, "reason": "dry-run: files are not looked at"}
        deadline = time.monotonic() + ctx.timeout
        found, kept = plan.find(time.time(), deadline)
        if plan.action == "list" or ctx.mode == "rehearse":
            values = plan.result(found, [], rehearsed=ctx.mode == "rehearse", kept=kept)
            if plan.config.tail is not None and plan.action == "list":
                values.update(plan.read_newest(found, time.time(), deadline))
            return values
        spared = f", keeping {plural(kept, 'newest file')}" if kept else ""
        ctx.log(f"{plan.action} {plural(len(found), 'file')} in {plan.folder}{spared}")
        done, errors = plan.apply(found, deadline)
        return plan.result(done, errors, kept=kept)

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        plan = Plan.of(step.config, ctx)
        described = plan.describe()
        if plan.action in ("delete", "archive"):
            # "Which logs would go?" is the question a --dry-run of a clean-up asks: the
            # folder is read (never changed) for the files the action would apply to.
            try:
                found, kept = plan.find(time.time(), time.monotonic() + ctx.timeout)
            except StepError as error:
                described["note"] = str(error)
            else:
                would = plan.result(found, [], kept=kept)
                keys = ("count", "bytes", "files", "kept")
                described.update({key: would[key] for key in keys if key in would})
        return described

    def verdict(self, step: Step, values: Mapping[str, Any]) -> tuple[Status, str] | None:
        failed = values.get("failed") or 0
        if not failed or step.asserts:
            return None
        total = failed + (values.get("count") or 0)
        verb = "deleted" if values.get("action") == "delete" else "moved"
        first = (values.get("errors") or ["?"])[0]
        return Status.CRITICAL, f"{failed} of {total} files could not be {verb}: {first}"

    def summary(self, values: Mapping[str, Any]) -> str | None:
        if "count" not in values or values.get("action") not in DONE:
            return None
        count, action = values["count"], values["action"]
        files = f"{plural(count, 'file')} ({size_text(values.get('bytes') or 0)})"
        if action == "list":
            listed = files if count else "no files"
            if values.get("newest"):
                kept = len(values.get("lines") or [])
                if "matched" in values:
                    read = f"{plural(values['matched'], 'matching line')} (last {kept} kept)"
                else:
                    read = f"last {plural(kept, 'line')}"
                listed += f"; newest {values['newest']}: {read}"
            return listed
        spared_count = values.get("kept")
        spared = f"; {plural(spared_count, 'file')} kept as the newest" if spared_count else ""
        if values.get("rehearsed"):
            return (f"would {action} {files}" if count else f"nothing to {action}") + spared
        return (f"{DONE[action]} {files}" if count else f"nothing to {action}") + spared

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        if "glob" not in rendered or "folder" not in rendered:
            return None
        older = f" older than {rendered['older_than']}" if rendered.get("older_than") else ""
        what = f"{rendered['glob']}{older} in {rendered['folder']}"
        if rendered.get("keep_newest"):
            what += f", but the newest {rendered['keep_newest']}"
        if "count" in rendered:  # a delete or archive, with the files it would apply to
            count = rendered["count"]
            files = f"{plural(count, 'file')} ({size_text(rendered.get('bytes') or 0)})"
            return f"would {rendered['action']} {files}: {what}" if count else f"no {what}"
        return f"would {rendered['action']} {what}"
