"""The EDI demo's numbers: what the processor reports for the faults it is switched into.

Everything the demo shows (its API's answers, the files it leaves in the pickup and error
folders, its log lines, the last hour of its metrics database) comes from one `Scenario`,
derived from the faults alone, so a run against the demo is repeatable. Faults combine:
each changes only the numbers its failure is about, the worst value wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

#: Seed 002's error code table: code -> (description, resolution).
ERROR_CODES: dict[str, tuple[str, str]] = {
    "E001": ("File read error", "Check file permissions and format"),
    "E002": ("Parse error", "Verify EDI format"),
    "E003": ("Validation error", "Review validation rules"),
    "E004": ("Delivery error", "Check Sterling connectivity"),
    "E005": ("API error", "Verify API credentials and connectivity"),
}

#: fault -> what it does (the demo's FAULTS): one per failure seed 002 describes.
FAULTS: dict[str, str] = {
    "files-stuck": "the file monitor stopped 3 hours ago: files pile up in pickup/, "
    "nothing is processed, the log went quiet (Files Not Processing)",
    "permissions": "the monitor cannot read pickup/ (Permission denied, E001): files pile "
    "up while it runs (Files Not Processing: verify directory permissions)",
    "high-error-rate": "18% of files fail parse and validation (E002, E003) and land in "
    "error/ (High Error Rate)",
    "sterling-down": "Sterling is unreachable: deliveries fail with E004 (High Error Rate: "
    "verify Sterling connectivity)",
    "acumatica-auth": "the Acumatica API answers 401: E005 API errors (High Error Rate: "
    "verify API credentials)",
    "slow": "files take 38 s on average (p95 96 s), all workers busy, the database slow "
    "and the files large; the queue grows (Slow Processing)",
    "disk-full": "the data volume is 96% full: E001 'No space left on device' (System "
    "Resources: disk space)",
    "api-down": "/health and /api/v1/status answer 503 (System down: Critical)",
    "quiet-night": "no file came for an hour (none processed), then one arrived seconds "
    "ago: nothing is wrong (Monitoring: a quiet hour is no incident)",
    "backup-stale": "the newest config, metrics and log backups are 9 days old (Backup "
    "and Recovery)",
    "backup-corrupt": "the newest metrics backup is not a SQLite database (Backup and "
    "Recovery: restore verification)",
}


@dataclass(frozen=True)
class Dependency:
    """A system the processor talks to, as /health reports it."""

    status: str = "ok"
    latency_ms: float | None = 80.0


@dataclass(frozen=True)
class Scenario:
    """What the processor looks like now."""

    api_up: bool = True
    monitor_running: bool = True
    seconds_since_poll: int = 5
    processed_last_hour: int = 120
    failed_last_hour: int = 1
    avg_seconds: float = 1.4
    p95_seconds: float = 3.2
    queue_depth: int = 3
    oldest_seconds: int = 40
    workers_busy: int = 1
    workers_max: int = 4
    avg_file_kb: int = 18
    disk_percent: float = 42.0
    pickup_readable: bool = True
    errors_24h: dict[str, int] = field(
        default_factory=lambda: {"E001": 0, "E002": 2, "E003": 3, "E004": 0, "E005": 0}
    )
    sterling: Dependency = Dependency("ok", 85.0)
    acumatica: Dependency = Dependency("ok", 120.0)
    database: Dependency = Dependency("ok", 4.0)
    #: log lines of the last hour beyond the usual INFO ones: (level, code, text)
    incidents: tuple[tuple[str, str, str], ...] = ()
    error_files_last_hour: int = 0
    backup_age_days: float = 0.25
    backup_corrupt: bool = False

    @property
    def files_per_hour(self) -> int:
        return self.processed_last_hour

    @property
    def error_rate_percent(self) -> float:
        total = self.processed_last_hour + self.failed_last_hour
        return round(100.0 * self.failed_last_hour / total, 1) if total else 0.0

    @property
    def status(self) -> str:
        if not self.api_up:
            return "unhealthy"
        troubled = (
            not self.monitor_running
            or not self.pickup_readable
            or self.disk_percent >= 90
            or any(d.status != "ok" for d in (self.sterling, self.acumatica, self.database))
        )
        return "degraded" if troubled else "healthy"

    @property
    def sample(self) -> tuple[int, str]:
        """What `python main.py process tests/sample_data/sample_850.x12` ends with: its
        exit code and its last line (the file is parsed, validated, delivered to Sterling
        and its order sent to Acumatica, so those failures fail it too)."""
        if self.disk_percent >= 90:
            return 1, "E001 File read error: [Errno 28] No space left on device"
        if self.sterling.status != "ok":
            return 1, "E004 Delivery error: connection to sterling:22 refused"
        if self.acumatica.status != "ok":
            return 1, "E005 API error: Acumatica answered 401 Unauthorized"
        return 0, (
            f"Processed sample_850.x12: 850 purchase order, 1 transaction set, valid,"
            f" delivered to Sterling in {self.avg_seconds:.1f}s"
        )


def _more_errors(scenario: Scenario, counts: dict[str, int]) -> dict[str, int]:
    return {code: n + counts.get(code, 0) for code, n in scenario.errors_24h.items()}


def scenario(faults: Iterable[str]) -> Scenario:
    """The processor's numbers with `faults` on (none: a healthy morning)."""
    now = Scenario()
    for fault in sorted(set(faults)):
        now = _APPLY[fault](now)
    return now


def _files_stuck(s: Scenario) -> Scenario:
    return replace(
        s,
        monitor_running=False,
        seconds_since_poll=max(s.seconds_since_poll, 3 * 3600),
        processed_last_hour=0,
        failed_last_hour=0,
        queue_depth=max(s.queue_depth, 48),
        oldest_seconds=max(s.oldest_seconds, 3 * 3600),
        workers_busy=0,
        incidents=(
            *s.incidents,
            ("CRITICAL", "", "File monitor stopped: worker thread died (MemoryError)"),
        ),
    )


def _permissions(s: Scenario) -> Scenario:
    return replace(
        s,
        pickup_readable=False,
        processed_last_hour=0,
        failed_last_hour=max(s.failed_last_hour, 30),
        queue_depth=max(s.queue_depth, 30),
        oldest_seconds=max(s.oldest_seconds, 40 * 60),
        errors_24h=_more_errors(s, {"E001": 30}),
        incidents=(
            *s.incidents,
            ("ERROR", "E001", "File read error: [Errno 13] Permission denied: 'pickup/'"),
        ),
    )


def _high_error_rate(s: Scenario) -> Scenario:
    return replace(
        s,
        processed_last_hour=min(s.processed_last_hour, 110),
        failed_last_hour=s.failed_last_hour + 23,
        errors_24h=_more_errors(s, {"E002": 7, "E003": 28}),
        error_files_last_hour=s.error_files_last_hour + 24,
        incidents=(
            *s.incidents,
            ("ERROR", "E003", "Validation error: N1*ST segment missing (partner ACME, 850)"),
            ("ERROR", "E002", "Parse error: ISA segment length 105, expected 106"),
        ),
    )


def _sterling_down(s: Scenario) -> Scenario:
    return replace(
        s,
        sterling=Dependency("unreachable", None),
        failed_last_hour=s.failed_last_hour + 18,
        processed_last_hour=min(s.processed_last_hour, 102),
        errors_24h=_more_errors(s, {"E004": 18}),
        error_files_last_hour=s.error_files_last_hour + 18,
        incidents=(
            *s.incidents,
            ("ERROR", "E004", "Delivery error: connection to sterling:22 refused"),
        ),
    )


def _acumatica_auth(s: Scenario) -> Scenario:
    return replace(
        s,
        acumatica=Dependency("unauthorized", 95.0),
        failed_last_hour=s.failed_last_hour + 15,
        processed_last_hour=min(s.processed_last_hour, 105),
        errors_24h=_more_errors(s, {"E005": 15}),
        error_files_last_hour=s.error_files_last_hour + 15,
        incidents=(
            *s.incidents,
            ("ERROR", "E005", "API error: Acumatica answered 401 Unauthorized (token expired)"),
        ),
    )


def _slow(s: Scenario) -> Scenario:
    return replace(
        s,
        avg_seconds=max(s.avg_seconds, 38.0),
        p95_seconds=max(s.p95_seconds, 96.0),
        processed_last_hour=min(s.processed_last_hour, 40),
        queue_depth=max(s.queue_depth, 36),
        oldest_seconds=max(s.oldest_seconds, 25 * 60),
        workers_busy=s.workers_max,
        avg_file_kb=max(s.avg_file_kb, 2400),
        database=Dependency("ok", 850.0),
        incidents=(
            *s.incidents,
            ("WARNING", "", "Slow processing: 850_BIGBOX_004711.x12 (2.4 MB) took 96.3s"),
        ),
    )


def _disk_full(s: Scenario) -> Scenario:
    return replace(
        s,
        disk_percent=max(s.disk_percent, 96.0),
        failed_last_hour=s.failed_last_hour + 12,
        errors_24h=_more_errors(s, {"E001": 12}),
        incidents=(
            *s.incidents,
            ("ERROR", "E001", "File read error: [Errno 28] No space left on device"),
        ),
    )


def _api_down(s: Scenario) -> Scenario:
    return replace(s, api_up=False)


def _quiet_night(s: Scenario) -> Scenario:
    return replace(
        s,
        processed_last_hour=0,
        failed_last_hour=0,
        queue_depth=1,
        oldest_seconds=20,
        workers_busy=0,
    )


def _backup_stale(s: Scenario) -> Scenario:
    return replace(s, backup_age_days=max(s.backup_age_days, 9.0))


def _backup_corrupt(s: Scenario) -> Scenario:
    return replace(s, backup_corrupt=True)


_APPLY = {
    "files-stuck": _files_stuck,
    "permissions": _permissions,
    "high-error-rate": _high_error_rate,
    "sterling-down": _sterling_down,
    "acumatica-auth": _acumatica_auth,
    "slow": _slow,
    "disk-full": _disk_full,
    "api-down": _api_down,
    "quiet-night": _quiet_night,
    "backup-stale": _backup_stale,
    "backup-corrupt": _backup_corrupt,
}
assert set(_APPLY) == set(FAULTS)
