"""A nagios run of the demo imports only what its path uses (issue 11, point 1).

Asserts on the set of modules imported (`sys.modules` when the process exits), never on
time, so an import that creeps back onto the path fails here, whatever the machine's load.
Not `python -X importtime`: it does not see what `importlib.import_module` imports (step
types, report formats).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Never on a run of a cached, clean runbook answered in nagios or json, with nothing
#: configured to notify and every step succeeding at its first attempt.
NOT_ON_THE_RUN_PATH = {
    "croniter": "only for `schedule:` (validation)",
    "dateutil": "croniter's, only for `schedule:`",
    "rich": "only for text output",
    "tenacity": "only when a first attempt must be retried",
    "concurrent.futures": "only at concurrency > 1",
    "jsonschema_rs": "validation, skipped when var/cache knows the runbook",
    "yaml": "a known runbook and runner.yaml are kept built in var/cache (language/built.py)",
    "runner.language.yamlload": "a known runbook and runner.yaml are kept built in var/cache",
    "runner.language.build": "a known runbook is kept built in var/cache",
    "runner.language.schema": "validation, skipped when var/cache knows the runbook",
    "runner.language.meaning": "validation, skipped when var/cache knows the runbook",
    "runner.language.sqlcheck": "only for `runbook validate`",
    "sqlglot": "only for `runbook validate`",
    "runner.alerts.announce": "only when notifications are configured",
    "runner.notifiers.services": "only when notifications are configured",
    "runner.notifiers.settings": "only when notifications are configured",
    "runner.databases.odbc": "only when an ODBC connection opens; the demo is SQLite",
    "apprise": "only when notifications are configured",
    "runner.databases.demo_orders": "only when the demo database is built",
    "difflib": "only to suggest a name for an unknown one",
    "socket": "the host name comes from os.uname()",
    "dataclasses": "history/records.py asks for it only when it stores a dataclass",
    "msgspec": "value classes are runner.base.structs: msgspec's import brings the next four",
    "typing_extensions": "msgspec's, 11 M instructions",
    "uuid": "msgspec's (with platform); run ids come from os.urandom",
    "decimal": "a Decimal is told by the loaded module (base/decimals.py): drivers make them",
    "queue": "only a parallel loop hands out its lanes through a queue",
    "getpass": "the user is looked up as getpass does, without termios",
    "secrets": "the demo names its scratch file from os.urandom",
    "starlette": "only for `runbook serve` (runner/web/)",
    "uvicorn": "only for `runbook serve` (runner/web/)",
    "prometheus_client": "only for `runbook metrics` and /metrics",
    "runner.service.metrics": "only for `runbook metrics` and /metrics",
    "psutil": "only for a `system` step",
    "hmac": "only where a template signs something (hmac_sha256)",
    "base64": "hmac_sha256's, 0.5 M instructions with hmac",
    "runner.language.varchecks": "validate's checks of vars; a run renders them (templates)",
    "runner.demos.base": "only for `runbook demo serve`",
    **{
        f"runner.steps.{name}": "a step type is imported when a runbook uses it; the demo's are sql"
        for name in ("http", "command", "notify", "wait", "files", "tcp", "prometheus", "system")
    },
}


#: Runs `python -m runner ARGV...` and, as the process exits, lists every module it imported.
_LISTING = """
import atexit, runpy, sys
atexit.register(lambda: print(*sorted("module: " + name for name in sys.modules), sep="\\n", file=sys.stderr))
sys.argv = ["runbook", *sys.argv[1:]]
runpy.run_module("runner", run_name="__main__", alter_sys=True)
"""


def imported(argv: list[str], cwd: Path) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if k != "RUNBOOK_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-c", _LISTING, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    names = {
        line.removeprefix("module: ")
        for line in done.stderr.splitlines()
        if line.startswith("module: ")
    }
    return names, done


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the repository's demo project (runner.yaml, runbooks/, sql/)."""
    shutil.copy(REPO / "runner.yaml", tmp_path / "runner.yaml")
    for part in ("runbooks", "sql"):
        shutil.copytree(REPO / part, tmp_path / part)
    return tmp_path


def _unwanted(names: set[str], allowed: frozenset[str] = frozenset()) -> dict[str, str]:
    return {
        module: why
        for module, why in NOT_ON_THE_RUN_PATH.items()
        if module not in allowed
        and any(name == module or name.startswith(module + ".") for name in names)
    }


def test_a_nagios_run_of_the_demo_imports_nothing_its_path_does_not_use(demo: Path) -> None:
    argv = ["run", "order-health", "--format", "nagios"]
    first, done = imported(argv, demo)  # builds the demo database, fills var/cache
    assert done.stdout.startswith("ORDER-HEALTH "), done.stderr[-2000:]
    assert "runner.language.meaning" in first  # the first run validates

    names, done = imported(argv, demo)

    assert done.stdout.startswith("ORDER-HEALTH "), done.stderr[-2000:]
    assert done.returncode in (0, 1, 2)
    assert _unwanted(names) == {}
    assert "runner.engine.walker" in names  # the hook does see the run's own modules


def test_json_and_piped_text_runs_import_no_rich_and_a_coloured_one_does(demo: Path) -> None:
    imported(["run", "order-health", "--format", "json"], demo)  # fills var/cache
    as_json, done = imported(["run", "order-health", "--format", "json"], demo)
    as_text, piped = imported(["run", "order-health"], demo)  # stdout is a pipe here
    coloured, _ = imported(["run", "order-health", "--color", "always"], demo)

    assert done.stdout.lstrip().startswith("{")
    assert piped.stdout.startswith("order-health: Order pipeline"), piped.stderr[-2000:]
    assert _unwanted(as_json) == {}
    assert _unwanted(as_text) == {}  # reports/plain.py draws the table (issue 11, point 1)
    rich_uses = frozenset({"rich", "dataclasses", "decimal"})
    assert _unwanted(coloured, rich_uses) == {}
    assert "rich" in coloured


def test_help_imports_no_engine(demo: Path) -> None:
    names, done = imported(["--help"], demo)

    assert done.returncode == 0
    assert not {"runner.engine.walker", "jinja2", "yaml", "sqlite3", "threading"} & names
