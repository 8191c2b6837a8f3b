"""`runbook doctor`: everything a scheduled run needs, checked as the user who runs it.

Each check is one function returning a `Finding` (ok, what was found, what to fix), so
that the command line, and the scheduler to come, can show them one per line:

    config         runner.yaml loads; every runbook and check validates
    var            the var folder exists or can be created, and all in it is writable
    state store    the store opens (SQLite file writable, or the shared PostgreSQL)
    connection X   its driver is installed; it opens as a run opens it; SELECT 1
    notifications  every URL loads into Apprise (nothing is sent)
    clock          the year is plausible and not behind the newest recorded run

Writability is read with `os.access`, which answers for the real user: a store that
root created and nagios runs is "exists but not writable by nagios". root may write
anything, so as root only what the kernel refuses shows (a path through a regular file).
A check never raises: whatever goes wrong is its finding, with secrets masked.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from runner.base.errors import InvalidInput, RunbookError
from runner.base.masking import Masker
from runner.language.config import Config, ConnectionSpec, load_config

#: No clock that runs this project may show an earlier year: a year before it is a
#: clock reset to its epoch (1970, 2000) by a dead RTC battery or a missing NTP sync.
EARLIEST_YEAR = 2025
#: Nor a later one (the same fault the other way).
LATEST_YEAR = 2100
#: How far the clock may be behind the newest recorded run (clocks of two hosts differ).
CLOCK_SLACK = timedelta(minutes=5)
#: Entries of the var folder looked at for "exists but not writable by me".
_MOST_ENTRIES = 2000
#: Seconds `SELECT 1` may take on a connection.
PROBE_TIMEOUT = 10.0
_DRIVER = re.compile(r"(?:^|;)\s*DRIVER\s*=\s*(?:\{(?P<braced>[^}]*)\}|(?P<bare>[^;]*))", re.I)


@dataclass(frozen=True)
class Finding:
    """One check's answer: `fix` says what to do when it is not ok."""

    check: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return all(finding.ok for finding in self.findings)

    @property
    def failed(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if not finding.ok)


def user_name() -> str:
    """Who the checks run as, as chown wants it."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # Windows, or a uid without a passwd entry
        return os.environ.get("USER") or os.environ.get("USERNAME") or str(os.getuid())


def diagnose(
    config_path: str | os.PathLike[str] | None = None,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    environ: dict[str, str] | None = None,
) -> Diagnosis:
    """Every check of a configuration, in the order a run meets them."""
    masker = Masker()
    masker.add_env(os.environ if environ is None else environ)
    config, finding = check_config_loads(config_path)
    findings = [finding]
    if config is None:  # nothing else can be read
        return Diagnosis(tuple(findings))
    checks: list[tuple[str, Callable[[], Finding]]] = [
        ("runbooks", partial(check_runbooks, config)),
        ("var", partial(check_var_dir, config)),
        ("state store", partial(check_state_store, config, masker)),
    ]
    checks += [
        (f"connection {name}", partial(check_connection, config, spec, masker, environ))
        for name, spec in config.connections.items()
    ]
    checks += [
        ("notifications", partial(check_notifications, config, masker, environ)),
        ("clock", lambda: check_clock(now(), newest_run_start(config))),
    ]
    for name, check in checks:
        findings.append(_guarded(name, check, masker))
    return Diagnosis(tuple(findings))


def _guarded(name: str, check: Callable[[], Finding], masker: Masker) -> Finding:
    """A check's finding; an exception it did not expect is a failed finding, masked."""
    try:
        found = check()
    except Exception as error:  # noqa: BLE001 - doctor answers on every path
        return Finding(
            name,
            False,
            masker.mask(f"{type(error).__name__}: {error}"),
            "report this as a bug of runbook doctor",
        )
    return Finding(found.check, found.ok, masker.mask(found.detail), masker.mask(found.fix))


# -- config ------------------------------------------------------------------------------


def check_config_loads(
    path: str | os.PathLike[str] | None,
) -> tuple[Config | None, Finding]:
    try:
        config = load_config(path)
    except InvalidInput as error:
        first = error.problems[0].format() if error.problems else "invalid"
        more = len(error.problems) - 1
        detail = first + (f" (and {more} more)" if more > 0 else "")
        return None, Finding("config", False, detail, "runbook validate shows every problem")
    except (RunbookError, OSError) as error:
        return None, Finding(
            "config", False, str(error), "point --config or $RUNBOOK_CONFIG at runner.yaml"
        )
    return config, Finding("config", True, f"{config.display_path} loads")


def check_runbooks(config: Config) -> Finding:
    """Every configured runbook and check validates, as `runbook validate` sees them."""
    from runner.language.declared import yaml_files
    from runner.language.library import Library
    from runner.notifiers.services import known_tags
    from runner.steps import STEP_TYPES

    library = Library(config, STEP_TYPES, tags=known_tags, check_sql=True)
    files: list[Path] = []
    missing = []
    for root in (*config.runbook_dirs, *config.check_dirs):
        if root.exists():
            files.extend(yaml_files(root))
        else:
            missing.append(str(root))
    errors = [
        problem
        for path in dict.fromkeys(files)
        for problem in library.problems(path)
        if problem.severity == "error"
    ]
    if errors:
        first = errors[0].format()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Finding(
            "runbooks",
            False,
            f"{len(errors)} errors: {first}{more}",
            "runbook validate shows every problem",
        )
    detail = f"{len(files)} files valid"
    if missing:
        detail += f"; no folder {', '.join(missing)}"
    return Finding("runbooks", True, detail)


# -- var folder and state store ------------------------------------------------------------


def check_var_dir(config: Config) -> Finding:
    """The var folder (locks, the SQLite store, demos) exists or can be created, and every
    entry already in it is writable by this user."""
    var = config.var_dir
    me = user_name()
    if not var.exists():
        parent = _existing_parent(var)
        if not parent.is_dir():
            return Finding(
                "var",
                False,
                f"{var} cannot be created: {parent} is a file, not a folder",
                f"move {parent} away, or point state: in runner.yaml elsewhere",
            )
        if not _writable(parent):
            return Finding(
                "var",
                False,
                f"{var} cannot be created: {parent} is not writable by {me} "
                f"(owner {_owner(parent)})",
                f"as root: mkdir -p {var} && chown {me}: {var}",
            )
        return Finding("var", True, f"{var} does not exist yet; {me} can create it")
    if not var.is_dir():
        return Finding(
            "var", False, f"{var} is not a folder", f"move {var} away, or point state: elsewhere"
        )
    blocked = [path for path in _entries(var) if not _writable(path)]
    if blocked:
        shown = ", ".join(f"{path} (owner {_owner(path)})" for path in blocked[:3])
        more = f" and {len(blocked) - 3} more" if len(blocked) > 3 else ""
        return Finding(
            "var",
            False,
            f"not writable by {me}: {shown}{more}",
            f"as root: chown -R {me}: {var}  (or chmod -R u+rwX {var} if {me} owns it)",
        )
    return Finding("var", True, f"{var} is writable by {me}")


def _existing_parent(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
        if parent.is_symlink():  # a dangling link: the kernel will refuse it
            return parent
    return Path(path.anchor or ".")


def _entries(folder: Path) -> Iterator[Path]:
    """The folder and what is in it, depth first, at most _MOST_ENTRIES; links not followed."""
    yield folder
    count = 0
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            count += 1
            if count > _MOST_ENTRIES:
                return
            path = Path(root, name)
            if not path.is_symlink():
                yield path


def _writable(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    wanted = os.W_OK | os.X_OK if stat.S_ISDIR(mode) else os.W_OK | os.R_OK
    return os.access(path, wanted)


def _owner(path: Path) -> str:
    try:
        uid = path.lstat().st_uid
    except OSError:
        return "?"
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def check_state_store(config: Config, masker: Masker) -> Finding:
    """The state store opens as a run opens it. A SQLite store not yet there is not
    created here (a doctor run as root would leave a file nagios cannot write): the var
    check says whether the first run can create it."""
    from runner.history.store import open_store

    location = config.state_location
    if isinstance(location, Path):
        if not location.exists():
            var = check_var_dir(config)
            if not var.ok:
                return Finding(
                    "state store", False, f"{location} cannot be created (see var)", var.fix
                )
            return Finding(
                "state store", True, f"{location} does not exist yet; the first run creates it"
            )
        if location.is_dir() or not _writable(location):
            what = "a folder" if location.is_dir() else f"not writable by {user_name()}"
            return Finding(
                "state store",
                False,
                f"{location} is {what} (owner {_owner(location)})",
                f"as root: chown {user_name()}: {location} {location}-wal {location}-shm",
            )
    try:
        store = open_store(config, masker)
    except (RunbookError, OSError) as error:
        message = error.format_message() if isinstance(error, RunbookError) else str(error)
        return Finding(
            "state store", False, message, "fix or move the store named in state: of runner.yaml"
        )
    try:
        return Finding("state store", True, f"{store.display} opens")
    finally:
        store.close()


def newest_run_start(config: Config) -> datetime | None:
    """When the newest recorded run started; None when there is none or no store to read."""
    from runner.history.store import open_store

    if isinstance(config.state_location, Path) and not config.state_location.is_file():
        return None
    try:
        with open_store(config) as store:
            rows = store.history(limit=1)
    except Exception:  # noqa: BLE001 - the store check reports what is wrong with it
        return None
    if not rows:
        return None
    started = rows[0].get("started")
    if isinstance(started, datetime):
        return started if started.tzinfo else started.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(started))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_clock(now: datetime, newest: datetime | None) -> Finding:
    fix = (
        "set the clock right and keep it synchronised (timedatectl set-ntp true; chronyc makestep)"
    )
    if not EARLIEST_YEAR <= now.year < LATEST_YEAR:
        return Finding(
            "clock", False, f"the clock says {now:%Y-%m-%d %H:%M}Z, an implausible year", fix
        )
    if newest is not None and newest - now > CLOCK_SLACK:
        behind = int((newest - now).total_seconds() // 60)
        return Finding(
            "clock",
            False,
            f"the clock ({now:%Y-%m-%d %H:%M}Z) is {behind} minutes behind the newest recorded "
            f"run ({newest.astimezone(UTC):%Y-%m-%d %H:%M}Z)",
            fix,
        )
    return Finding("clock", True, f"{now.astimezone(UTC):%Y-%m-%d %H:%M}Z")


# -- connections and notifications --------------------------------------------------------


def odbc_driver(connection_string: str) -> str | None:
    """The DRIVER= of an ODBC connection string; None for a DSN."""
    match = _DRIVER.search(connection_string)
    if match is None:
        return None
    return (match.group("braced") or match.group("bare") or "").strip() or None


def check_connection(
    config: Config,
    spec: ConnectionSpec,
    masker: Masker,
    environ: dict[str, str] | None = None,
) -> Finding:
    """The connection opens the way a run opens it (a demo is built), and answers SELECT 1."""
    from runner.databases.connections import Connections

    check = f"connection {spec.name}"
    fix_where = f"see {spec.origin}" if spec.origin else f"see {config.display_path}"
    if spec.kind == "odbc":
        try:
            target, secrets = spec.resolve(environ)
        except RunbookError as error:
            return Finding(
                check, False, error.format_message(), "set it in the scheduler's environment too"
            )
        for value in secrets:
            masker.add(value)
        driver = odbc_driver(target)
        if driver is not None:
            try:
                import pyodbc
            except ImportError as error:
                return Finding(
                    check,
                    False,
                    f"pyodbc is not installed ({error})",
                    "pip install pyodbc; apt-get install unixodbc",
                )
            installed = pyodbc.drivers()
            if driver not in installed:
                known = ", ".join(installed) or "none"
                return Finding(
                    check,
                    False,
                    f"ODBC driver {driver!r} is not installed (installed: {known})",
                    f"install the driver, or name an installed one in DRIVER= ({fix_where})",
                )
    connections = Connections(config, on_secret=masker.add)
    try:
        connection = connections.get(spec.name)
        connection.execute("SELECT 1", [], PROBE_TIMEOUT)
    except (RunbookError, OSError, ValueError) as error:
        message = error.format_message() if isinstance(error, RunbookError) else str(error)
        return Finding(
            check,
            False,
            message,
            f"check the server, the network and the credentials ({fix_where})",
        )
    finally:
        connections.close_all()
    kind = "SQLite" if spec.kind == "sqlite" else connection.dialect.name
    return Finding(check, True, f"{kind}: SELECT 1 answered")


def check_notifications(
    config: Config, masker: Masker, environ: dict[str, str] | None = None
) -> Finding:
    """Every notification URL loads into Apprise; nothing is sent."""
    from runner.notifiers.services import load_notifier
    from runner.notifiers.settings import settings

    if not settings(config).configured:
        return Finding("notifications", True, "none configured")
    try:
        notifier = load_notifier(config, masker, environ)
    except InvalidInput as error:
        first = error.problems[0].format() if error.problems else "invalid"
        more = f" (and {len(error.problems) - 1} more)" if len(error.problems) > 1 else ""
        return Finding(
            "notifications",
            False,
            first + more,
            "fix notifications: in runner.yaml; runbook notify-test TAG tries one",
        )
    except RunbookError as error:
        return Finding(
            "notifications", False, error.format_message(), "fix notifications: in runner.yaml"
        )
    tags = ", ".join(sorted(notifier.tags)) or "none"
    count = len(notifier.services)
    return Finding(
        "notifications", True, f"{count} service{'' if count == 1 else 's'} loaded (tags: {tags})"
    )
