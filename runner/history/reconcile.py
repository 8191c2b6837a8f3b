"""Runs that died: a `running` row whose process is gone becomes `abandoned`.

A run is recorded as `running` before its first step (StateStore.start_run). When its
process is killed (kill -9, the OOM killer, a monitor's timeout, a reboot) nothing
records its end, and the row would say `running` for ever. The next `run`, `status` or
`history` reconciles: a running row is gone when

- it ran on this host and its pid is dead here (or that pid now belongs to a process
  started after the run: the pid was reused); or
- on a shared PostgreSQL store, it ran on another host and no session of the server is
  named after it: neither the session holding its run lock ("runbook run <run id>") nor
  the store's own connection of the run ("runbook store <run id>", named so when the
  run starts, whatever its `concurrency:`). The server ends a session whose client
  died, and with it the run's advisory lock: at once when the process was killed (its
  host closes the connection), and when the whole host died or was cut off, once its
  TCP keepalives go unanswered (history/backends.py KEEPALIVE: about two minutes).
  That is the lease of a run on another host; a heartbeat (`seen`) could not be one,
  as a single long step writes none.

A SQLite store is one host's: a row of another host (the store on a network share) is
left as it is, as nothing here can tell whether it lives.

The row becomes outcome `abandoned`, status UNKNOWN, ended at the time it was last seen
alive (`seen`: its start, then each step's start, written at most every HEARTBEAT
seconds), with an error saying which process was lost and when it was last seen.
Reconciling is one conditional UPDATE per dead row (`AND outcome = 'running'`), so a run
that finished meanwhile keeps its own record. `Reconcile` is a base of the StateStore,
whose backend, lock and write transactions it uses, as Upkeep is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from runner.base.clock import utc_text
from runner.base.hostname import hostname
from runner.base.timestamps import timestamp_text
from runner.history.backends import LOCK_APPLICATION, Backend

#: Seconds between two heartbeats of one run at most (each costs one small write).
HEARTBEAT = 5.0
#: A process that started this long after the run it is said to be is another one.
_START_SLACK = 2.0

Alive = Callable[[int, str | None], bool]


#: Marks the state store's own session of a run in pg_stat_activity: "runbook store <id>"
#: (its lock's session is "runbook run <id>", history/backends.py LOCK_APPLICATION).
STORE_APPLICATION = "runbook store "


def session_name(run_id: str) -> str:
    """What the store's connection of a running run is called in pg_stat_activity."""
    return f"{STORE_APPLICATION}{run_id}"


def session_names(run_id: str) -> tuple[str, str]:
    """The names of a run's sessions of a shared store: its run lock's and the store's."""
    return f"{LOCK_APPLICATION}{run_id}", session_name(run_id)


def pid_alive(pid: int, started: str | None = None) -> bool:
    """Whether process `pid` lives on this host and is the one that started at `started`
    (UTC text): a zombie, or a process born after the run (a reused pid), is not."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    born = _process_start(pid)
    if born is None:
        return True  # no /proc to ask: the pid exists, trust it
    if isinstance(born, str):  # a zombie
        return False
    since = _parse(started)
    return since is None or born <= since.timestamp() + _START_SLACK


def _process_start(pid: int) -> float | str | None:
    """When `pid` started (Unix time), "zombie" for a dead one not yet reaped, None when
    /proc cannot say (not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rpartition(")")[2].split()
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    if fields and fields[0] in ("Z", "X"):
        return "zombie"
    try:
        ticks = int(fields[19])  # field 22 of stat; fields here start at field 3
    except (IndexError, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Reconcile:
    """Heartbeats of a running run, and reconciling the runs that died (a base of StateStore)."""

    _backend: Backend
    _lock: AbstractContextManager[Any]
    clock: Callable[[], datetime]

    def _write(self) -> AbstractContextManager[Backend]:
        raise NotImplementedError

    def mark_seen(self, run_id: str, at: datetime | None = None) -> None:
        """The run is alive now: its heartbeat (only while it is still `running`)."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET seen = ? WHERE run_id = ? AND outcome = 'running'",
                (utc_text(at or datetime.now(UTC)), run_id),
            )

    def reconcile(
        self,
        runbook: str | None = None,
        *,
        host: str | None = None,
        alive: Alive = pid_alive,
    ) -> list[dict[str, Any]]:
        """Mark the `running` rows (of `runbook`, or all) whose process is gone as
        `abandoned`; returns them as marked ({run_id, runbook, host, pid, seen, error})."""
        here = host if host is not None else hostname()
        where = "WHERE outcome = 'running'" + (" AND runbook = ?" if runbook else "")
        with self._lock:
            rows = self._backend.query(
                f"SELECT run_id, runbook, host, pid, started, seen FROM runs {where}",
                (runbook,) if runbook else (),
            )
        if not rows:
            return []
        others = [row for row in rows if row["host"] != here]
        sessions = self._live_sessions(
            name for row in others for name in session_names(row["run_id"])
        )
        gone = []
        for row in rows:
            if row["host"] == here:
                if row["pid"] is None or alive(int(row["pid"]), row["started"]):
                    continue
                lost = f"the run's process (pid {row['pid']} on {here}) is gone"
            elif sessions is None or sessions.intersection(session_names(row["run_id"])):
                continue  # SQLite: cannot tell; or its session is still there
            else:
                where_text = f"pid {row['pid']} on {row['host']}" if row["host"] else "its host"
                lost = f"the run's session of the state store ({where_text}) is gone"
            gone.append(self._abandon(row, lost))
        return [row for row in gone if row is not None]

    def orphaned_runs(self, runbook: str, limit: int = 10) -> list[str]:
        """Ids of the abandoned runs of `runbook` newer than any other run of it: those
        whose leftovers (an orphaned database session) the next run must clear first."""
        with self._lock:
            rows = self._backend.query(
                "SELECT run_id FROM runs WHERE runbook = ? AND outcome = 'abandoned' "
                "AND started > COALESCE((SELECT MAX(started) FROM runs "
                "WHERE runbook = ? AND outcome <> 'abandoned'), '') "
                "ORDER BY started DESC LIMIT ?",
                (runbook, runbook, limit),
            )
        return [str(row["run_id"]) for row in rows]

    def _abandon(self, row: dict[str, Any], lost: str) -> dict[str, Any] | None:
        seen = row["seen"] or row["started"]
        started, last = _parse(row["started"]), _parse(seen)
        duration = (last - started).total_seconds() if started and last else None
        now = utc_text(datetime.now(UTC))
        error = f"{lost}; last seen at {_shown(seen)}, found at {_shown(now)}"
        with self._write() as db:
            still = db.query(
                "SELECT 1 AS found FROM runs WHERE run_id = ? AND outcome = 'running'",
                (row["run_id"],),
            )
            if not still:  # it finished meanwhile: its own record stands
                return None
            db.execute(
                "UPDATE runs SET outcome = 'abandoned', status = 'UNKNOWN', ended = ?, "
                "duration = ?, error = COALESCE(error || '; ', '') || ? "
                "WHERE run_id = ? AND outcome = 'running'",
                (seen, duration, error, row["run_id"]),
            )
        return {
            "run_id": row["run_id"],
            "runbook": row["runbook"],
            "host": row["host"],
            "pid": row["pid"],
            "seen": seen,
            "error": error,
        }

    def _live_sessions(self, names: Iterable[str]) -> set[str] | None:
        """Which of `names` name a session of the store's server; None when the store
        cannot tell (SQLite)."""
        wanted = list(dict.fromkeys(names))
        if self._backend.dialect != "postgres":
            return None
        if not wanted:
            return set()
        marks = ", ".join("?" for _ in wanted)
        with self._lock:
            rows = self._backend.query(
                "SELECT DISTINCT application_name AS name FROM pg_stat_activity "
                f"WHERE application_name IN ({marks})",
                wanted,
            )
        return {str(row["name"]) for row in rows}


class Heartbeat:
    """Calls `beat()` at most every `every` seconds of `clock`: a run's heartbeat between
    steps; a store that cannot be written is told to `log`, never to the run."""

    def __init__(
        self,
        beat: Callable[[], None],
        *,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._beat = beat
        self._every = HEARTBEAT if every is None else every
        self._clock = clock
        self._log = log
        self._next = clock() + self._every

    def __call__(self) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._every
        try:
            self._beat()
        except Exception as error:  # a heartbeat must never fail a run
            self._log(f"runbook: the run's heartbeat was not recorded: {error}")


def _shown(text: str | None) -> str:
    """Stored UTC text in the one output format (`2026-11-24T09:15:00.130Z`)."""
    return str(timestamp_text(text)) if text else "an unknown time"
