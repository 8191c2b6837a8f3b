"""A run's record: in the state store, or in the spool when the store fails (RunService's
part that writes; service/runs.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any

from runner.base.errors import ConfigError
from runner.base.masking import Masker
from runner.history.claims import Claim, ClaimLost
from runner.history.faults import StoreUnwritable
from runner.history.store import StateStore
from runner.language.config import Config
from runner.language.results import RunResult


class Recorder:
    """A run's record in the state store, or in the spool when the store fails.

    The store failing never costs a run its answer: when it cannot be opened or written
    (StoreUnwritable: a full disk, a read-only or immutable file, PostgreSQL gone) the
    steps run all the same; when the end cannot be recorded (that, or a damaged file)
    the result is still reported with its status. Either way `run.not_recorded` says
    why, and the record waits in the spool (history/spool.py), or goes to stderr as
    JSON when even that cannot be written. A damaged store found before any step ran
    refuses the run (StoreDamaged, UNKNOWN): a person must look at it first.

    The run of a claimed schedule slot (`claim`) is the exception: its first write
    confirms the claim (history/claims.py), and without it the run is refused
    (ClaimLost), whether the claim was taken over or the write failed, since another
    scheduler could take over a claim that was never confirmed and run the slot too.
    """

    def __init__(
        self,
        config: Config,
        masker: Masker,
        warn: Callable[[str], None],
        log: Callable[[str], None],
        claim: Claim | None = None,
    ) -> None:
        self.config = config
        self.masker = masker
        self.warn = warn
        self.log = log
        self.claim = claim  # the scheduler's claim of the run's slot, confirmed at start
        self.store: StateStore | None = None
        self.active = False  # a run that records (not a dry run, not record=False)
        self.started = False  # its start is recorded (and its claim confirmed)
        self.reason: str | None = None  # why the store does not take this run's record

    def open(self, opener: Callable[[Config], StateStore]) -> None:
        """Open the store, and record what the spool holds; a store that cannot be
        written leaves the run to go on unrecorded (a damaged one is raised)."""
        self.active = True
        try:
            self.store = opener(self.config)
        except StoreUnwritable as exc:
            self.reason = exc.format_message()
            return
        self.store.masker = self.masker  # secrets found during the run never reach it
        self._import()

    def start(self, run: RunResult) -> None:
        """Record the start; ClaimLost refuses a claimed run whose claim is not
        confirmed by it."""
        if self.store is None:
            self._unconfirmed()
            return
        try:
            self.store.start_run(run, self.claim)
            self.started = True
        except StoreUnwritable as exc:
            self._lose(exc.format_message())
            self._unconfirmed()

    def _unconfirmed(self) -> None:
        if self.claim is not None and self.active:
            raise ClaimLost(
                f"its start could not be recorded to confirm its claim ({self.reason}); "
                "not run here"
            )

    def finish(self, run: RunResult, deliveries: Sequence[Mapping[str, Any]]) -> None:
        """Record how the run ended; when the store fails, keep it in the spool."""
        if not self.active:
            return
        if self.store is not None:
            try:  # a run not started (skipped) confirms its claim here
                self.store.record_finished(run, deliveries, None if self.started else self.claim)
                return
            except ClaimLost:
                raise
            except Exception as exc:  # anything: the steps have run, the answer stands
                self._lose(exc.format_message() if isinstance(exc, ConfigError) else repr(exc))
        self._spool(run, deliveries)

    def masked(self, deliveries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        from runner.history.records import storable

        return [dict(item) for item in storable([dict(item) for item in deliveries], self.masker)]

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def _lose(self, reason: str) -> None:
        """The store failed: the rest of this run records nothing there."""
        self.reason = reason
        if self.store is not None:
            with suppress(Exception):
                self.store.close()
            self.store = None

    def _spool(self, run: RunResult, deliveries: Sequence[Mapping[str, Any]]) -> None:
        import json

        from runner.history.spool import spool_dir, spool_record, write_spool

        reason = self.masker.mask_text(self.reason or "the state store failed")
        record = spool_record(run, deliveries, reason, self.masker)
        directory = spool_dir(self.config)
        try:
            kept = write_spool(directory, record)
            where = f"its record is kept in {kept} until a run can write the store"
        except OSError as exc:
            self.warn(json.dumps(record, ensure_ascii=False))
            where = (
                f"its record could not be kept in {directory} either ({exc.strerror or exc}) "
                "and was written to stderr as JSON"
            )
        run.not_recorded = f"the run was not recorded: {reason}; {where}"
        self.warn(f"runbook: {run.not_recorded}")

    def _import(self) -> None:
        """Record the runs the spool kept; never fails the run that does it."""
        from runner.history.spool import import_spool, spool_dir

        assert self.store is not None
        directory = spool_dir(self.config)
        try:
            done = import_spool(directory, self.store)
        except ConfigError as exc:
            self.warn(f"runbook: the runs kept in {directory} were not recorded yet: {exc}")
            return
        for note in done.notes:
            self.warn(f"runbook: spool: {note}")
        if done.recorded:
            self.log(f"runbook: recorded {len(done.recorded)} run(s) kept in {directory}")
