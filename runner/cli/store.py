"""`runbook history`, `runbook status`, `runbook metrics` and `runbook prune`: the
commands that read the state store (runs, their values, the open alerts, late
detection) or tidy it.
cli/commands.py hands each the runner.yaml or the library it loaded."""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.schedule.lateness import judge

if TYPE_CHECKING:
    import argparse

    from runner.language.config import Config


def _emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


_MAX_LIMIT = 2**63 - 1


def history_command(args: argparse.Namespace, config: Config) -> int:
    from runner.history.store import open_store
    from runner.reports import render as report

    if args.limit > _MAX_LIMIT:
        from runner.base.errors import InputError

        raise InputError(
            f"--limit must be at most {_MAX_LIMIT} (the largest number the state store "
            f"takes), got {args.limit}"
        )
    store = open_store(config)
    try:
        _reconcile(store)
        if args.run:
            found = store.get_run(args.run)
            if found is None:
                from runner.base.errors import NotFound

                raise NotFound(f"no run with id {args.run!r} in {store.display}")
            if args.format == "json":
                _emit(report.render_recorded_run_json(found, all_items=args.all_items))
            else:
                from runner.language.results import run_from_dict

                _emit(report.render_run(run_from_dict(found), "text", all_items=args.all_items))
            return 0
        rows = store.history(args.name, limit=args.limit)
        if args.value:
            from runner.reports.trend import add_values, value_names

            names = value_names(args.value)
            steps = sorted({step for step, _ in names})
            add_values(rows, names, store.step_values([r["run_id"] for r in rows], steps))
        _emit(report.render_history(rows, args.format))
    finally:
        store.close()
    return 0


def prune_command(args: argparse.Namespace, config: Config) -> int:
    from runner.base.structs import asdict
    from runner.history.store import open_store
    from runner.reports.prune import render_prune

    retention = config.retention
    with open_store(config) as store:
        pruned = store.prune(retention.days, retention.keep, dry_run=args.dry_run)
        if not args.dry_run:
            store.maintenance_done("prune")
        where = store.display
    answer = {
        **asdict(pruned),
        "days": retention.days,
        "keep": retention.keep,
        "dry_run": args.dry_run,
        "store": where,
    }
    answer.pop("complete")
    _emit(render_prune(answer, args.format))
    return 0


def _reconcile(store: Any) -> None:
    """Runs whose process died are marked abandoned first (history/reconcile.py); a
    store this user cannot write is still read, with a line saying so."""
    try:
        store.reconcile()
    except Exception as error:
        print(f"runbook: runs that died were not reconciled: {error}", file=sys.stderr)


def status_command(args: argparse.Namespace, library: Any) -> int:
    from runner.base.status import Status, worst
    from runner.reports import render as report

    rows = status_rows(library)
    _emit(report.render_status(rows, args.format))
    statuses = [Status(row["status"]) for row in rows if row["status"]]
    statuses += [Status.CRITICAL for row in rows if row["late"]]
    return worst(statuses).exit_code


def status_rows(library: Any) -> list[dict[str, Any]]:
    """Each runbook's row of `runbook status` (its last finished run, open alert and
    lateness), worst first: what `status` prints, and what `runbook serve` is handed to
    show (the dashboard is at cli's level and does not import cli)."""
    from runner.base.status import Status
    from runner.history.store import open_store

    store = open_store(library.config)
    now = datetime.now(UTC)
    rows = []
    try:
        _reconcile(store)
        open_alerts = {
            alert["runbook"]: alert
            for alert in store.alert_states()
            if alert.get("announced") and not alert.get("subject")
        }
        # one query for every runbook: its last finished run, and late detection's newest
        # run (running ones too)
        last_runs, newest = store.last_runs()
        slots = _DueSlots(now, library.cache.folder if library.cache is not None else None)
        for name in library.names("runbook"):
            last = last_runs.get(name) or {}
            alert = open_alerts.get(name)
            path = library.path_of("runbook", name)
            # from var/cache when unchanged; an invalid file is still listed: its
            # history may say more than its file
            info, errors = library.summary(path) if path else ({}, 1)
            schedule = info.get("schedule") if not errors else None
            timing = info.get("timing")
            late = (
                slots.late(schedule, timing, newest.get(name), path)
                if schedule and timing
                else None
            )
            rows.append(
                {
                    "runbook": name,
                    "status": last.get("status"),
                    "run_id": last.get("run_id"),
                    "started": last.get("started"),
                    "duration": last.get("duration"),
                    "schedule": schedule,
                    "alert": f"{alert['announced']} announced" if alert else None,
                    "outcome": last.get("outcome"),
                    "late": late,
                }
            )
    finally:
        store.close()
    library.save_cache()
    slots.save()
    order = {status.value: status.rank for status in Status}
    # a late runbook ranks as CRITICAL: the run that should have happened did not
    critical = Status.CRITICAL.rank
    rows.sort(
        key=lambda row: (
            -max(order.get(row["status"] or "", -1), critical if row["late"] else -1),
            row["runbook"],
        )
    )
    return rows


def metrics_command(args: argparse.Namespace, library: Any) -> int:
    """Prometheus metrics (service/metrics.py) on stdout, or written whole to --textfile
    for node_exporter's textfile collector, which must never read half a file."""
    from runner.service.metrics import metrics_text

    text = metrics_text(library, warn=lambda message: print(f"runbook: {message}", file=sys.stderr))
    if args.textfile is None:
        sys.stdout.write(text)
        return 0
    write_textfile(Path(args.textfile), text)
    return 0


def write_textfile(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: to a temporary file in the same folder (which
    the collector skips: it reads *.prom only), then renamed over `path`. Readable by
    node_exporter's user (0644). Raises InputError naming the path when it cannot."""
    import tempfile

    from runner.base.errors import InputError

    if path.suffix != ".prom":
        raise InputError(
            f"--textfile {path}: name it *.prom: node_exporter's textfile collector reads "
            "only files ending in .prom"
        )
    temporary = None
    try:
        with tempfile.NamedTemporaryFile(
            "w",
            dir=path.parent,
            prefix=f".{path.name}.",
            suffix=".tmp",
            delete=False,
            encoding="utf-8",
        ) as out:
            temporary = out.name
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            with suppress(OSError):
                os.unlink(temporary)
        raise InputError(f"--textfile {path}: cannot write it: {error.strerror or error}") from None


class _DueSlots:
    """Late detection for `runbook status` (schedule/lateness.py) at one moment: the due
    slot of each (schedule, zone, grace) is worked out once. It is kept in var/cache
    with the AHEAD fire times after it (a day of an hourly schedule), and found among
    them until the last one is due: croniter (a sixth of the time of `status` just to
    import) is then not loaded at all. With only the next fire time kept, each schedule
    loaded it again once an interval, so that most runs of `status` loaded it."""

    AHEAD = 24

    def __init__(self, now: datetime, folder: Path | None) -> None:
        import json

        self.now = now
        self.path = folder / "due-slots.json" if folder is not None else None
        self._slots: dict[str, datetime | None] = {}
        self._kept: dict[str, list[str]] = {}
        self._changed = False
        if self.path is not None:
            try:
                kept = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                kept = {}
            self._kept = kept if isinstance(kept, dict) else {}

    def late(
        self,
        schedule: str,
        timing: dict[str, Any],
        newest: tuple[datetime, bool] | None,
        path: Path | None,
    ) -> dict[str, Any] | None:
        """The `late` object of a scheduled runbook, None when it is on time. One that
        never ran is not late for slots before its file was last written. Called for
        each scheduled runbook: it imports nothing (an import statement, even of a
        module loaded already, costs about as much as judging one runbook)."""
        grace = float(timing["grace"])
        key = f"{schedule}\0{timing.get('timezone')}\0{grace!r}"
        if key not in self._slots:
            self._slots[key] = self._due(key, schedule, timing.get("timezone"), grace)
        since = None
        if newest is None and path is not None:
            with suppress(OSError):
                since = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        found = judge(self._slots[key], grace, newest, since)
        return found.as_dict() if found is not None else None

    def _due(self, key: str, schedule: str, timezone: str | None, grace: float) -> datetime | None:
        from bisect import bisect_right

        moment = self.now - timedelta(seconds=grace)
        kept = self._kept.get(key)
        if isinstance(kept, list) and len(kept) >= 2 and all(isinstance(v, str) for v in kept):
            times = [datetime.fromisoformat(value) for value in kept]  # a slot, then fire times
            if times[0] <= moment < times[-1]:  # no fire time between two kept ones
                return times[bisect_right(times, moment) - 1]
        from runner.schedule.cron import CronSchedule, ScheduleError
        from runner.schedule.lateness import due_slot

        try:
            cron = CronSchedule(schedule, timezone)
        except ScheduleError:
            return None  # `runbook validate` says why
        found = due_slot(cron, grace, self.now)
        upcoming = [fire.astimezone(UTC) for fire in cron.next_times(moment, self.AHEAD)]
        if found is not None and upcoming:
            self._kept[key] = [when.isoformat() for when in (found, *upcoming)]
            self._changed = True
        return found

    def save(self) -> None:
        """Keep what was worked out (best effort: a cache that cannot be written is
        worked out again next time)."""
        import json
        import tempfile

        if self.path is None or not self._changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", dir=self.path.parent, delete=False, suffix=".tmp", encoding="utf-8"
            ) as out:
                json.dump(self._kept, out)
            os.replace(out.name, self.path)
        except OSError:
            return
