"""The `files` step: list, delete or archive the files of a folder that match a glob and
are older than a duration ("delete logs older than 30 days"), on Windows as on Linux.

    - id: old-logs
      files: {path: D:/logs/app, glob: "*.log", older_than: 30d, action: delete}

- `path` is the folder (a template; relative paths start at runner.yaml's folder);
  `glob` picks files in it (`*.log`; `**/*.log` includes subfolders; default `*`), and
  `older_than` keeps those last modified longer ago than that (default: any age).
- `action: list` (default) only reports them; `delete` deletes them; `archive` moves them
  into the folder `to` (created when missing), keeping their subfolders, and never
  overwrites a file already there. A folder is chosen over a zip file on purpose: a move
  is all or nothing per file, needs no room for a copy, and is undone by moving back.
- Only regular files are matched: never folders, never symbolic links.
- `--dry-run` describes the step and, for `delete` and `archive`, lists the files the
  action would apply to (the folder is read, never changed); `--rehearse` finds the files
  and reports what the action would do to them, changing nothing.

Result: `count` and `bytes` of the files the action applied to (found, deleted or
archived), `files` (their names relative to the folder, with `/`, at most 100),
`newest_minutes` (the age of the most recently modified of them; null when none), and
`failed` and `errors` for files it could not delete or move (in use on Windows, no
permission): the others are still done, and the step is CRITICAL unless asserts judge.

Reading the newest file ("Get-Content -Tail 50" of the newest log), with action: list:

    - id: newest-log
      files: {path: logs, glob: "woo_order_processing_*.log", tail: 50, match: "ERROR"}

- `tail: N` reads the newest matching file (by modification time) and adds `newest` (its
  name), `newest_age_minutes` and `lines`: its last N lines (each cut at 1,000
  characters), or with `match` (a regular expression, searched in each line) its last N
  lines that match, and `matched`, how many of its lines match.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from runner.base.durations import format_duration, parse_duration
from runner.base.errors import StepError, StepTimeout
from runner.base.status import Status
from runner.base.wording import plural
from runner.language.model import Origin
from runner.language.steptypes import BuildScope, StepChecks, StepConfig
from runner.language.templates import is_template
from runner.steps.base import StepType

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

ACTIONS = ("list", "delete", "archive")
#: Names listed in the result; `count` still counts every file.
MAX_NAMES = 100
MAX_ERRORS = 20
#: The most lines `tail:` may ask for, and the longest line it keeps (characters).
MAX_TAIL = 1000
MAX_LINE = 1000
_DONE = {"list": "found", "delete": "deleted", "archive": "archived"}


class FilesConfig(StepConfig, frozen=True):
    """Which files, and what to do with them, as written (templates unrendered)."""

    path: str | None  # None when the document gives no text
    origin: Origin  # of the `files:` mapping
    glob: str = "*"
    older_than: float | None = None  # seconds; None: any age
    action: str = "list"
    to: str | None = None  # the archive folder
    glob_origin: Origin | None = None
    to_origin: Origin | None = None
    tail: int | None = None  # read the newest file's last lines
    match: str | None = None  # a regular expression the lines kept must match
    tail_origin: Origin | None = None
    match_origin: Origin | None = None


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
            "duration: list them, delete them, or move them into an archive folder. Result: "
            "count, bytes, files, newest_minutes.",
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
                    "$ref": "#/$defs/duration",
                    "description": "Only files last modified longer ago than this, such as "
                    "30d. Default: any age.",
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
        try:
            older_than = parse_duration(files.get("older_than")) if "older_than" in files else None
        except ValueError:  # the schema says what is wrong with it
            older_than = None
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
        )

    def check(self, config: FilesConfig, checks: StepChecks) -> None:
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
                problem = _bad_pattern(config.match)
                if problem:
                    checks.add(
                        config.match_origin,
                        f"match: {config.match!r} is not a regular expression: {problem}",
                    )
        if config.glob_origin and not is_template(config.glob) and _escapes(config.glob):
            checks.add(
                config.glob_origin,
                f"the glob {config.glob!r} reaches outside the folder",
                "write a pattern inside it, such as *.log or **/*.log, and the folder as path:",
            )

    # -- running ------------------------------------------------------------------------

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        plan = _Plan.of(step.config, ctx)
        if ctx.mode == "dry-run":
            return {"skipped": True, "reason": "dry-run: files are not looked at"}
        deadline = time.monotonic() + ctx.timeout
        found = plan.find(time.time(), deadline)
        if plan.action == "list" or ctx.mode == "rehearse":
            values = plan.result(found, [], rehearsed=ctx.mode == "rehearse")
            if plan.config.tail is not None and plan.action == "list":
                values.update(plan.read_newest(found, time.time(), deadline))
            return values
        ctx.log(f"{plan.action} {plural(len(found), 'file')} in {plan.folder}")
        done, errors = plan.apply(found, deadline)
        return plan.result(done, errors)

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        plan = _Plan.of(step.config, ctx)
        described = plan.describe()
        if plan.action in ("delete", "archive"):
            # "Which logs would go?" is the question a --dry-run of a clean-up asks: the
            # folder is read (never changed) for the files the action would apply to.
            try:
                found = plan.find(time.time(), time.monotonic() + ctx.timeout)
            except StepError as error:
                described["note"] = str(error)
            else:
                would = plan.result(found, [])
                described.update({key: would[key] for key in ("count", "bytes", "files")})
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
        if "count" not in values or values.get("action") not in _DONE:
            return None
        count, action = values["count"], values["action"]
        files = f"{plural(count, 'file')} ({_size(values.get('bytes') or 0)})"
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
        if values.get("rehearsed"):
            return f"would {action} {files}" if count else f"nothing to {action}"
        return f"{_DONE[action]} {files}" if count else f"nothing to {action}"

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        if "glob" not in rendered or "folder" not in rendered:
            return None
        older = f" older than {rendered['older_than']}" if rendered.get("older_than") else ""
        what = f"{rendered['glob']}{older} in {rendered['folder']}"
        if "count" in rendered:  # a delete or archive, with the files it would apply to
            count = rendered["count"]
            files = f"{plural(count, 'file')} ({_size(rendered.get('bytes') or 0)})"
            return f"would {rendered['action']} {files}: {what}" if count else f"no {what}"
        return f"would {rendered['action']} {what}"


class _Found(Struct, frozen=True):
    path: Path
    name: str  # relative to the folder, with `/`
    size: int
    mtime: float = 0.0


class _Plan:
    """A FilesConfig rendered: the folder, the glob, the cut-off and the action."""

    def __init__(
        self,
        config: FilesConfig,
        folder: Path,
        glob: str,
        to: Path | None,
        match: re.Pattern[str] | None = None,
    ) -> None:
        self.config = config
        self.action = config.action
        self.folder = folder
        self.glob = glob
        self.to = to
        self.match = match

    @classmethod
    def of(cls, config: FilesConfig, ctx: StepContext) -> _Plan:
        if config.path is None:
            raise StepError("files needs a path, the folder to look in, such as path: D:/logs")
        folder = _resolved(str(ctx.render(config.path)), ctx.root)
        # A glob written on Windows (logs\*.log) means the same on Linux.
        glob = str(ctx.render(config.glob)).replace("\\", "/")
        if _escapes(glob):
            raise StepError(f"the glob {glob!r} reaches outside the folder {folder}")
        to = None
        if config.action == "archive":
            if config.to is None:
                raise StepError("action: archive needs `to:`, the folder the files are moved into")
            to = _resolved(str(ctx.render(config.to)), ctx.root)
        match = None
        if config.match is not None:
            pattern = str(ctx.render(config.match))
            problem = _bad_pattern(pattern)
            if problem:
                raise StepError(f"match: {pattern!r} is not a regular expression: {problem}")
            match = re.compile(pattern)
        return cls(config, folder, glob, to, match)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "folder": str(self.folder), "glob": self.glob}
        if self.config.older_than is not None:
            out["older_than"] = format_duration(self.config.older_than)
        if self.to is not None:
            out["to"] = str(self.to)
        if self.config.tail is not None:
            out["tail"] = self.config.tail
        if self.match is not None:
            out["match"] = self.match.pattern
        return out

    def read_newest(self, found: list[_Found], now: float, deadline: float) -> dict[str, Any]:
        """`newest`, `newest_age_minutes`, `lines` (and `matched`) of the newest file."""
        assert self.config.tail is not None
        out: dict[str, Any] = {"newest": None, "newest_age_minutes": None, "lines": []}
        if self.match is not None:
            out["matched"] = 0
        dated = []
        for item in found:
            try:
                dated.append((item.path.stat().st_mtime, item.name, item))
            except OSError:
                continue  # gone meanwhile
        if not dated:
            return out
        modified, _, newest = max(dated)
        kept: deque[str] = deque(maxlen=self.config.tail)
        matched = 0
        try:
            with open(newest.path, encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle):
                    if number % 10_000 == 0 and time.monotonic() > deadline:
                        raise StepTimeout(f"reading {newest.name} took too long")
                    if self.match is not None and not self.match.search(line):
                        continue
                    matched += 1
                    kept.append(line.rstrip("\r\n")[:MAX_LINE])
        except OSError as error:
            raise StepError(f"cannot read {newest.path}: {error.strerror or error}") from None
        out.update(
            newest=newest.name,
            newest_age_minutes=max(0, int((now - modified) // 60)),
            lines=list(kept),
        )
        if self.match is not None:
            out["matched"] = matched
        return out

    def find(self, now: float, deadline: float) -> list[_Found]:
        """The regular files that match, oldest cut-off applied, sorted by name."""
        if not self.folder.is_dir():
            raise StepError(f"the folder {self.folder} does not exist (or is not a folder)")
        cutoff = None if self.config.older_than is None else now - self.config.older_than
        found = []
        try:
            matches = self.folder.glob(self.glob)
        except ValueError as error:  # an empty pattern, and the like
            raise StepError(f"the glob {self.glob!r} cannot be used: {error}") from None
        for path in matches:
            if time.monotonic() > deadline:
                raise StepTimeout(f"looking for {self.glob} in {self.folder} took too long")
            if self.to is not None and _inside(path, self.to):
                continue  # already archived
            try:
                stat = path.lstat()
            except OSError:
                continue  # gone meanwhile
            if not _regular(stat.st_mode):
                continue
            if cutoff is not None and stat.st_mtime > cutoff:
                continue
            name = PurePosixPath(*path.relative_to(self.folder).parts).as_posix()
            found.append(_Found(path, name, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda item: item.name)

    def apply(self, found: list[_Found], deadline: float) -> tuple[list[_Found], list[str]]:
        """Delete or archive each file; (those done, why the others were not)."""
        import shutil

        done, errors = [], []
        for item in found:
            if time.monotonic() > deadline:
                errors.append(f"{item.name}: not {_DONE[self.action]}: the step's timeout passed")
                continue
            try:
                if self.action == "delete":
                    item.path.unlink()
                else:
                    assert self.to is not None
                    target = self.to.joinpath(*PurePosixPath(item.name).parts)
                    if target.exists():
                        errors.append(f"{item.name}: already in {self.to}, left where it is")
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(item.path, target)
            except OSError as error:
                errors.append(f"{item.name}: {error.strerror or error}")
                continue
            done.append(item)
        return done, errors

    def result(
        self, files: list[_Found], errors: list[str], rehearsed: bool = False
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "action": self.action,
            "folder": str(self.folder),
            "count": len(files),
            "bytes": sum(item.size for item in files),
            "files": [item.name for item in files[:MAX_NAMES]],
            "failed": len(errors),
            "errors": errors[:MAX_ERRORS],
            # How fresh the newest file is ("the newest backup is younger than a day").
            "newest_minutes": (
                round((time.time() - max(item.mtime for item in files)) / 60, 1) if files else None
            ),
        }
        if rehearsed:
            values["rehearsed"] = True
        return values


def _resolved(text: str, root: str | None) -> Path:
    path = Path(os.path.expanduser(text))
    if not path.is_absolute() and root is not None:
        path = Path(root) / path
    return path


def _bad_pattern(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression, or None."""
    try:
        re.compile(pattern)
    except re.error as error:
        return str(error)
    return None


def _escapes(glob: str) -> bool:
    """Whether a glob names something outside its folder (absolute, or through `..`)."""
    normal = glob.replace("\\", "/")
    return normal.startswith("/") or ":" in normal[:3] or ".." in normal.split("/")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _size(count: int) -> str:
    """1,536 bytes as `1.5 KiB`."""
    if count < 1024:
        return plural(count, "byte")
    size = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size:.1f} TiB"
