"""What a `files` step works on: its configuration as written, and its plan once rendered.

`FilesConfig` is what the runbook says (templates unrendered); `Plan.of` renders it for
one run (the folder, the glob, the archive folder, the compiled `match:`) and then
finds the files, reads the newest one (`tail:`), and deletes or archives them. The step
type itself (keys, schema, checks of meaning, statuses, summaries) is runner/steps/files.py.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple

from runner.base.durations import format_duration, parse_duration
from runner.base.errors import StepError, StepTimeout
from runner.base.structs import Struct
from runner.base.wording import plural, value_text
from runner.language.model import Origin
from runner.language.steptypes import StepConfig

if TYPE_CHECKING:
    from runner.steps.context import StepContext

ACTIONS = ("list", "delete", "archive")
#: The actions `keep_newest:` spares files from.
KEEPS = ("delete", "archive")
#: Names listed in the result; `count` still counts every file.
MAX_NAMES = 100
MAX_ERRORS = 20
#: The most lines `tail:` may ask for, and the longest line it keeps (characters).
MAX_TAIL = 1000
MAX_LINE = 1000
DONE = {"list": "found", "delete": "deleted", "archive": "archived"}


class FilesConfig(StepConfig, frozen=True):
    """Which files, and what to do with them, as written (templates unrendered)."""

    path: str | None  # None when the document gives no text
    origin: Origin  # of the `files:` mapping
    glob: str = "*"
    older_than: float | None = None  # seconds; None: any age (or older_than_text says)
    action: str = "list"
    to: str | None = None  # the archive folder
    glob_origin: Origin | None = None
    to_origin: Origin | None = None
    tail: int | None = None  # read the newest file's last lines
    match: str | None = None  # a regular expression the lines kept must match
    tail_origin: Origin | None = None
    match_origin: Origin | None = None
    older_than_text: str | None = None  # a template of a duration, rendered at run time
    older_than_origin: Origin | None = None
    keep_newest: int | None = None  # the newest N matching files are never acted on
    keep_newest_text: str | None = None  # a template of that count, rendered at run time
    keep_newest_origin: Origin | None = None
    keep_newest_bad: str | None = None  # a literal that is no count, as written (refused)


class Found(Struct, frozen=True):
    path: Path
    name: str  # relative to the folder, with `/`
    size: int
    mtime: float = 0.0


class Selection(NamedTuple):
    """The files an action applies to, and how many more it would have without
    `keep_newest:` (None when the step has no keep_newest)."""

    files: list[Found]
    kept: int | None = None


class Plan:
    """A FilesConfig rendered: the folder, the glob, the cut-off, what is kept, the action."""

    def __init__(
        self,
        config: FilesConfig,
        folder: Path,
        glob: str,
        to: Path | None,
        match: re.Pattern[str] | None = None,
        older_than: float | None = None,
        keep_newest: int | None = None,
    ) -> None:
        self.config = config
        self.older_than = older_than  # seconds, rendered; None: any age
        self.keep_newest = keep_newest  # rendered; None: none is kept for being new
        self.action = config.action
        self.folder = folder
        self.glob = glob
        self.to = to
        self.match = match

    @classmethod
    def of(cls, config: FilesConfig, ctx: StepContext) -> Plan:
        if config.path is None:
            raise StepError("files needs a path, the folder to look in, such as path: D:/logs")
        folder = resolved(str(ctx.render(config.path)), ctx.root)
        # A glob written on Windows (logs\*.log) means the same on Linux.
        glob = str(ctx.render(config.glob)).replace("\\", "/")
        if escapes(glob):
            raise StepError(f"the glob {glob!r} reaches outside the folder {folder}")
        to = None
        if config.action == "archive":
            if config.to is None:
                raise StepError("action: archive needs `to:`, the folder the files are moved into")
            to = resolved(str(ctx.render(config.to)), ctx.root)
        match = None
        if config.match is not None:
            pattern = str(ctx.render(config.match))
            problem = bad_pattern(pattern)
            if problem:
                raise StepError(f"match: {pattern!r} is not a regular expression: {problem}")
            match = re.compile(pattern)
        older_than = config.older_than
        if config.older_than_text is not None:
            rendered = ctx.render(config.older_than_text)
            try:
                older_than = parse_duration(rendered)
            except ValueError as error:
                text = config.older_than_text
                raise StepError(f"older_than: {error} (rendered from {text!r})") from None
        keep_newest = config.keep_newest
        if config.keep_newest_text is not None:
            rendered = ctx.render(config.keep_newest_text)
            keep_newest = keep_count(rendered)
            if keep_newest is None:
                raise StepError(
                    f"keep_newest: {shown(rendered)} {NOT_A_COUNT} "
                    f"(rendered from {config.keep_newest_text!r})"
                )
        return cls(config, folder, glob, to, match, older_than, keep_newest)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "folder": str(self.folder), "glob": self.glob}
        if self.older_than is not None:
            out["older_than"] = format_duration(self.older_than)
        if self.keep_newest is not None:
            out["keep_newest"] = self.keep_newest
        if self.to is not None:
            out["to"] = str(self.to)
        if self.config.tail is not None:
            out["tail"] = self.config.tail
        if self.match is not None:
            out["match"] = self.match.pattern
        return out

    def read_newest(self, found: list[Found], now: float, deadline: float) -> dict[str, Any]:
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

    def find(self, now: float, deadline: float) -> Selection:
        """The regular files that match, oldest cut-off applied, the newest `keep_newest`
        of all that match left out, sorted by name."""
        if not self.folder.is_dir():
            raise StepError(f"the folder {self.folder} does not exist (or is not a folder)")
        cutoff = None if self.older_than is None else now - self.older_than
        matched = []
        try:
            matches = self.folder.glob(self.glob)
        except ValueError as error:  # an empty pattern, and the like
            raise StepError(f"the glob {self.glob!r} cannot be used: {error}") from None
        for path in matches:
            if time.monotonic() > deadline:
                raise StepTimeout(f"looking for {self.glob} in {self.folder} took too long")
            if self.to is not None and inside(path, self.to):
                continue  # already archived
            try:
                stat = path.lstat()
            except OSError:
                continue  # gone meanwhile
            if not regular(stat.st_mode):
                continue
            name = PurePosixPath(*path.relative_to(self.folder).parts).as_posix()
            matched.append(Found(path, name, stat.st_size, stat.st_mtime))
        # The newest N of every file that matches, whatever its age ("keep the newest 7
        # backups"): on equal times the name that sorts last counts as the newer, as for
        # `tail:` (dated names such as 20260101_0300.tar.gz sort by their date).
        newest: set[str] = set()
        if self.keep_newest:
            by_age = sorted(matched, key=lambda item: (item.mtime, item.name))
            newest = {item.name for item in by_age[-self.keep_newest :]}
        old = [item for item in matched if cutoff is None or item.mtime <= cutoff]
        found = [item for item in old if item.name not in newest]
        kept = None if self.keep_newest is None else len(old) - len(found)
        return Selection(sorted(found, key=lambda item: item.name), kept)

    def apply(self, found: list[Found], deadline: float) -> tuple[list[Found], list[str]]:
        """Delete or archive each file; (those done, why the others were not)."""
        import shutil

        done, errors = [], []
        for item in found:
            if time.monotonic() > deadline:
                errors.append(f"{item.name}: not {DONE[self.action]}: the step's timeout passed")
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
        self,
        files: list[Found],
        errors: list[str],
        rehearsed: bool = False,
        kept: int | None = None,
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
        if kept is not None:
            values["kept"] = kept
        if rehearsed:
            values["rehearsed"] = True
        return values


NOT_A_COUNT = "is not a number of files to keep: write a whole number, 0 or more, such as 7"


def keep_count(value: Any) -> int | None:
    """`keep_newest:` as rendered (7, or the text "7"), or None when it is not a whole
    number 0 or more."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def shown(value: Any) -> str:
    """A value as the runbook wrote it: text quoted, -1, 2.5, true, null as YAML says them."""
    return repr(value) if isinstance(value, str) else value_text(value)


def resolved(text: str, root: str | None) -> Path:
    path = Path(os.path.expanduser(text))
    if not path.is_absolute() and root is not None:
        path = Path(root) / path
    return path


def bad_pattern(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression, or None."""
    try:
        re.compile(pattern)
    except re.error as error:
        return str(error)
    return None


def escapes(glob: str) -> bool:
    """Whether a glob names something outside its folder (absolute, or through `..`)."""
    normal = glob.replace("\\", "/")
    return normal.startswith("/") or ":" in normal[:3] or ".." in normal.split("/")


def inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def size_text(count: int) -> str:
    """1,536 bytes as `1.5 KiB`."""
    if count < 1024:
        return plural(count, "byte")
    size = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size:.1f} TiB"
