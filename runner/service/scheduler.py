"""`runbook scheduler`: run every runbook with a `schedule:` when it is due, in this
process, through the run service.

One tick of the loop (`Scheduler.tick`), every moment read from the clock it was given:

1. Rescan the runbook folders. A file added, changed (its mtime or size) or removed is
   picked up; a change that does not validate keeps the last good version and is
   reported once.
2. For each scheduled runbook, queue the slots (fire times, schedule/cron.py) that came
   due since it was last looked at, on time or caught up (service/slots.py). At start
   the runbook was last looked at at the newest slot the state store has a run of, so
   the slots missed while nothing ran are found the same way.
3. Start the queued runs that are due, at most `max_parallel` at once, each on a
   thread of its own with its own abort: a run of a runbook that is already running is
   held back for `concurrency: wait` and for catch-up (one slot after the other),
   started alongside for `allow`, and handed to the run service for `skip`, which
   records it skipped. Each is claimed in the state store first (`Scheduler.claim`):
   of any number of schedulers sharing the store, one runs each slot. A claim lost is
   rechecked each tick, and taken over when its slot has no run and its scheduler is
   gone (service/slots.py `SlotClaims.recheck`).

Each run is recorded with its trigger (`schedule` or `catchup`) and its slot.

`stop()` (SIGTERM) ends the loop: nothing new starts, the queued runs are dropped (the
next start catches them up), and `drain()` waits for the running runs up to the
shutdown grace, then aborts them, so they are recorded `aborted`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from runner.base.abort import RunAbort
from runner.base.errors import InvalidInput, RunbookError
from runner.base.hostname import hostname
from runner.history.claims import Claim, ClaimLost
from runner.language.declared import yaml_files
from runner.language.model import Runbook
from runner.schedule.cron import CronSchedule, ScheduleError
from runner.service.lateness import LateWatch
from runner.service.runs import RunRequest, RunService
from runner.service.slots import Due, Scheduled, SlotClaims, slots_due
from runner.service.slots import utc_minute as _utc

#: The longest the loop sleeps: how soon a runbook file added or changed is seen.
RESCAN_EVERY = 10.0
#: After the shutdown grace, how long aborted runs get to record their end.
ABORT_WAIT = 30.0


class Active(NamedTuple):
    due: Due
    abort: RunAbort
    thread: threading.Thread


class Scheduler:
    """Runs the scheduled runbooks of one configuration by their schedules.

    `clock` tells the time and `sleep(seconds)` waits (by default on an Event that
    `stop()` and each finished run set): tests hand in a fake pair and see which slots
    ran without waiting. `log` hears every line the daemon says (stderr). `host` is the
    name its claims are made in (this machine's by default).
    """

    def __init__(
        self,
        service: RunService,
        *,
        max_parallel: int | None = None,
        shutdown_grace: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] | None = None,
        log: Callable[[str], None] = lambda message: None,
        rescan_every: float = RESCAN_EVERY,
        host: str | None = None,
    ) -> None:
        settings = service.config.scheduler
        self.service = service
        self.max_parallel = max(1, max_parallel or settings.max_parallel)
        self.shutdown_grace = settings.shutdown_grace if shutdown_grace is None else shutdown_grace
        self.clock = clock
        self.rescan_every = rescan_every  # the longest sleep between two ticks
        self._wake = threading.Event()
        self.sleep = sleep if sleep is not None else self._wait
        self._log = log
        self.entries: dict[str, Scheduled] = {}
        self.queue: list[Due] = []
        self.active: dict[int, Active] = {}
        self.claims = SlotClaims(service.open_store, host if host is not None else hostname())
        self._taken: set[tuple[str, datetime]] = set()  # queued slots claims taken over
        self.stopping = threading.Event()
        self.stopped_by = ""
        self._reported: dict[str, tuple[int, int]] = {}  # a bad version, said once
        self._files_seen: dict[Path, tuple[int, int]] | None = None
        self._lock = threading.Lock()  # self.active, between the loop and the runs
        self._serial = 0
        self.jitter = True  # False for --once: what is due runs now
        self.lateness = LateWatch(service, self.log)  # `late:` tags told (service/lateness.py)

    # -- the loop ----------------------------------------------------------------------

    def serve(self, once: bool = False) -> None:
        """Tick until stop() (or, `once`, run what is due now and wait for it), then
        drain the running runs."""
        self.jitter = not once
        self.log(
            f"started: {self.service.config.display_path}, at most {self.max_parallel} runs at once"
        )
        while not self.stopping.is_set():
            now = self.clock()
            try:
                wake = self.tick(now)
            except Exception as error:  # a bug or a store gone: said, and tried again
                self.log(f"this tick failed: {type(error).__name__}: {error}")
                wake = now + timedelta(seconds=self.rescan_every)
            if once:
                self.run_due(now)
                break
            self.sleep(max(0.0, (wake - self.clock()).total_seconds()))
        if self.stopped_by:
            self.log(f"{self.stopped_by}: stopping")
        self.drain()
        self.log("stopped")

    def tick(self, now: datetime) -> datetime:
        """Rescan, queue the slots that came due, start what may start; when to wake."""
        self.rescan(now)
        self._forget_claims(now)
        for name, entry in self.entries.items():
            self._queue_slots(name, entry, now)
        self._keep_present()
        self._take_over_lost(now)
        self.start_due(now)
        self.lateness.look(now, [(entry.model, entry.schedule) for entry in self.entries.values()])
        wake = now + timedelta(seconds=self.rescan_every)
        for due in self.queue:
            wake = min(wake, max(due.start, now))
        for entry in self.entries.values():
            if entry.next is not None:
                wake = min(wake, entry.next)
        return wake

    def stop(self, by: str = "the scheduler") -> None:
        """Stop scheduling (SIGTERM); a second call aborts the running runs at once."""
        if self.stopping.is_set():
            self.abort_all(by)
        self.stopped_by = self.stopped_by or by
        self.stopping.set()
        self._wake.set()

    def drain(self) -> None:
        """Drop the queue, wait for the running runs up to the shutdown grace, then abort
        them and give them ABORT_WAIT to record their end."""
        self.queue.clear()
        self._taken.clear()
        running = self._running()
        if running:
            self.log(f"waiting up to {self.shutdown_grace:g}s for {len(running)} running run(s)")
            self._join(running, self.shutdown_grace)
        running = self._running()
        if running:
            self.abort_all(f"the scheduler stopping ({self.shutdown_grace:g}s grace passed)")
            self._join(running, ABORT_WAIT)
        self.claims.close()

    def abort_all(self, by: str) -> None:
        for active in self._running():
            active.abort.abort(by)

    def log(self, message: str) -> None:
        stamp = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._log(f"{stamp} runbook scheduler: {message}")

    # -- the runbooks ------------------------------------------------------------------

    def rescan(self, now: datetime) -> None:
        """Pick up runbook files added, changed or removed since the last look: a file is
        read again only when its mtime or size changed."""
        files = self._files()
        if files == self._files_seen:
            return  # not a file added, changed or removed: nothing to read
        self._files_seen = files
        library = self.service.library()
        found: dict[str, Path] = {}
        for name in library.names("runbook"):
            path = library.path_of("runbook", name)
            if path is not None:
                found[name] = path
        for name in [name for name in self.entries if name not in found]:
            self.log(f"{name}: its file is gone; no longer scheduled")
            self._forget(name)
        new = []
        for name, path in found.items():
            try:
                stat = path.stat()
            except OSError:
                continue  # removed between the listing and now: the next tick says so
            seen = (stat.st_mtime_ns, stat.st_size)
            entry = self.entries.get(name)
            if entry is not None and entry.seen == seen:
                continue
            if entry is None and self._reported.get(name) == seen:
                continue  # an invalid or unscheduled file, unchanged
            try:
                model = library.runbook(name)
                schedule = CronSchedule(model.schedule, model.timezone) if model.schedule else None
            except (RunbookError, ScheduleError) as error:  # invalid, or gone meanwhile
                self._invalid(name, path, seen, error, kept=entry is not None)
                continue
            if schedule is None:
                if entry is not None:
                    self.log(f"{name}: no schedule any more; no longer scheduled")
                    self._forget(name)
                self._reported[name] = seen
                continue
            self._reported.pop(name, None)
            if entry is None:
                self.entries[name] = Scheduled(model, schedule, seen)
                new.append(name)
                self.log(f"{name}: scheduled {model.schedule!r} in {schedule.timezone}")
            else:
                if model.schedule != entry.model.schedule or schedule.timezone != (
                    entry.schedule.timezone
                ):
                    self.log(f"{name}: now scheduled {model.schedule!r} in {schedule.timezone}")
                entry.model, entry.schedule, entry.seen = model, schedule, seen
                entry.next = None  # the schedule may have changed
        if new:
            last = self._last_slots()
            for name in new:
                self.entries[name].looked = last.get(name)

    def _files(self) -> dict[Path, tuple[int, int]]:
        """(mtime_ns, size) of every YAML file in the runbook folders: a stat each."""
        found = {}
        for folder in self.service.config.runbook_dirs:
            for path in yaml_files(folder):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                found[path] = (stat.st_mtime_ns, stat.st_size)
        return found

    def _invalid(
        self, name: str, path: Path, seen: tuple[int, int], error: Exception, kept: bool
    ) -> None:
        if self._reported.get(name) == seen:
            return
        self._reported[name] = seen
        if isinstance(error, InvalidInput) and error.errors:
            count = len(error.errors)
            first = error.errors[0].format()
            what = f"{count} error{'' if count == 1 else 's'}, the first: {first}"
        else:
            what = error.format_message() if isinstance(error, RunbookError) else str(error)
        then = (
            "the last good version stays scheduled" if kept else "not scheduled until it validates"
        )
        self.log(f"{name}: {path} does not validate ({what}); {then} (runbook validate {name})")
        if kept:  # the change is reported; the good version is not read again
            self.entries[name].seen = seen

    def _forget(self, name: str) -> None:
        del self.entries[name]
        self.queue = [due for due in self.queue if due.runbook != name]

    def _last_slots(self) -> dict[str, datetime]:
        """The newest slot each runbook has a run of in the store ({} when it cannot be
        read: then nothing is caught up, and the scheduler says so)."""
        try:
            with self.service.open_store() as store:
                return store.last_slots()
        except RunbookError as error:
            self.log(f"the state store cannot be read, nothing is caught up: {error}")
            return {}

    # -- slots -------------------------------------------------------------------------

    def _queue_slots(self, name: str, entry: Scheduled, now: datetime) -> None:
        for due in slots_due(name, entry, now, self.jitter, self.log):
            self._enqueue(due)

    def claim(self, due: Due, now: datetime) -> bool:
        """Whether this scheduler runs the slot of `due`: its claim went into the state
        store, where a row unique on (runbook, slot) lets one scheduler of any number
        have each slot, or it took over the claim of a scheduler that died before its
        run was recorded. A slot that cannot be claimed (the store is down) is not run:
        said, and `runbook status` shows it late."""
        what = f"{due.runbook} {_utc(due.slot)}"
        try:
            claimed = self.claims.claim(due, now)
        except RunbookError as error:
            self.log(f"{what}: not run: it could not be claimed: {error.format_message()}")
            return False
        if not claimed.ours:
            self.log(f"{what}: claimed by {claimed.holder}; not run here")
        elif claimed.holder:
            self._said_taken(what, claimed.holder)
        return claimed.ours

    def _said_taken(self, what: str, holder: str) -> None:
        self.log(f"{what}: taken over from {holder}: its scheduler is gone and the slot has no run")

    def _keep_present(self) -> None:
        """Touch this scheduler's named session of a shared store once a tick, so that a
        dropped connection is opened again before it matters (a claim tries again)."""
        with suppress(RunbookError):
            self.claims.keep_present()

    def _take_over_lost(self, now: datetime) -> None:
        """Once a tick: the slots lost to a scheduler that has died since, before their
        run was recorded, are run here (queued now, claimed already)."""
        windows = {name: entry.model.catchup_window for name, entry in self.entries.items()}
        try:
            taken = self.claims.recheck(now, windows)
        except RunbookError as error:  # the next tick looks again
            self.log(f"lost claims were not rechecked: {error.format_message()}")
            return
        for due, holder in taken:
            self._said_taken(f"{due.runbook} {_utc(due.slot)}", holder)
            self._taken.add((due.runbook, due.slot))
            self.queue.append(due)
        self.queue.sort()

    def _forget_claims(self, now: datetime) -> None:
        windows = [entry.model.catchup_window for entry in self.entries.values()]
        try:
            self.claims.forget(now, windows)
        except RunbookError as error:  # the next hour tries again
            self.log(f"old claims were not deleted: {error.format_message()}")

    def _enqueue(self, due: Due) -> None:
        if self.claims.first_time(due.runbook, due.slot):
            self.queue.append(due)
            self.queue.sort()

    # -- runs --------------------------------------------------------------------------

    def start_due(self, now: datetime) -> None:
        """Start the queued runs due by `now`, oldest first, while places are free."""
        waiting = []
        for due in self.queue:
            if due.start > now or self.stopping.is_set() or not self._may_start(due):
                waiting.append(due)
                continue
            if (due.runbook, due.slot) in self._taken:
                self._taken.discard((due.runbook, due.slot))
                self._launch(due)
            elif self.claim(due, now):
                self._launch(due)
        self.queue = waiting

    def _may_start(self, due: Due) -> bool:
        if len(self._running()) >= self.max_parallel:
            return False
        busy = any(active.due.runbook == due.runbook for active in self._running())
        if not busy:
            return True
        # One slot after the other for catch-up and `wait`; `skip` goes to the run
        # service, which records the run skipped; `allow` runs alongside.
        return due.trigger != "catchup" and self.entries[due.runbook].model.concurrency != "wait"

    def _launch(self, due: Due) -> None:
        model = self.entries[due.runbook].model
        abort = RunAbort()
        with self._lock:
            self._serial += 1
            key = self._serial
            thread = threading.Thread(
                target=self._run,
                args=(key, due, model, abort),
                name=f"run {due.runbook} {_utc(due.slot)}",
                # drain() waits for it and aborts it; a run stuck past that (a call that
                # cannot be cancelled) must not keep the process from ending: the next
                # run of its runbook finds it abandoned (history/reconcile.py)
                daemon=True,
            )
            self.active[key] = Active(due, abort, thread)
        thread.start()

    def _run(self, key: int, due: Due, model: Runbook, abort: RunAbort) -> None:
        """One run, on its own thread: the runbook as its file is now when that
        validates, else the last good version; recorded by the run service."""
        claim = Claim(self.claims.host, self.claims.pid)
        request = RunRequest(runbook=due.runbook, trigger=due.trigger, slot=due.slot, claim=claim)
        what = f"{due.runbook} {_utc(due.slot)} ({due.trigger})"
        started = time.monotonic()
        try:
            try:
                current = self.service.load(model.path or due.runbook)
            except InvalidInput:
                current = model  # reported by the rescan; the last good version runs
            self.log(f"{what}: started")
            result = self.service.run(request, abort=abort, runbook=current)
            took = time.monotonic() - started
            self.log(
                f"{what}: {result.status.value} ({result.outcome}) in {took:.1f}s, "
                f"run {result.run_id}"
            )
        except ClaimLost as error:  # its claim was not confirmed at its start: not run
            self.log(f"{what}: {error.format_message()}")
        except RunbookError as error:  # refused before it started: nothing recorded
            self.log(f"{what}: not run: {error.format_message()}")
        except Exception as error:  # a bug must not end the scheduler
            self.log(f"{what}: internal error: {type(error).__name__}: {error}")
        finally:
            with self._lock:
                self.active.pop(key, None)
            self._wake.set()

    def _running(self) -> list[Active]:
        with self._lock:
            return list(self.active.values())

    def run_due(self, now: datetime) -> None:
        """Start everything queued that is due by `now` as places free up, and wait for
        it to end (--once; and tests, after a tick)."""
        while self.queue or self._running():
            if self.stopping.is_set():
                return
            self._wake.clear()
            self.start_due(now)
            if self.queue or self._running():
                self._wake.wait(1.0)

    def _join(self, running: Iterable[Active], seconds: float) -> None:
        end = time.monotonic() + seconds
        for active in running:
            active.thread.join(max(0.0, end - time.monotonic()))

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()
