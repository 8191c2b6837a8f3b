"""Embedded demo databases, so `runbook run order-health` shows something real on day one.

A connection in runner.yaml may say `demo: orders`; the engine then calls
`ensure_demo("orders", path)` before opening it. The first call builds the demo's SQLite
database (its builder is a module of its own: demo_orders.py for the order pipeline);
later calls leave the file, and whatever the user did to it, alone. A demo is built in
a scratch file and moved into place when complete, one process at a time. A demo may
also have files beside its database (the orders demo: the processor's `logs/` folder,
demo_logs.py), written whenever the database is built, for the same `now`, and when
they are missing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.base.clock import naive_utc

Builder = Callable[[sqlite3.Connection, datetime], None]


def ensure_demo(name: str, path: str | os.PathLike[str], now: datetime | None = None) -> bool:
    """Create demo database `name` at `path` unless a non-empty file is already there.

    Returns True when this call created it. The database is built in a temporary file
    next to `path` and moved into place only when complete, so a failure or a crash
    leaves no half-built file behind; concurrent callers serialise on a lock file
    (`<path>.lock`) so exactly one of them builds and the others find it ready.
    """
    builder = DEMOS.get(name)
    if builder is None:
        known = ", ".join(sorted(DEMOS)) or "none"
        raise ValueError(f"unknown demo database {name!r}: known demos are {known}")
    target = Path(path)
    files = DEMO_FILES.get(name)
    if _is_ready(target):
        if files is not None:
            files(target.parent, now, False)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    moment = naive_utc(now)
    with exclusive(target.with_name(target.name + ".lock")) as locked:
        if _is_ready(target):  # another process built it while we waited
            return False
        if locked:  # holding the lock, any scratch file is a dead builder's
            for leftover in target.parent.glob(f".{target.name}.*.building"):
                leftover.unlink(missing_ok=True)
        if files is not None:  # first: a database found ready has its files too
            files(target.parent, moment, True)
        return _build_atomically(builder, target, moment)


def _is_ready(path: Path) -> bool:
    # sqlite3.connect() creates an empty file before writing anything, so an empty
    # file means "nobody built this yet", not "the user's database".
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


@contextmanager
def exclusive(lock_path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on `lock_path`; yields False where there is no flock."""
    try:
        import fcntl
    except ImportError:  # Windows: rely on os.replace and the lost-race check below
        yield False
        return
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _build_atomically(builder: Builder, target: Path, now: datetime) -> bool:
    # Not mkstemp: its 0600 mode would stick to the database; SQLite creates the file
    # with the usual umask. The name is unique per process and call.
    scratch = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.building")
    temp: Path | None = scratch  # None once it has become the target
    try:
        with closing(sqlite3.connect(scratch)) as connection:
            # A scratch file needs no crash safety until it is complete; it gets an fsync below.
            connection.execute("PRAGMA journal_mode = MEMORY")
            connection.execute("PRAGMA synchronous = OFF")
            with connection:
                builder(connection, now)
        with open(scratch, "rb+") as built:
            os.fsync(built.fileno())
        try:
            os.replace(scratch, target)
        except PermissionError:
            # Windows refuses to replace a file another process has open: that process
            # won the race and its database is the one in use.
            if _is_ready(target):
                return False
            raise
        temp = None
        return True
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)


#: The demos by name (`demo:` in runner.yaml), each a builder of its SQLite database.
def _build_orders(connection: sqlite3.Connection, now: datetime) -> None:
    from runner.databases.demo_orders import build_orders  # only the first run builds

    build_orders(connection, now)


def _build_edi_metrics(connection: sqlite3.Connection, now: datetime) -> None:
    from runner.databases.demo_edi_metrics import build_edi_metrics

    build_edi_metrics(connection, now)


def _build_wms(connection: sqlite3.Connection, now: datetime) -> None:
    from runner.databases.demo_wms import build_wms

    build_wms(connection, now)


DEMOS: dict[str, Builder] = {
    "orders": _build_orders,
    "edi_metrics": _build_edi_metrics,
    "wms": _build_wms,
}

#: The demos that can also be built on a server through ODBC (PostgreSQL): each is given
#: the open pyodbc connection (autocommit), `now`, and whether to rebuild what is there,
#: and says whether it built; it builds in one transaction, nothing when already there.
OdbcBuilder = Callable[[Any, datetime | None, bool], bool]


def _build_wms_odbc(db: Any, now: datetime | None, rebuild: bool) -> bool:
    from runner.databases.demo_wms import ensure_wms_odbc

    return ensure_wms_odbc(db, now, rebuild)


ODBC_DEMOS: dict[str, OdbcBuilder] = {"wms": _build_wms_odbc}
#: (demo, connection string) found or built in this process: asked once per process
_ODBC_READY: set[tuple[str, str]] = set()


def ensure_odbc_demo(
    name: str, key: str, db: Any, now: datetime | None = None, rebuild: bool = False
) -> bool:
    """Build demo `name` on the server behind `db` (an open pyodbc connection; `key`, its
    connection string, says which database it is) unless it is there; True when built."""
    builder = ODBC_DEMOS.get(name)
    if builder is None:
        known = ", ".join(sorted(ODBC_DEMOS)) or "none"
        raise ValueError(f"demo {name!r} is SQLite only: demos on ODBC connections are {known}")
    if not rebuild and (name, key) in _ODBC_READY:
        return False
    built = builder(db, now, rebuild)
    _ODBC_READY.add((name, key))
    return built


#: What a demo keeps beside its database: called with the database's folder, `now`, and
#: whether to replace what is there (True when the database was just built).
FilesBuilder = Callable[[Path, datetime | None, bool], None]


def _order_logs(folder: Path, now: datetime | None, replace: bool) -> None:
    logs = folder / "logs"
    if not replace and logs.is_dir():  # the usual case: no import, one stat
        return
    from runner.databases import demo_logs  # only when building

    if replace:  # under the demo's lock: a scratch folder left here is a dead builder's
        for leftover in (*folder.glob(".logs.*.building"), *folder.glob(".logs.*.old")):
            shutil.rmtree(leftover, ignore_errors=True)
        demo_logs.build_order_logs(logs, now)
    else:
        demo_logs.ensure_order_logs(logs, now)


def _wms_files(folder: Path, now: datetime | None, replace: bool) -> None:
    """The wms demo's folder beside its database: dated logs and an empty backups/."""
    root = folder / "wms"
    if not replace and (root / "logs").is_dir():
        return
    from runner.databases.demo_wms import write_logs

    (root / "backups").mkdir(parents=True, exist_ok=True)
    write_logs(root / "logs", naive_utc(now).replace(tzinfo=UTC), frozenset())


DEMO_FILES: dict[str, FilesBuilder] = {"orders": _order_logs, "wms": _wms_files}
