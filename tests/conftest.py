"""Shared fixtures: throwaway projects (runner.yaml, runbooks, checks, sql) on disk."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


class Project:
    """A folder with runner.yaml, runbooks/, checks/ and sql/, and a SQLite database."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "data.db"
        for folder in ("runbooks", "checks", "sql"):
            (root / folder).mkdir(exist_ok=True)
        self.config(
            """
            connections:
              main: {sqlite: data.db}
            state: var/runner.db
            """
        )
        sqlite3.connect(self.db).close()

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def config(self, text: str) -> Path:
        return self.write("runner.yaml", text)

    def runbook(self, name: str, text: str) -> Path:
        return self.write(f"runbooks/{name}.yaml", text)

    def sql(self, *statements: str) -> None:
        with sqlite3.connect(self.db) as db:
            for statement in statements:
                db.execute(statement)

    def query(self, statement: str) -> list[tuple]:
        with sqlite3.connect(self.db) as db:
            return db.execute(statement).fetchall()

    def library(self):
        from runner.language.config import load_config
        from runner.language.library import Library
        from runner.steps import STEP_TYPES

        return Library(load_config(self.root / "runner.yaml"), STEP_TYPES)

    def service(self, **options):
        """A RunService of this project that never sleeps, logs or asks a terminal."""
        from runner.service.runs import RunService

        options.setdefault("sleep", lambda seconds: None)
        options.setdefault("log", lambda message: None)
        options.setdefault("interactive", False)
        return RunService(self.library().config, **options)

    def run(self, name: str, params: dict | None = None, **options):
        """Run a runbook through the run service, as `runbook run` does (without printing).
        Request options (mode, assume_yes, trigger, connections, skipped_status) go to the request, the
        rest (sleep, log, ask, interactive, environ, record, clock) to the service."""
        from runner.service.runs import RunRequest

        request_keys = (
            "mode",
            "assume_yes",
            "trigger",
            "connections",
            "skipped_status",
            "deadline",
        )
        request = {key: options.pop(key) for key in request_keys if key in options}
        return self.service(**options).run(RunRequest(name, params or {}, **request))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    return Project(tmp_path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true) an integration test that skips is a failure: CI must prove it."""
    import os

    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and item.get_closest_marker("integration"):
        report.outcome = "failed"
        report.longrepr = f"integration test skipped in CI, where it must run: {report.longrepr}"
