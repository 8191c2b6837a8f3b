"""The EDI demo's files under its root (var/demo/edi), where seed 002's troubleshooting
looks: the pickup and error folders, the dated logs, the metrics database, the config and
the backups.

    config/config.yaml                the processor's configuration
    pickup/*.x12                      files waiting (Sterling drops them here)
    error/*.x12                       files that failed
    logs/edi_processor_YYYYMMDD.log   one log a day, 45 days of them
    metrics/edi_metrics.db            SQLite: processing_metrics, a row per file
    backups/                          config_backup_YYYYMMDD.tar.gz, metrics_YYYYMMDD.db,
                                      logs_backup_YYYYMMDD.tar.gz (last night's)
    main.py                           a stand-in of the processor's command line: `python
                                      main.py process FILE` ends as the faults say
    tests/sample_data/sample_850.x12  the seed's sample file

What a fault changes (the pickup and error folders, today's log, the metrics of the last
hour, the backups the demo made) is rewritten from the `Scenario` when the faults change
or ten minutes pass; the rest (older logs, older metrics) is made once, so maintenance
runbooks can archive and delete it for real. File times are set from the demo's clock.
"""

from __future__ import annotations

import io
import os
import sqlite3
import tarfile
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from runner.databases.demo import ensure_demo
from runner.databases.demo_edi_metrics import DAY, INSERT, metric_row
from runner.databases.demo_edi_metrics import file_name as _name
from runner.databases.demo_edi_metrics import stamp as _stamp
from runner.demos.edi_scenario import ERROR_CODES, Scenario

HISTORY_DAYS = 45  # dated logs kept by the demo (the seed keeps 30: maintenance trims)

CONFIG = """\
# EDI processor configuration (demo)
sterling:
  pickup_dir: pickup
  error_dir: error
  delivery_host: sterling.example.com
acumatica:
  url: https://erp.example.com/entity/Default/22.200.001
  credentials: ${ACUMATICA_TOKEN}
metrics:
  database: metrics/edi_metrics.db
logging:
  directory: logs
  file: edi_processor_%Y%m%d.log
performance:
  max_workers: 4
  batch_size: 100
  cache_size: 1000
"""

#: The processor's command line, as far as seed 002's "Test with sample file" needs it:
#: `python main.py process FILE` processes FILE and exits 0, or prints the error code
#: and exits 1; how it ends follows the demo's faults (written to .demo-sample at each
#: sync). Standard library only: any Python 3 runs it.
MAIN = """\
\"\"\"EDI processor (demo stand-in): python main.py process FILE\"\"\"
import pathlib
import sys

if len(sys.argv) != 3 or sys.argv[1] != "process":
    sys.exit("usage: python main.py process FILE")
path = pathlib.Path(sys.argv[2])
if not path.is_file():
    print(f"E001 File read error: {path}: no such file", file=sys.stderr)
    sys.exit(1)
if not path.read_text(errors="replace").startswith("ISA*"):
    print(f"E002 Parse error: {path}: not an X12 interchange", file=sys.stderr)
    sys.exit(1)
code, line = (pathlib.Path(__file__).parent / ".demo-sample").read_text().strip().split(" ", 1)
print(line, file=sys.stdout if code == "0" else sys.stderr)
sys.exit(int(code))
"""


class World:
    """The demo's files for one root, brought up to date with `sync` before a request."""

    def __init__(self, root: Path, clock: Callable[[], float]) -> None:
        self.root = root
        self.clock = clock
        self._lock = threading.Lock()
        self._synced: tuple[frozenset[str], int] | None = None
        self._recent_since: float | None = None  # where the rows this demo wrote begin

    def sync(self, faults: frozenset[str], scenario: Scenario) -> None:
        """Make the files say what `scenario` says (once per faults and ten minutes)."""
        now = self.clock()
        key = (faults, int(now // 600))
        with self._lock:
            if key == self._synced:
                return
            self._made_once(now)
            self._pickup(scenario, now)
            self._errors(scenario, now)
            self._today_log(scenario, now)
            self._recent_metrics(scenario, now)
            self._backups(scenario, now)
            code, line = scenario.sample
            (self.root / _SAMPLE).write_text(f"{code} {line}\n", encoding="utf-8")
            self._synced = key

    # -- made once -------------------------------------------------------------------

    def _made_once(self, now: float) -> None:
        for folder in ("pickup", "error", "logs", "metrics", "backups", "config"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "main.py").write_text(MAIN, encoding="utf-8")
        sample = self.root / "tests" / "sample_data" / "sample_850.x12"
        if not sample.exists():
            sample.parent.mkdir(parents=True, exist_ok=True)
            _edi_file(sample, now - 20 * DAY, kb=1)
        config = self.root / "config" / "config.yaml"
        if not config.exists():
            config.write_text(CONFIG, encoding="utf-8")
            _touch(config, now - 45 * DAY)  # last changed before last month's review
        logs = self.root / "logs"
        if not any(logs.glob("edi_processor_*.log")):
            for days in range(1, HISTORY_DAYS + 1):
                # A minute older than `days` days, whatever the time of day: "older than
                # 30 days" takes the same logs at 00:05 as at 23:55, and no two share a name.
                moment = now - days * DAY - 60
                path = logs / f"edi_processor_{_day(moment):%Y%m%d}.log"
                path.write_text(_day_log(moment, days), encoding="utf-8")
                _touch(path, moment)
        # the edi_metrics connection's demo database (runner.yaml), history included
        ensure_demo("edi_metrics", self.root / "metrics" / "edi_metrics.db", _utc(now))

    # -- rewritten from the scenario -------------------------------------------------

    def _pickup(self, s: Scenario, now: float) -> None:
        folder = self.root / "pickup"
        _clear(folder, "*.x12")
        for n in range(s.queue_depth):
            # the oldest first, the newest a few seconds old
            age = s.oldest_seconds - (s.oldest_seconds - 5) * n / max(s.queue_depth - 1, 1)
            _edi_file(folder / _name(n, now - age), now - age, kb=s.avg_file_kb)

    def _errors(self, s: Scenario, now: float) -> None:
        folder = self.root / "error"
        _clear(folder, "*.x12")
        for n, days in enumerate((1.2, 3.5)):  # the usual few, days old
            _edi_file(folder / _name(900 + n, now - days * DAY), now - days * DAY, kb=12)
        for n in range(s.error_files_last_hour):
            age = 60 + 3300 * n / max(s.error_files_last_hour, 1)
            _edi_file(folder / _name(500 + n, now - age), now - age, kb=s.avg_file_kb)

    def _today_log(self, s: Scenario, now: float) -> None:
        """The log of the day the processor last wrote: today's, or, when its monitor
        stopped before midnight, that day's (and none for today)."""
        # A stopped monitor writes nothing after it stopped.
        last = now - s.seconds_since_poll if not s.monitor_running else now
        path = self.root / "logs" / f"edi_processor_{_day(last):%Y%m%d}.log"
        today = self.root / "logs" / f"edi_processor_{_day(now):%Y%m%d}.log"
        if today != path:
            today.unlink(missing_ok=True)
        midnight = _day(last).timestamp()
        lines = []
        moment = midnight
        while moment < last:
            lines.append(_line(moment, "INFO", f"Processed {_name(int(moment) // 600, moment)}"))
            moment += 600
        incident_at = last if not s.monitor_running else max(midnight, now - 1800)
        for n, (level, code, text) in enumerate(s.incidents):
            message = f"{code} {text}" if code else text
            lines.append(_line(incident_at - n, level, message))
        lines.sort()
        path.write_text("".join(lines), encoding="utf-8")
        _touch(path, last)

    def _recent_metrics(self, s: Scenario, now: float) -> None:
        database = self.root / "metrics" / "edi_metrics.db"
        since = now - 3600
        if self._recent_since is None:
            self._recent_since = since
        rows = []
        total = s.processed_last_hour + s.failed_last_hour
        codes = [code for code, count in s.errors_24h.items() for _ in range(count)] or ["E003"]
        for n in range(total):
            at = since + 3600 * (n + 0.5) / total
            slow = n % 10 == 9  # one file in ten takes the p95 time
            seconds = s.p95_seconds if slow else s.avg_seconds
            error = codes[n % len(codes)] if n < s.failed_last_hour else None
            rows.append(metric_row(n, at, seconds, error))
        with closing(sqlite3.connect(database)) as db, db:
            # the rows written for earlier faults go too, not only the last hour's
            db.execute(
                "DELETE FROM processing_metrics WHERE processed_at >= ?",
                (_stamp(self._recent_since),),
            )
            db.executemany(INSERT, rows)

    def _backups(self, s: Scenario, now: float) -> None:
        folder = self.root / "backups"
        marks = folder / _DEMO_MADE  # the backups the demo wrote last time, one a line
        if marks.exists():
            for name in marks.read_text(encoding="utf-8").split():
                (folder / name).unlink(missing_ok=True)
            marks.unlink()
        taken = now - s.backup_age_days * DAY
        stamp = f"{_day(taken):%Y%m%d}"
        config = folder / f"config_backup_{stamp}.tar.gz"
        _tar(config, self.root, "config")
        metrics = folder / f"metrics_{stamp}.db"
        if s.backup_corrupt:
            metrics.write_bytes(b"partial copy: disk full during backup\n" * 20)
        else:
            with (
                closing(sqlite3.connect(self.root / "metrics" / "edi_metrics.db")) as source,
                closing(sqlite3.connect(metrics)) as copy,
            ):
                source.backup(copy)
        logs = folder / f"logs_backup_{stamp}.tar.gz"
        _tar(logs, self.root, "logs")
        for path in (config, metrics, logs):
            _touch(path, taken)
        marks.write_text(f"{config.name}\n{metrics.name}\n{logs.name}\n", encoding="utf-8")


# -- helpers ---------------------------------------------------------------------------

_DEMO_MADE = ".demo-made"
_SAMPLE = ".demo-sample"


def _utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _day(moment: float) -> datetime:
    day = datetime.fromtimestamp(moment, UTC)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _line(moment: float, level: str, message: str) -> str:
    at = datetime.fromtimestamp(moment, UTC)
    millis = at.microsecond // 1000
    return f"{at:%Y-%m-%d %H:%M:%S},{millis:03d} - edi_processor - {level} - {message}\n"


def _day_log(end: float, days_ago: int) -> str:
    lines = [_line(end - 600 * k, "INFO", f"Processed {_name(k, end)}") for k in range(6, 0, -1)]
    if days_ago % 4 == 0:
        code = ("E002", "E003")[days_ago % 8 // 4]
        lines.insert(3, _line(end - 2000, "ERROR", f"{code} {ERROR_CODES[code][0]}: see error/"))
    return "".join(lines)


def _edi_file(path: Path, moment: float, kb: int) -> None:
    segment = "ST*850*0001~BEG*00*SA*PO123**20261201~N1*ST*ACME~PO1*1*10*EA*9.99~SE*5*0001~\n"
    head = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *~\n"
    body = segment * max(1, min(kb, 64) * 1024 // len(segment))  # at most 64 KB on disk
    path.write_text(head + body, encoding="ascii")
    _touch(path, moment)


def _tar(path: Path, root: Path, folder: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for file in sorted((root / folder).iterdir()):
            if file.is_file():
                archive.add(file, arcname=f"{folder}/{file.name}")
    path.write_bytes(buffer.getvalue())


def _clear(folder: Path, pattern: str) -> None:
    for path in folder.glob(pattern):
        path.unlink()


def _touch(path: Path, moment: float) -> None:
    os.utime(path, (moment, moment))
