"""runner.yaml: where runbooks live, which databases they reach, and shared defaults.

Loading reads top to bottom as one pipeline: find the file, parse it with line marks,
validate it against schemas/runner.schema.json, then build a frozen Config. `${VAR}`
references are expanded when a connection is opened, not here, so a missing
production password does not break a runbook that never uses that connection.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.base.durations import parse_duration
from runner.base.errors import ConfigError, InvalidInput, Problem
from runner.base.structs import Struct, field, replace
from runner.dialects import infer
from runner.language.model import Origin, StepDefaults

CONFIG_NAME = "runner.yaml"
ENV_CONFIG = "RUNBOOK_CONFIG"
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
STATE_CONNECTION = "state"


class ConnectionSpec(Struct, frozen=True):
    """A connection of runner.yaml: a SQLite file or an ODBC connection string, and its dialect."""

    name: str
    kind: str  # sqlite | odbc
    target: str  # a path for sqlite, a connection string for odbc; may hold ${VAR}
    dialect: str = "sqlite"
    timeout: float = 15.0
    query_timeout: float | None = None
    demo: str | None = None
    origin: str = ""  # "runner.yaml:12" for messages
    root: str = ""  # runner.yaml's folder: a SQLite path ${VAR} makes relative starts there

    def resolve(self, environ: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
        """The target with ${VAR} expanded, and the expanded values (to mask as secrets).
        A SQLite path that is relative once expanded (`${EDI_METRICS_DB:-var/m.db}`) is
        relative to runner.yaml's folder, as one written without a variable is."""
        target, used = expand_vars(self.target, environ, self.origin)
        if (
            self.kind == "sqlite"
            and self.root
            and target != ":memory:"
            and not Path(target).is_absolute()
        ):
            target = str(Path(self.root) / target)
        return target, used

    def sql_dialect(self) -> str:
        """The dialect as written; else sqlite for SQLite, else inferred from the driver
        name, read with ${VAR}s expanded where they are set: the whole connection string
        may come from one variable, and the dialect must match the one the connection
        itself infers when it opens."""
        if self.dialect or self.kind == "sqlite":
            return self.dialect or "sqlite"
        try:
            target, _ = self.resolve()
        except ConfigError:  # not set here (validating elsewhere): read it as written
            target = self.target
        return infer(target).name


class Retention(Struct, frozen=True):
    """How long runs stay in the state store (`retention:` in runner.yaml).

    A run older than `days` is removed with its steps and deliveries, unless it is one
    of the last `keep` runs of its runbook: a runbook run rarely keeps its history.
    """

    days: int = 90
    keep: int = 100


class SchedulerSettings(Struct, frozen=True):
    """How `runbook scheduler` runs (`scheduler:` in runner.yaml; its options win)."""

    #: runs going at once; a due run waits for a free one
    max_parallel: int = 4
    #: seconds a stopping scheduler waits for running runs before it aborts them
    shutdown_grace: float = 60.0


class Config(Struct, frozen=True):
    """runner.yaml as built: where runbooks and SQL live, connections, state and defaults."""

    root: Path  # relative paths in runner.yaml are relative to this folder
    path: Path | None = None
    connections: Mapping[str, ConnectionSpec] = field(default_factory=dict)
    # The SQLite state store; with a shared PostgreSQL store (state_odbc) its folder is
    # still the var folder of this host (local locks), and the file is not used.
    state: Path = Path("var/runner.db")
    state_odbc: ConnectionSpec | None = None
    runbook_dirs: tuple[Path, ...] = ()
    check_dirs: tuple[Path, ...] = ()
    sql_dirs: tuple[Path, ...] = ()
    defaults: StepDefaults = field(default_factory=StepDefaults)
    notifications: Mapping[str, Any] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    #: where each var is in runner.yaml (value and key), for the messages of one that fails
    var_keys: Mapping[str, Origin] = field(default_factory=dict)
    retention: Retention = field(default_factory=Retention)
    #: the IANA zone of schedules whose runbook names none (None: UTC)
    timezone: str | None = None
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)

    @property
    def var_dir(self) -> Path:
        return self.state.parent

    @property
    def state_location(self) -> Path | ConnectionSpec:
        """Where runs are recorded: the SQLite file, or the shared PostgreSQL database."""
        return self.state_odbc if self.state_odbc is not None else self.state

    @property
    def display_path(self) -> str:
        return str(self.path) if self.path else "(no runner.yaml: built-in defaults)"


def expand_vars(
    text: str, environ: Mapping[str, str] | None = None, origin: str = ""
) -> tuple[str, list[str]]:
    env = os.environ if environ is None else environ
    used: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        value = env.get(name)
        if value is None:
            if default is None:
                where = f"{origin}: " if origin else ""
                raise ConfigError(
                    f"{where}environment variable {name} is not set: export {name}=... "
                    f"or write ${{{name}:-default}}"
                )
            value = default
        used.append(value)
        return value

    return _VAR.sub(substitute, text), used


def find_config(
    explicit: str | os.PathLike[str] | None = None, start: Path | None = None
) -> Path | None:
    """--config, then $RUNBOOK_CONFIG, then runner.yaml in the current folder or a parent."""
    chosen = explicit or os.environ.get(ENV_CONFIG)
    if chosen:
        path = Path(chosen)
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | os.PathLike[str] | None = None, *, search: bool = True) -> Config:
    found = find_config(path) if (path or search) else None
    if found is None:
        return _build({}, Path.cwd(), None)
    display = os.path.relpath(found) if not os.path.isabs(str(path or "")) else str(found)
    kept = _kept(found, display)
    if kept is not None:
        return kept
    from runner.language import yamlload

    document = yamlload.load_file(found, display) or {}
    if not isinstance(document, dict):
        raise InvalidInput([Problem("runner.yaml must be a mapping of settings", display, 1, 1)])
    known = _known_valid(document, found, display)
    if known is not None:
        _keep(found, display, known)
        return known
    from runner.language import schema

    problems = schema.validate_document(document, "runner", display)
    if problems:
        raise InvalidInput(problems)
    config = _build(document, found.resolve().parent, found, display)
    from runner.language.varchecks import config_var_problems

    problems = config_var_problems(config.vars, config.var_keys, display)
    if problems:
        raise InvalidInput(problems)
    from runner.language.cache import Entry, ValidationCache

    cache = ValidationCache(config.var_dir / "cache", found)
    cache.put(cache.key(found.resolve(), b"runner.yaml"), Entry(0, {}, {}))
    _keep(found, display, config)
    return config


def _kept_file(found: Path, display: str) -> Path:
    """Where the Config of a runner.yaml that validated clean is kept (language/built.py):
    in the default var/ beside it, keyed by its bytes, its path and `display`."""
    from runner.language.cache import ValidationCache

    cache = ValidationCache(found.resolve().parent / "var" / "cache", found)
    return cache.built_file(cache.key(found.resolve(), f"runner.yaml\0{display}".encode()))


def _kept(found: Path, display: str) -> Config | None:
    """The Config kept for these very bytes of runner.yaml: no YAML read, no schema."""
    from runner.language import built

    return built.load(_kept_file(found, display), Config)


def _keep(found: Path, display: str, config: Config) -> None:
    """Keep a valid Config for the next process, when its var/ is the default one (where
    _kept looks before it knows the configuration)."""
    from runner.language import built

    if config.var_dir == found.resolve().parent / "var":
        built.dump(_kept_file(found, display), config)


def _known_valid(document: dict[str, Any], found: Path, display: str) -> Config | None:
    """The configuration of a runner.yaml that validated clean with these very bytes
    (language/cache.py: its key holds the file's hash): no JSON Schema again. None when
    the cache does not know it, or the file does not even build."""
    from runner.language.cache import ValidationCache

    try:
        config = _build(document, found.resolve().parent, found, display)
    except Exception:  # an invalid file may not build: validating it says why
        return None
    cache = ValidationCache(config.var_dir / "cache", found)
    entry = cache.get(cache.key(found.resolve(), b"runner.yaml"))
    return config if entry is not None and entry.errors == 0 else None


def _paths(root: Path, raw: Any, default: str) -> tuple[Path, ...]:
    items = raw if raw is not None else [default]
    if isinstance(items, str):
        items = [items]
    return tuple(
        (root / item).resolve() if not Path(item).is_absolute() else Path(item) for item in items
    )


def _build(document: Mapping[str, Any], root: Path, path: Path | None, display: str = "") -> Config:
    from runner.language.marks import locate
    from runner.language.nodes import Node

    connections: dict[str, ConnectionSpec] = {}
    for name, raw in (document.get("connections") or {}).items():
        mark = locate(document, ["connections", name], at="key")
        origin = f"{display}:{mark[0]}" if mark else display
        timeout = parse_duration(raw.get("timeout", 15))
        query_timeout = parse_duration(raw["query_timeout"]) if "query_timeout" in raw else None
        if "sqlite" in raw:
            target = raw["sqlite"]
            if "${" not in target and not Path(target).is_absolute() and target != ":memory:":
                target = str(root / target)
            connections[name] = ConnectionSpec(
                name,
                "sqlite",
                target,
                "sqlite",
                timeout,
                query_timeout,
                raw.get("demo"),
                origin,
                str(root) if "${" in target else "",
            )
        else:
            connections[name] = ConnectionSpec(
                name,
                "odbc",
                raw["odbc"],
                raw.get("dialect", ""),
                timeout,
                query_timeout,
                raw.get("demo"),
                origin,
            )
    state, state_odbc = _state(document, display)
    variables = Node.root(document, display).at("vars")
    if state_odbc is not None and STATE_CONNECTION not in connections:
        connections[STATE_CONNECTION] = _read_only(state_odbc)
    return Config(
        root=root,
        path=path,
        connections=connections,
        state=state if state.is_absolute() else root / state,
        state_odbc=state_odbc,
        runbook_dirs=_paths(root, document.get("runbooks"), "runbooks"),
        check_dirs=_paths(root, document.get("checks"), "checks"),
        sql_dirs=_paths(root, document.get("sql"), "sql"),
        defaults=StepDefaults().merged(document.get("defaults")),
        notifications=document.get("notifications") or {},
        vars=document.get("vars") or {},
        var_keys=variables.positions() if variables is not None else {},
        retention=Retention(**(document.get("retention") or {})),
        timezone=_timezone(document, display),
        scheduler=_scheduler(document.get("scheduler") or {}),
    )


def _scheduler(raw: Mapping[str, Any]) -> SchedulerSettings:
    """`scheduler:` (its keys and types are checked by the schema first)."""
    settings = SchedulerSettings()
    return SchedulerSettings(
        max_parallel=int(raw.get("max_parallel", settings.max_parallel)),
        shutdown_grace=parse_duration(raw.get("shutdown_grace", settings.shutdown_grace)),
    )


def _timezone(document: Mapping[str, Any], display: str) -> str | None:
    """`timezone:`, the default zone of schedules: an IANA name this machine knows."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from runner.language.marks import locate

    name = document.get("timezone")
    if not isinstance(name, str):
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        line, column = locate(document, ["timezone"], at="value") or (None, None)
        raise InvalidInput(
            [
                Problem(
                    f"unknown time zone {name!r}",
                    display,
                    line,
                    column,
                    "timezone",
                    "use an IANA name such as Europe/Paris or UTC",
                )
            ]
        ) from None
    return name


_DEFAULT_STATE = "var/runner.db"


def _state(document: Mapping[str, Any], display: str) -> tuple[Path, ConnectionSpec | None]:
    """`state:` is a SQLite path (a string or {sqlite: path}) or {odbc: ..., dialect: postgres}."""
    from runner.language.marks import locate

    raw = document.get("state", _DEFAULT_STATE)
    if isinstance(raw, str):
        return Path(raw), None
    if "sqlite" in raw:
        return Path(raw["sqlite"]), None
    mark = locate(document, ["state"], at="key")
    origin = f"{display}:{mark[0]}" if mark else display
    line, column = mark or (None, None)
    dialect = raw.get("dialect") or infer(raw["odbc"]).name
    if dialect != "postgres":
        raise InvalidInput(
            [
                Problem(
                    "state.odbc: a shared state store must be PostgreSQL: name the "
                    "PostgreSQL driver (DRIVER={PostgreSQL Unicode};...) or, for a DSN, "
                    "write dialect: postgres",
                    display,
                    line,
                    column,
                )
            ]
        )
    timeout = parse_duration(raw.get("timeout", 15))
    spec = ConnectionSpec(
        STATE_CONNECTION, "odbc", raw["odbc"], "postgres", timeout, None, None, origin
    )
    return Path(_DEFAULT_STATE), spec


def _read_only(spec: ConnectionSpec) -> ConnectionSpec:
    """The `state` connection checks read history through: the store, read-only.

    As SQLite's state connection is opened read-only, the session refuses writes, so a
    check cannot change history by mistake. A connection string that sets its own
    ConnSettings keeps them (the ODBC driver takes one ConnSettings).
    """
    if "connsettings" in spec.target.lower():
        return spec
    target = spec.target.rstrip("; ") + ";ConnSettings={SET default_transaction_read_only = on}"
    return replace(spec, target=target)
