"""The `backup` step: a consistent copy of a SQLite database, taken online with SQLite's
backup API, then checked ("back up the demo database, then check the copy").

    - id: backup
      connection: orders
      backup: {to: "var/backups/orders-{{ now.strftime('%Y%m%d-%H%M%S') }}.db"}

- The database is the step's connection (`connection:`, or the runbook's), which must be
  a SQLite connection of runner.yaml: other servers have their own tools (`BACKUP
  DATABASE` in a sql step on SQL Server, `pg_dump` in a command step on PostgreSQL).
- `to` is the file to write (a template; a relative path starts at runner.yaml's
  folder); its folder is created when missing. An existing file is never overwritten.
- The copy is written to a scratch file beside `to`, page by page while the database
  stays in use (writers are not blocked for long; a page written meanwhile restarts the
  copy, as the backup API does), then `PRAGMA integrity_check` reads the copy, and only
  a copy that says `ok` is moved to `to`. A failing copy leaves no file behind.
- `--dry-run` and `--rehearse` write nothing.

Result: `path`, `bytes`, `pages`, `integrity` (`ok`, or the first problems the check
found), `elapsed_ms`. A copy that is not `ok` is CRITICAL unless asserts judge.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.base.errors import StepError
from runner.base.status import Status
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import BuildScope, StepChecks, StepConfig
from runner.steps.base import StepType

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

#: Pages copied per call of the backup API; between calls other connections may write.
PAGES_PER_STEP = 1024


class BackupConfig(StepConfig, frozen=True):
    """Where the copy goes, as written (a template)."""

    to: Any  # None when not given
    origin: Origin  # of the `backup:` mapping


class BackupStep(StepType):
    name = "backup"
    schema = {"backup": {"$ref": "#/$defs/backup"}}
    definitions = {
        "backup": {
            "title": "SQLite backup",
            "type": "object",
            "additionalProperties": False,
            "required": ["to"],
            "description": "Copy the step's SQLite connection with SQLite's online backup "
            "API, then check the copy with PRAGMA integrity_check. Result: path, bytes, pages, "
            "integrity, elapsed_ms. A copy that is not ok is CRITICAL.",
            "properties": {
                "to": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The file to write (a template), such as "
                    "var/backups/orders-{{ now.strftime('%Y%m%d-%H%M%S') }}.db. Never "
                    "overwritten.",
                },
            },
        }
    }

    # -- loading ------------------------------------------------------------------------

    def build(self, node: Node, scope: BuildScope) -> BackupConfig:
        backup = node.child("backup")
        return BackupConfig(freeze(backup.get("to")), backup.origin)

    def check(self, config: BackupConfig, checks: StepChecks) -> None:
        name = checks.connection if isinstance(checks.connection, str) else None
        if not name:
            checks.add(
                checks.step,
                "this backup step has no connection",
                "set `connection:` on the runbook or on the step, naming a SQLite connection",
                at="key",
            )
            return
        spec = checks.config.connections.get(name)
        # A step with `when:` (method == 'online') may be meant for the SQLite case only:
        # if it runs on a server's connection after all, running it says so.
        if spec is not None and spec.kind != "sqlite" and not checks.conditional:
            checks.add(
                config.origin,
                f"backup copies a SQLite database; connection {name!r} is {spec.kind}",
                "on SQL Server run BACKUP DATABASE in a sql step; on PostgreSQL run pg_dump "
                "in a command step",
            )

    # -- running ------------------------------------------------------------------------

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        name, target = self._target(step, ctx)
        if ctx.mode in ("dry-run", "rehearse"):
            return {"skipped": True, "reason": f"{ctx.mode}: no backup is written"}
        connection = ctx.services.connections.get(name)
        source = getattr(connection, "db", None)
        if not isinstance(source, sqlite3.Connection):
            raise StepError(f"backup copies a SQLite database; connection {name!r} is not one")
        if target.exists():
            raise StepError(f"{target} already exists; a backup never overwrites a file")
        ctx.log(f"back up {name} to {target}")
        with connection.lock:
            return copy_database(source, target, ctx.timeout)

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        name, target = self._target(step, ctx)
        return {"connection": name, "to": str(target)}

    def verdict(self, step: Step, values: Mapping[str, Any]) -> tuple[Status, str] | None:
        integrity = values.get("integrity")
        if integrity in (None, "ok") or step.asserts:
            return None
        return Status.CRITICAL, f"the copy failed its integrity check: {integrity}"

    def summary(self, values: Mapping[str, Any]) -> str | None:
        if "path" not in values:
            return None
        size = int(values.get("bytes") or 0)
        return f"{values['path']} ({size:,} bytes), integrity {values.get('integrity')}"

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        if "to" not in rendered:
            return None
        return f"would back up {rendered.get('connection')} to {rendered['to']}"

    @staticmethod
    def _target(step: Step, ctx: StepContext) -> tuple[str, Path]:
        name = step.connection or ctx.scope.get("__connection__")
        if not name:
            raise StepError("this backup step has no connection: set `connection:`")
        config: BackupConfig = step.config
        written = ctx.render(config.to)
        if not isinstance(written, str) or not written.strip():
            raise StepError("backup needs `to:`, the file to write")
        path = Path(os.path.expanduser(written.strip()))
        if not path.is_absolute() and ctx.root is not None:
            path = Path(ctx.root) / path
        return str(name), path


def copy_database(source: sqlite3.Connection, target: Path, timeout: float) -> dict[str, Any]:
    """Copy `source` to `target` with the backup API and check the copy; the values."""
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.partial")
    deadline = time.monotonic() + timeout if timeout else None

    def progress(status: int, remaining: int, total: int) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise StepError(
                f"the backup took longer than {timeout:g}s ({remaining} of {total} pages left)"
            )

    try:
        copy = sqlite3.connect(scratch)
        try:
            source.backup(copy, pages=PAGES_PER_STEP, progress=progress)
            pages = copy.execute("PRAGMA page_count").fetchone()[0]
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check(5)")]
        finally:
            copy.close()
        integrity = "ok" if problems == ["ok"] else "; ".join(problems)
        if integrity == "ok":
            os.replace(scratch, target)
    except sqlite3.Error as error:
        raise StepError(f"the backup to {target} failed: {error}") from None
    finally:
        scratch.unlink(missing_ok=True)
    return {
        "path": str(target),
        "bytes": target.stat().st_size if integrity == "ok" else 0,
        "pages": pages,
        "integrity": integrity,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }
