"""Where notifications go: runner.yaml `notifications:` as tagged Apprise services.

`notifications:` takes Apprise's own configuration files (its YAML or TEXT format,
URLs with tags) and/or inline `urls:` by tag, with `${VAR}` secrets from the
environment. Apprise is used as a library and its tags route the messages.

Bad configuration fails fast, with every problem at once and where it is: a file
that cannot be read, a URL Apprise cannot load (file and line), an unset `${VAR}`
(runner.yaml line and key). Apprise reports such problems to its logger rather than
raising, so loading listens to that logger and turns what it hears into problems.

URLs are shown masked (Apprise's privacy form, then our Masker), and the values of
`${VAR}`s are registered with the run's Masker, so no token reaches output or history.
apprise is imported inside the functions that load or send: `runbook --help` and
`runbook validate` of a project without notifications never pay for it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.base.errors import ConfigError, InvalidInput, Problem
from runner.base.masking import Masker
from runner.language.config import Config, expand_vars
from runner.language.marks import locate
from runner.notifiers.settings import Settings, settings

#: Apprise's pause between two attempts at a service (its `wait=` URL option default).
RETRY_WAIT = 0.5
#: Added to the worst case before Apprise stops waiting for a service altogether.
DEADLINE_GRACE = 2.0

_LINE = re.compile(r"\bline (\d+)")
_ENTRY = re.compile(r"entry #(\d+)")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://\S+")


@dataclass(frozen=True)
class Service:
    """One Apprise service: its masked URL, its tags and the loaded plugin."""

    url: str
    tags: frozenset[str]
    plugin: Any = field(compare=False, repr=False)


@dataclass
class Outcome:
    """What happened to one message at one service."""

    url: str
    tags: tuple[str, ...]
    ok: bool
    attempts: int = 0
    error: str | None = None
    duration: float = 0.0


class Notifier:
    """The services of a configuration by tag, and the one way messages are sent."""

    def __init__(self, services: list[Service], settings: Settings, masker: Masker) -> None:
        self.services = services
        self.settings = settings
        self.masker = masker

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(tag for service in self.services for tag in service.tags)

    def services_for(self, tags: tuple[str, ...] | list[str]) -> list[Service]:
        wanted = set(tags)
        return [service for service in self.services if service.tags & wanted]

    def send(
        self, title: str, body: str, tags: tuple[str, ...] | list[str], *, level: str = "info"
    ) -> list[Outcome]:
        """Send one message to every service tagged with any of `tags`; never raises.

        Each service is tried `attempts` times (Apprise's retry, paced by its `wait`),
        each attempt bounded by `timeout`, and Apprise stops waiting for a service
        that outlasts them all: a hung webhook cannot hold up the run.
        """
        tags = tuple(dict.fromkeys(tags))
        matched = self.services_for(tags)
        if not matched:
            return [
                Outcome("", tags, False, 0, f"no notification service is tagged {', '.join(tags)}")
            ]
        import apprise

        group = apprise.Apprise()
        for service in matched:
            group.add(service.plugin)
        retries = self.settings.attempts - 1
        filters = [f"{tag}:{retries}" if retries else tag for tag in tags]
        deadline = self.settings.attempts * (self.settings.timeout + RETRY_WAIT) + DEADLINE_GRACE
        title, body = self.masker.mask_text(title), self.masker.mask_text(body)
        try:
            result = group.notify(
                body=body or title,
                title=title,
                notify_type=_NOTIFY_TYPES.get(level, "info"),
                body_format=apprise.NotifyFormat.MARKDOWN,
                tag=filters,
                timeout=deadline,
            )
        except Exception as error:  # noqa: BLE001 - a notifier must never fail the run
            message = self.masker.mask_text(f"{type(error).__name__}: {error}")
            return [Outcome(service.url, tags, False, 0, message) for service in matched]
        outcomes = []
        for found in result:
            owner = _service_of(found, matched)
            attempts = list(found.attempts)
            outcomes.append(
                Outcome(
                    url=owner.url if owner else self.masker.mask_text(found.url),
                    tags=tuple(tag for tag in tags if owner is None or tag in owner.tags),
                    ok=bool(found),
                    attempts=len(attempts),
                    error=None if found else self._error(attempts),
                    duration=sum(attempt.elapsed for attempt in attempts),
                )
            )
        return outcomes

    def _error(self, attempts: list[Any]) -> str:
        """The last thing Apprise said about the failed attempts, masked."""
        for attempt in reversed(attempts):
            messages = [
                entry.message for entry in attempt.logs if entry.level in ("WARNING", "ERROR")
            ]
            if messages:
                return self.masker.mask_text(messages[-1])
        status = attempts[-1].status.name.lower() if attempts else "failure"
        return f"the service did not accept the message ({status})"


_NOTIFY_TYPES = {"info": "info", "ok": "success", "warning": "warning", "failure": "failure"}


def _service_of(found: Any, matched: list[Service]) -> Service | None:
    # Apprise reports the service by its privacy URL; match it back to ours.
    for service in matched:
        if service.plugin.url(privacy=True) == found.url:
            return service
    return None


# -- loading ----------------------------------------------------------------------------


@contextmanager
def _listening() -> Iterator[list[logging.LogRecord]]:
    """What Apprise logs at WARNING and above while loading: its way of saying 'invalid'."""
    heard: list[logging.LogRecord] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            heard.append(record)

    logger = logging.getLogger("apprise")
    handler = _Collect(level=logging.WARNING)
    previous = logger.level
    logger.addHandler(handler)
    if previous == logging.NOTSET or previous > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield heard
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def load_notifier(
    config: Config, masker: Masker | None = None, environ: Mapping[str, str] | None = None
) -> Notifier:
    """The configured services, loaded into Apprise; raises InvalidInput with every problem.

    `${VAR}` in inline URLs is expanded from `environ` (default: the process
    environment) and each value is registered with `masker`.
    """
    chosen = settings(config)
    masker = masker if masker is not None else Masker()
    problems: list[Problem] = []
    services: list[Service] = []
    if chosen.configured:
        import apprise

        asset = apprise.AppriseAsset()
        for path in chosen.files:
            services.extend(_load_file(path, chosen, asset, problems))
        services.extend(_load_inline(chosen, asset, masker, environ, problems))
    if not problems:
        problems.extend(_unknown_policy_tags(chosen, services))
    if problems:
        raise InvalidInput(problems)
    for service in services:
        _bound(service.plugin, chosen.timeout)
    return Notifier(_merge(services), chosen, masker)


def _unknown_policy_tags(chosen: Settings, services: list[Service]) -> list[Problem]:
    """Tags of runner.yaml's default policy that no service carries."""
    from runner.language.policy import tag_list

    known = {tag for service in services for tag in service.tags}
    raw = chosen.raw.get("policy") or {}
    uses: list[tuple[tuple[str | int, ...], Any]] = [
        ((key,), raw.get(key)) for key in ("warning", "critical", "unknown", "recovered")
    ]
    uses.append((("retried",), raw.get("retried")))
    escalate = raw.get("escalate") or {}
    stages = (
        [escalate] if isinstance(escalate, dict) else escalate if isinstance(escalate, list) else []
    )
    for index, stage in enumerate(stages):  # one stage, or a ladder of them
        path: tuple[str | int, ...] = (
            ("escalate", "to") if isinstance(escalate, dict) else ("escalate", index, "to")
        )
        uses.append((path, stage.get("to") if isinstance(stage, dict) else None))
    problems = []
    for path, value in uses:
        for tag in tag_list(value):
            if tag not in known:
                line, col, key = chosen.where("policy", *path)
                problems.append(
                    Problem(
                        f"unknown notification tag {tag!r}",
                        chosen.display,
                        line,
                        col,
                        key,
                        f"known tags: {', '.join(sorted(known)) or 'none'}",
                    )
                )
    return problems


def _bound(plugin: Any, timeout: float) -> None:
    """Hold one attempt at a service to `timeout` seconds.

    Apprise also paces consecutive requests of one service (5.5 s for email); our
    retries are already paced by its `wait`, so that pacing would only turn a quick
    retry after "connection refused" into a long sleep.
    """
    plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), timeout)
    plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), timeout)
    plugin.request_rate_per_sec = 0


def _merge(services: list[Service]) -> list[Service]:
    """One service per URL: a URL listed under two tags gets a message once, not twice."""
    merged: dict[str, Service] = {}
    for service in services:
        key = service.plugin.url(privacy=False)
        if key in merged:
            first = merged[key]
            first.plugin.tags.update(service.tags)
            merged[key] = Service(first.url, first.tags | service.tags, first.plugin)
        else:
            merged[key] = service
    return list(merged.values())


#: URL options Apprise writes out even when nobody set them; left out of what we show.
_NOISE = {"overflow=upstream", "retry=0", "wait=0.5", "optional=no", "method=POST", "rto", "cto"}


def _masked_url(plugin: Any, masker: Masker) -> str:
    """The service's URL as people recognise it: Apprise's privacy form, defaults left out."""
    url = plugin.url(privacy=True)
    base, _, query = url.partition("?")
    kept = [
        pair
        for pair in query.split("&")
        if pair and pair not in _NOISE and pair.split("=")[0] not in _NOISE
    ]
    return masker.mask_text(base + ("?" + "&".join(kept) if kept else ""))


def _load_inline(
    chosen: Settings,
    asset: Any,
    masker: Masker,
    environ: Mapping[str, str] | None,
    problems: list[Problem],
) -> list[Service]:
    import apprise

    services = []
    for tag, urls in chosen.urls.items():
        for index, written in enumerate(urls):
            line, col, key = chosen.where("urls", tag, index)
            origin = f"{chosen.display}:{line}" if line else chosen.display
            try:
                url, secrets = expand_vars(written, environ, origin)
            except ConfigError as error:
                message = error.format_message().removeprefix(f"{origin}: ")
                problems.append(Problem(message, chosen.display, line, col, key))
                continue
            masker.add_many(secrets)
            with _listening() as heard:
                plugin = apprise.Apprise.instantiate(url, asset=asset, tag=tag)
            if plugin is None:
                said = "; ".join(masker.mask_text(r.getMessage()) for r in heard)
                problems.append(
                    Problem(
                        f"Apprise cannot load {masker.mask_text(written)!r}"
                        + (f": {said}" if said else ""),
                        chosen.display,
                        line,
                        col,
                        key,
                        "write a URL from https://github.com/caronc/apprise/wiki, "
                        "such as mailto://user:${SMTP_PASSWORD}@example.com?to=ops@example.com",
                    )
                )
                continue
            services.append(Service(_masked_url(plugin, masker), frozenset({tag}), plugin))
    return services


def _load_file(path: Path, chosen: Settings, asset: Any, problems: list[Problem]) -> list[Service]:
    from apprise.config.base import ConfigBase

    display = os.path.relpath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        line, col, key = chosen.where("apprise")
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        problems.append(
            Problem(
                f"cannot read the Apprise configuration {display}: {reason}",
                chosen.display,
                line,
                col,
                key,
                "paths are relative to runner.yaml",
            )
        )
        return []
    found: list[Any] = []
    includes: list[str] = []
    with _listening() as heard:
        fmt = ConfigBase.detect_config_format(text)
        if fmt is not None:
            found, includes = ConfigBase.config_parse(text, asset=asset, config_format=fmt)
    masker = Masker()
    for record in heard:
        message = masker.mask_text(record.getMessage())
        problems.append(Problem(message, display, _line_of(message, text, fmt)))
    for include in includes:
        problems.append(
            Problem(
                f"include {include!r} is not followed: list every file under "
                "notifications.apprise in runner.yaml",
                display,
                _line_of(include, text, fmt),
            )
        )
    if not found and not heard and text.strip():
        problems.append(Problem("no notification URL found in this Apprise configuration", display))
    if heard or includes:
        return []
    return [
        Service(_masked_url(plugin, masker), frozenset(str(tag) for tag in plugin.tags), plugin)
        for plugin in found
    ]


def _line_of(message: str, text: str, fmt: Any) -> int | None:
    """The line an Apprise message is about: it says `line N`, `entry #N`, or names the URL."""
    said = _LINE.search(message)
    if said:
        return int(said.group(1))
    entry = _ENTRY.search(message)
    if entry and str(fmt).lower().endswith("yaml"):
        from runner.language.yamlload import load_text

        try:
            document = load_text(text, "apprise")
        except Exception:  # noqa: BLE001 - only a better line number is at stake
            return None
        mark = locate(document, ["urls", int(entry.group(1)) - 1])
        return mark[0] if mark else None
    for url in _URL.findall(message):
        for number, line in enumerate(text.splitlines(), start=1):
            if url.rstrip(".") in line:
                return number
    return None


# -- tags, for validation ------------------------------------------------------------------

_TAG_CACHE: dict[tuple[Any, ...], frozenset[str]] = {}


def known_tags(config: Config) -> frozenset[str] | None:
    """Every tag the configuration routes to; None when notifications are not configured.

    Inline `urls:` keys are read as they are; Apprise files are parsed (once per
    process and file version). Raises InvalidInput when a file cannot be loaded.
    """
    chosen = settings(config)
    if not chosen.configured:
        return None
    tags = set(chosen.urls)
    if not chosen.files:
        return frozenset(tags)
    stamps = tuple((str(path), _mtime(path)) for path in chosen.files)
    key = (config.path, stamps)
    if key not in _TAG_CACHE:
        import apprise

        problems: list[Problem] = []
        asset = apprise.AppriseAsset()
        found: set[str] = set()
        for path in chosen.files:
            for service in _load_file(path, chosen, asset, problems):
                found |= service.tags
        if problems:
            raise InvalidInput(problems)
        _TAG_CACHE[key] = frozenset(found)
    return frozenset(tags | _TAG_CACHE[key])


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
