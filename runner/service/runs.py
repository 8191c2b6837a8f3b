"""The run service: one runbook run end to end, the same for every caller.

`runbook run`, and the scheduler and web server to come, call `RunService.run` in-process:

    load the runbook (one pass: parse, validate, build)  ->  typed inputs from the params
    ->  the run lock (`concurrency: skip | wait | allow`)  ->  record the start
    ->  walk the steps (engine/)  ->  record the end, with the deliveries of notify steps
    ->  announce (alerts/)  ->  the RunResult the reports render.

Everything one run needs lives on the run: its abort signal (an Event the caller may set
from a signal handler or another thread), its masker, its notifier, its connections and
its library snapshot. Nothing is kept in a module global, so runs in one process do not
leak into each other: an aborted run leaves the next one alone, and a runbook file edited
between two runs is read again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.base.abort import RunAbort
from runner.base.errors import ConfigError
from runner.base.gc_pause import young_collections_only
from runner.base.masking import mask_run
from runner.base.status import Status
from runner.base.structs import Struct, field
from runner.engine.options import Options, Progress
from runner.engine.walker import Engine
from runner.history.claims import Claim
from runner.history.locks import LockVerifier, run_lock
from runner.history.store import StateStore, open_store
from runner.language import templates
from runner.language.codecache import TemplateCodeCache
from runner.language.config import Config
from runner.language.library import Library
from runner.language.model import Runbook
from runner.language.results import RunResult
from runner.service.recorder import Recorder

#: Runs one run prunes at most (the rest wait for the next day, or `runbook prune`).
PRUNE_LIMIT = 2000


class RunRequest(Struct, frozen=True):
    """What to run and how: `runbook run NAME --param ... --dry-run ...` as data."""

    runbook: str  # a name, or the path of a runbook file
    params: Mapping[str, Any] = field(default_factory=dict)  # strings (--param) or typed values
    mode: str = "run"  # run | dry-run | rehearse
    assume_yes: bool = False  # confirm every step that asks (--yes)
    trigger: str = "manual"  # why the run started: manual, schedule, ...
    connections: Mapping[str, str] = field(default_factory=dict)  # NAME -> OTHER (--connection)
    # A run skipped because another is running reports the last finished run's status
    # ("last": a monitor sees no false recovery), or OK as before ("ok", --skipped-status).
    skipped_status: str = "last"
    # The longest the whole run may take, in seconds (--deadline; 0: none); None: the
    # runbook's `deadline:`, else runner.yaml's `defaults: deadline:`.
    deadline: float | None = None
    # Keep every for_each item in full, to list them all (--all-items).
    all_items: bool = False
    # The schedule slot this run is for (`runbook scheduler`), recorded with the run.
    slot: datetime | None = None
    # The scheduler whose claim of `slot` this run is (history/claims.py): its first
    # write confirms the claim, or the run is refused (ClaimLost) when it was taken over.
    claim: Claim | None = None


class RunService:
    """Runs runbooks of one configuration, one `run()` call per run.

    `sleep`, `ask`, `interactive`, `log`, `warn` and `environ` are how runs wait, ask
    for confirmation, talk, warn and see the environment (tests and embedders swap them);
    `progress` is told where a run is (the live line of `runbook run` on a terminal).
    `record=False` keeps runs out of the state store (and so announces nothing);
    `store` opens the state store and `clock` tells the time runs are announced at (and
    the store's daily upkeep counts from).
    """

    def __init__(
        self,
        config: Config,
        *,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        ask: Callable[[str], str] = input,
        interactive: bool | None = None,
        log: Callable[[str], None] = lambda message: None,
        warn: Callable[[str], None] | None = None,
        record: bool = True,
        store: Callable[[Config], StateStore] = open_store,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: Progress | None = None,
        cache: bool = True,
    ) -> None:
        self.config = config
        self.progress = progress  # told where each run is (a live line on a terminal)
        self.environ = environ
        self.sleep = sleep
        self.ask = ask
        self.interactive = interactive
        self.log = log
        # What a person must hear even without --verbose: a run not recorded, a spool
        # file set aside, a record that could only go to stderr. Default: stderr.
        self.warn = warn if warn is not None else _stderr
        self.record = record
        self._open_store = store
        # When a finished run is announced (repeat and escalation count from it), and
        # whether the store's daily upkeep (retention) is due.
        self.clock = clock
        # Keep what validation found under var/cache (language/cache.py).
        self.cache = cache

    def library(self) -> Library:
        """The runbooks and checks as the files are now: a new snapshot for every run, so a
        file edited between two runs is read again (and validated again)."""
        from runner.steps import STEP_TYPES

        return Library(
            self.config, STEP_TYPES, tags=_known_tags, tag_files=_tag_files, cache=self.cache
        )

    def open_store(self) -> StateStore:
        """The state store runs are recorded in (the caller closes it)."""
        return self._open_store(self.config)

    def load(self, name_or_path: str) -> Runbook:
        """The model of a runbook; raises NotFound or InvalidInput (nothing has run)."""
        return self.library().runbook(name_or_path)

    def run(
        self,
        request: RunRequest,
        *,
        abort: RunAbort | None = None,
        runbook: Runbook | None = None,
    ) -> RunResult:
        """Run one runbook and return its result, recorded and announced.

        Raises before anything starts (RunbookError: unknown runbook, invalid file, bad
        input, broken notification settings, a confirmation that cannot be asked). Once
        the run has started, its steps' failures are in the result, never raised. Setting
        `abort` stops the run: the running statement is cancelled and rolled back and the
        run ends `aborted` (`abort.abort("why")` says by whom). `runbook` runs a model the
        caller already loaded (the scheduler keeps the last version that validated)
        instead of loading `request.runbook` now.
        """
        library = self.library()
        if runbook is None:
            runbook = library.runbook(request.runbook)
        if self.cache:  # the run's templates compiled once, not every run (codecache.py)
            templates.keep_compiled(TemplateCodeCache(self.config.var_dir / "cache"))
        options = Options(
            mode=request.mode,
            assume_yes=request.assume_yes,
            interactive=self.interactive,
            trigger=request.trigger,
            connection_overrides=dict(request.connections),
            sleep=self.sleep,
            ask=self.ask,
            log=self.log,
            environ=self.environ,
            abort=abort if abort is not None else RunAbort(),
            deadline=runbook.deadline if request.deadline is None else request.deadline,
            all_items=request.all_items,
            progress=self.progress,
        )
        engine = Engine(library, options)
        self._register_secrets(engine)
        inputs = engine.resolve_inputs(runbook, request.params)
        claim = request.claim if request.slot is not None else None
        record = Recorder(self.config, engine.masker, self.warn, self.log, claim)
        if self._records(request):
            record.open(self._open_store)
        try:
            # Broken notification settings refuse the run before it starts (fail fast); a
            # notifier that fails later only costs recorded delivery failures.
            engine.notifier = self._notifier(engine, runbook, request.mode)
            run = engine.new_run(runbook, inputs)
            run.slot = request.slot
            if record.store is not None:  # runs that died, and their orphaned sessions
                from runner.service.reconcile import reconcile_before_run

                reconcile_before_run(record.store, runbook, engine, self.log)
            with young_collections_only():  # the model and the results: runner.base.gc_pause
                self._walk(engine, runbook, run, inputs, record, request.skipped_status)
            store = record.store
            if store is not None:
                from runner.notifiers.deliver import shown_deliveries

                now = self.clock()  # asked once: announcing and the store's upkeep
                try:
                    if engine.notifier is not None:
                        from runner.alerts.announce import announce

                        announce(run, runbook, self.config, store, engine.notifier, now=now)
                    run.notifications = shown_deliveries(store.deliveries(run.run_id))
                except ConfigError as exc:  # the store failed after the record was in
                    self.warn(f"runbook: {run.run_id} was not announced: {exc}")
                self._prune(store, now)
            elif record.active:  # recorded nowhere: the notify steps' deliveries as made
                from runner.notifiers.deliver import shown_deliveries

                run.notifications = shown_deliveries(record.masked(engine.deliveries))
            return run
        finally:
            record.close()

    def _register_secrets(self, engine: Engine) -> None:
        """Register the `${VAR}` values of runner.yaml with the run's masker before anything
        renders, in every mode: those of the notification URLs (only a real run that
        sends loads the notifier) and of every connection string (a run opens only the
        connections it uses, a dry run none), so a template that renders one is masked."""
        if self.config.notifications:  # none configured: notifiers/ is not loaded
            from runner.notifiers.settings import url_secrets

            engine.masker.add_many(url_secrets(self.config, engine.environ))
        for spec in self.config.connections.values():
            try:
                engine.masker.add_many(spec.resolve(engine.environ)[1])
            except ConfigError:  # unset: the connection says so when it is opened
                continue

    def _prune(self, store: StateStore, now: datetime) -> None:
        """Retention, at most daily after a recorded run, and bounded (PRUNE_LIMIT runs):
        it never changes the run's status; a failure is only a line in the log."""
        try:
            if not store.maintenance_due("prune", now):
                return
            retention = self.config.retention
            pruned = store.prune(retention.days, retention.keep, now=now, limit=PRUNE_LIMIT)
            if pruned.complete:  # else the next run goes on where this one stopped
                store.maintenance_done("prune", now)
        except Exception as exc:  # upkeep must never fail a run
            self.log(f"runbook: the state store was not pruned: {exc}")

    def _records(self, request: RunRequest) -> bool:
        return self.record and request.mode != "dry-run"

    def _walk(
        self,
        engine: Engine,
        runbook: Runbook,
        run: RunResult,
        inputs: dict[str, Any],
        record: Recorder,
        skipped_status: str = "last",
    ) -> None:
        """Under the run lock: record the start, walk, record the end."""
        mode = "allow" if engine.options.mode == "dry-run" else runbook.concurrency
        store = record.store
        folder = self.config.var_dir / "locks"
        lock = run_lock(folder, runbook.name, mode, run_id=run.run_id, state=store)
        try:
            acquired = lock.acquire()
        except OSError as exc:  # a full disk, a read-only var/: say it, never a traceback
            raise ConfigError(
                f"{folder}: cannot take the run lock of {runbook.name}: "
                f"{exc.strerror or exc} (a run must be able to make its lock file there; "
                "`runbook doctor` says what to fix)"
            ) from exc
        if not acquired:
            holder = lock.holder() or "another process"
            run.outcome, run.ended = "skipped", datetime.now(UTC)
            run.error = (
                f"{runbook.name} is already running ({holder}); "
                "this run was skipped (concurrency: skip)"
            )
            if skipped_status == "last":
                run.status, told = _last_status(runbook.name, store)
                run.error += f"; {told}"
            else:
                run.status = Status.OK
            record.finish(run, [])
            return
        verifier = LockVerifier(lock)
        engine.verify_lock = verifier
        if store is not None:  # the heartbeat: when a run that dies was last seen
            from runner.service.reconcile import with_heartbeat

            engine.verify_lock = with_heartbeat(verifier, store, run.run_id, self.log)
        try:
            record.start(run)
            engine.execute(runbook, run, inputs)
            if verifier.notes:  # lost and taken again: the run went on
                run.error = "\n".join(filter(None, [run.error, *verifier.notes]))
        finally:
            lock.release()
        mask_run(run, engine.masker.mask)
        record.finish(run, engine.deliveries)

    def _notifier(self, engine: Engine, runbook: Runbook, mode: str) -> Any:
        """The notifier a real run sends through; None when it has nothing to tell anyone."""
        if mode != "run" or not self.config.notifications:
            return None
        from runner.notifiers.settings import settings

        if not settings(self.config).configured:  # nobody to tell: alerts/ is not loaded
            return None
        from runner.alerts.announce import routes_anything
        from runner.notifiers.services import load_notifier

        sends = any(step.action == "notify" for step in runbook.all_steps())
        if not (sends or routes_anything(runbook, self.config)):
            return None
        return load_notifier(self.config, engine.masker, engine.environ)


def _tag_files(config: Config) -> tuple[Path, ...]:
    """The Apprise files whose tags validation reads (a cached result depends on them)."""
    if not config.notifications:
        return ()
    from runner.notifiers.settings import tag_files  # only when notifications are configured

    return tag_files(config)


def _known_tags(config: Config) -> frozenset[str] | None:
    from runner.notifiers.services import known_tags  # only when a runbook is validated

    return known_tags(config)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _last_status(runbook: str, store: StateStore | None) -> tuple[Status, str]:
    """The status a skipped run reports: the last finished run's (so a monitor sees no
    recovery that did not happen), UNKNOWN when none finished yet; and saying so."""
    last = store.last_run(runbook) if store is not None else None
    if last is None or not last.get("status"):
        return Status.UNKNOWN, "no earlier run has finished, so its status is not known"
    return (
        Status(last["status"]),
        f"the last finished run ({last['run_id']}) ended {last['status']}",
    )
