"""runner.yaml's `notifications:` section as settings: the Apprise files, the inline URLs
by tag, the default policy, timeout and attempts. Reading them imports no Apprise and
reads no file; loading the services is services.py's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.base.durations import parse_duration
from runner.base.errors import ConfigError
from runner.language.config import Config, expand_vars
from runner.language.marks import format_path, locate
from runner.language.policy import Policy

#: Seconds one attempt at one service may take, unless runner.yaml says `timeout:`.
DEFAULT_TIMEOUT = 10.0
#: Tries per service and message, unless runner.yaml says `attempts:`.
DEFAULT_ATTEMPTS = 2


@dataclass(frozen=True)
class Settings:
    """The `notifications:` section, read but not yet loaded into Apprise."""

    files: tuple[Path, ...] = ()
    urls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    timeout: float = DEFAULT_TIMEOUT
    attempts: int = DEFAULT_ATTEMPTS
    raw: Mapping[str, Any] = field(default_factory=dict)  # marked: for file:line in messages
    display: str = "runner.yaml"

    @property
    def configured(self) -> bool:
        return bool(self.files or self.urls)

    def where(self, *path: Any) -> tuple[int | None, int | None, str]:
        """(line, col, key) of `notifications.<path>` in runner.yaml."""
        mark = locate(self.raw, path)
        line, col = mark if mark else (None, None)
        return line, col, format_path(("notifications", *path))


def settings(config: Config) -> Settings:
    """The notification settings of a configuration; reads no file and imports no apprise."""
    raw = config.notifications or {}
    files = raw.get("apprise") or []
    if isinstance(files, str):
        files = [files]
    urls = {
        str(tag): tuple(items if isinstance(items, list) else [items])
        for tag, items in (raw.get("urls") or {}).items()
    }
    display = os.path.relpath(config.path) if config.path else "runner.yaml"
    return Settings(
        files=tuple(
            Path(item) if Path(item).is_absolute() else config.root / item for item in files
        ),
        urls=urls,
        policy=_policy(raw, display),
        timeout=parse_duration(raw["timeout"]) if "timeout" in raw else DEFAULT_TIMEOUT,
        attempts=int(raw.get("attempts", DEFAULT_ATTEMPTS)),
        raw=raw,
        display=display,
    )


def _policy(raw: Mapping[str, Any], display: str) -> Policy:
    """runner.yaml's default policy; one that cannot be read (`after: 0`, an escalation
    ladder out of order) is a ConfigError naming where, never an internal error."""
    policy = raw.get("policy")
    try:
        return Policy.from_raw(policy)
    except ValueError as error:
        key = "escalate" if "escalat" in str(error) else "after"
        path = (
            ("policy", key)
            if key and isinstance(policy, Mapping) and key in policy
            else ("policy",)
        )
        mark = locate(raw, path)
        where = f"{display}:{mark[0]}: " if mark else f"{display}: "
        raise ConfigError(f"{where}{format_path(('notifications', *path))}: {error}") from None


def tag_files(config: Config) -> tuple[Path, ...]:
    """The Apprise files whose tags validation reads (a cached result depends on them)."""
    return settings(config).files


def url_secrets(config: Config, environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the `${VAR}`s the inline notification URLs use, to mask from the
    start of every run (a dry run or a rehearsal loads no notifier, yet may render one).
    Unset variables are skipped: loading the notifier says so where it matters."""
    found: list[str] = []
    for urls in settings(config).urls.values():
        for written in urls:
            try:
                found.extend(expand_vars(written, environ)[1])
            except ConfigError:
                continue
    return found
