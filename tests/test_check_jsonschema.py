"""check-jsonschema, the standard command-line validator, accepts every shipped file.

The real executable from the test extra runs with no extra flag, as a team's CI would run
it. The schemas have no `$id`, so their relative `$ref`s resolve to the sibling files;
`--no-cache` and a proxy nobody listens on make sure a fetch fails instead of passing
quietly on a machine that happens to be online.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
SUFFIXES = (".yaml", ".yml")


def shipped(kind: str) -> list[Path]:
    """The files the project ships that `kind`'s schema describes."""
    if kind == "runner":
        return [REPO / "runner.yaml"]
    folder = REPO / {"runbook": "runbooks", "check": "checks"}[kind]
    return sorted(path for path in folder.rglob("*") if path.suffix in SUFFIXES)


def check_jsonschema(kind: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    # A closed loopback port as proxy: any attempt to fetch a schema or $ref fails loudly.
    nowhere = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": nowhere, "HTTPS_PROXY": nowhere, "NO_PROXY": ""}
    env = {**env, "http_proxy": nowhere, "https_proxy": nowhere, "no_proxy": ""}
    schema_file = REPO / "schemas" / f"{kind}.schema.json"
    command = [str(CHECK_JSONSCHEMA), "--no-cache", "--schemafile", str(schema_file)]
    return subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("kind", ["runbook", "check", "runner"])
def test_check_jsonschema_passes_on_every_shipped_file(kind: str) -> None:
    files = shipped(kind)
    assert files, f"no shipped {kind} files found"
    result = check_jsonschema(kind, files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_check_jsonschema_reports_a_bad_step_through_the_check_schemas_refs(
    tmp_path: Path,
) -> None:
    # The step language of a check is the runbook schema's: the error proves the relative
    # `runbook.schema.json#/$defs/steps` ref was followed, not skipped.
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "check: broken\nsteps:\n  - id: one\n    sql: select 1\n    tresholds: {}\n",
        encoding="utf-8",
    )
    result = check_jsonschema("check", [broken])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "tresholds" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (
            "  - id: nothing\n    title: does nothing\n",
            [
                "broken.yaml::$.steps[0]: {'id': 'nothing', 'title': 'does nothing'} is not valid "
                "under any of the given schemas"
            ],
        ),
        (
            "  - id: two\n    sql: SELECT 1\n    http: {url: 'http://127.0.0.1/'}\n",
            [
                "broken.yaml::$.steps[0].http: {'url': 'http://127.0.0.1/'} should not be valid "
                "under {}",
                "broken.yaml::$.steps[0].sql: 'SELECT 1' should not be valid under {}",
            ],
        ),
        (
            "  - id: group\n    sql: SELECT 1\n    steps:\n      - sql: SELECT 2\n",
            [
                "broken.yaml::$.steps[0].steps: [{'sql': 'SELECT 2'}] should not be valid under {}",
                "broken.yaml::$.steps[0].sql: 'SELECT 1' should not be valid under {}",
            ],
        ),
        (
            "  - id: s\n    sql: SELECT 1\n    shell: true\n",
            ["broken.yaml::$.steps[0]: 'command' is a required property"],
        ),
        (
            "  - id: w\n    sql: SELECT 1\n    with: {a: 1}\n",
            [
                "broken.yaml::$.steps[0]: {'id': 'w', 'sql': 'SELECT 1', 'with': {'a': 1}} is not "
                "valid under any of the given schemas"
            ],
        ),
        (
            "  - id: f\n    sql: SELECT 1\n    as: x\n",
            ["broken.yaml::$.steps[0]: 'for_each' is a required property"],
        ),
        (
            "  - id: t\n    transaction: true\n    sql: SELECT 1\n",
            [
                "broken.yaml::$.steps[0]: {'id': 't', 'transaction': True, 'sql': 'SELECT 1'} is "
                "not valid under any of the given schemas"
            ],
        ),
    ],
    ids=[
        "no-action",
        "two-actions",
        "action-and-steps",
        "shell-on-sql",
        "with-on-sql",
        "as-without-for-each",
        "transaction-without-steps",
    ],
)
def test_check_jsonschema_rejects_what_validate_rejects_as_meaning(
    tmp_path: Path, steps: str, expected: list[str]
) -> None:
    """The checks of meaning JSON Schema can express are in the schema, so editors and CI
    show them too; `runbook validate` words the same problems its own way, once."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("runbook: broken\nsteps:\n" + steps, encoding="utf-8")
    result = check_jsonschema("runbook", [broken])
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    found = [line.replace(str(tmp_path) + os.sep, "") for line in lines if "::$" in line]
    assert found == expected
    assert "Traceback" not in result.stderr


def test_a_nested_step_without_an_action_is_rejected_in_a_check_too(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "check: broken\nsteps:\n  - id: group\n    steps:\n      - id: empty\n", encoding="utf-8"
    )
    result = check_jsonschema("check", [broken])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "$.steps[0].steps[0]: {'id': 'empty'} is not valid under any of the given" in (
        result.stdout
    )
