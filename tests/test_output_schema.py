"""schemas/run-result.schema.json against the real JSON of every command and kind of run,
and docs/output.md against the schema's enums."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO

from runner.cli import main
from runner.history.locks import RunLock

SCHEMA_PATH = REPO / "schemas" / "run-result.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def kind_validator(kind: str) -> jsonschema.protocols.Validator:
    """The schema narrowed to one document kind (`#/$defs/KIND`), as a user can use it."""
    narrowed = {**SCHEMA, "anyOf": [{"$ref": f"#/$defs/{kind}"}]}
    return jsonschema.Draft202012Validator(narrowed)


def check(document: object, kind: str) -> None:
    """Valid against the whole schema and against its own kind, strictly."""
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    errors = [error.message for error in kind_validator(kind).iter_errors(document)]
    assert errors == [], errors


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object]:
    code = main([*args, "--format", "json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


@pytest.fixture
def runbooks(project):
    project.sql("CREATE TABLE o (id INTEGER, ok INTEGER)", "INSERT INTO o VALUES (1, 1), (2, 0)")
    project.runbook(
        "normal",
        """
        runbook: normal
        title: Orders
        kind: health-check
        connection: main
        inputs:
          limit: {type: integer, default: 5}
        steps:
          - id: count
            sql: SELECT COUNT(*) AS n FROM o WHERE id <= {{ inputs.limit }}
            thresholds:
              n: {warning: 1, critical: 10}
            hint: Look at the orders.
          - id: each
            for_each: steps.count.rows
            steps:
              - id: one
                sql: SELECT {{ item.n }} AS v
          - id: sh
            command: [sh, -c, "echo hi"]
        """,
    )
    project.runbook(
        "slow",
        """
        runbook: slow
        kind: maintenance
        steps:
          - id: nap
            command: [sleep, "30"]
            timeout: 0.2s
        """,
    )
    project.runbook(
        "looped",
        """
        runbook: looped
        kind: health-check
        connection: main
        concurrency: skip
        steps:
          - id: orders
            sql: SELECT id, ok FROM o ORDER BY id
          - id: check
            for_each: steps.orders.rows
            as: order
            steps:
              - sql: SELECT {{ order.ok }} AS ok
                thresholds: {ok: {critical: 1, direction: below}}
        """,
    )
    project.runbook(
        "broken",
        """
        runbook: broken
        kind: health-check
        connection: main
        colour: red
        steps:
          - id: a
            sql: SELECT 1
        """,
    )
    return project


def test_a_normal_run_matches_the_schema(runbooks, capsys):
    code, run = cli_json(capsys, "run", "normal")
    assert code == 1  # WARNING: 2 rows > warning 1
    assert run["outcome"] == "completed"
    assert [step["outcome"] for step in run["steps"]] == ["ok", "ok", "ok"]
    check(run, "run")
    assert TIMESTAMP.match(run["started"]) and TIMESTAMP.match(run["ended"])


@pytest.mark.parametrize("mode", ["--dry-run", "--rehearse"])
def test_dry_runs_and_rehearsals_match_the_schema(runbooks, capsys, mode):
    _, run = cli_json(capsys, "run", "normal", mode)
    assert run["mode"] == mode.removeprefix("--")
    assert any(step["rendered"] for step in run["steps"])
    check(run, "run")


def test_a_for_each_run_matches_the_schema(runbooks, capsys):
    code, run = cli_json(capsys, "run", "looped")
    assert code == 2
    items = run["steps"][1]["children"]
    assert [item["action"] for item in items] == ["item", "item"]
    check(run, "run")


def test_a_command_timeout_is_timed_out_as_a_sql_timeout_is(runbooks, capsys):
    code, run = cli_json(capsys, "run", "slow")
    assert code == 2
    step = run["steps"][0]
    assert (step["outcome"], step["status"], step["values"]["timed_out"]) == (
        "timed_out",
        "CRITICAL",
        True,
    )
    assert step["values"]["exit_code"] == -15  # SIGTERM was enough
    assert step["error"] == "sleep 30 did not finish within 200ms: it was killed"
    assert step["attempts"][0]["outcome"] == "timed_out"
    assert step["attempts"][0]["transient"] is True
    check(run, "run")


def test_an_invalid_runbook_answers_outcome_invalid_in_the_schema(runbooks, capsys):
    code, run = cli_json(capsys, "run", "broken")
    assert (code, run["outcome"], run["run_id"]) == (3, "invalid", None)
    assert run["problems"][0]["message"] == "unknown key 'colour'"
    check(run, "run")
    code, run = cli_json(capsys, "run", "nothing-by-this-name")
    assert (code, run["outcome"]) == (3, "invalid")
    check(run, "run")


def test_a_skipped_run_matches_the_schema(runbooks, capsys):
    with RunLock(Path("var") / "locks", "looped", "skip", run_id="holder"):
        _, run = cli_json(capsys, "run", "looped")
    assert run["outcome"] == "skipped"
    assert re.search(r", since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", run["error"])
    check(run, "run")


def test_history_list_and_one_recorded_run_match_the_schema(runbooks, capsys):
    main(["run", "normal"])
    main(["run", "slow"])
    main(["run", "normal", "--rehearse"])
    capsys.readouterr()
    _, rows = cli_json(capsys, "history")
    assert isinstance(rows, list) and len(rows) == 3
    check(rows, "history")
    assert all(TIMESTAMP.match(row["started"]) and TIMESTAMP.match(row["ended"]) for row in rows)
    for row in rows:
        _, recorded = cli_json(capsys, "history", "--run", row["run_id"])
        check(recorded, "recorded_run")
        assert recorded["format_version"] == 1
        assert all(TIMESTAMP.match(step["started"]) for step in recorded["steps"])


def test_list_and_show_match_the_schema(runbooks, capsys):
    _, listed = cli_json(capsys, "list")
    assert {item["name"] for item in listed} == {"normal", "slow", "looped", "broken"}
    assert next(item for item in listed if item["name"] == "broken")["kind"] == "?"
    check(listed, "runbook_list")
    _, shown = cli_json(capsys, "show", "normal")
    assert shown["steps"][0]["thresholds"][0]["name"] == "n"
    check(shown, "runbook_detail")


def test_validate_good_and_bad_match_the_schema(runbooks, capsys):
    code, good = cli_json(capsys, "validate", "runbooks/normal.yaml")
    assert (code, good["valid"]) == (0, True)
    check(good, "validation")
    code, bad = cli_json(capsys, "validate")
    assert (code, bad["valid"], bad["errors"]) == (1, False, 1)
    check(bad, "validation")


def test_the_schema_catches_drift():
    """A renamed field, a new outcome or an offset timestamp is not valid."""
    validator = kind_validator("run")
    run = {
        "format_version": 1,
        "run_id": "r",
        "runbook": "x",
        "title": "",
        "kind": "health-check",
        "status": "OK",
        "exit_code": 0,
        "outcome": "completed",
        "mode": "run",
        "trigger": "manual",
        "started": "2026-11-24T09:15:00.130Z",
        "ended": "2026-11-24T09:15:00.551Z",
        "duration": 0.421,
        "inputs": {},
        "user": "u",
        "host": "h",
        "error": None,
        "steps": [],
        "notifications": [],
    }
    assert validator.is_valid(run)
    assert not validator.is_valid({**run, "outcome": "finished"})
    assert not validator.is_valid({**run, "started": "2026-11-24T09:15:00.130120+00:00"})
    assert not validator.is_valid({**run, "exitcode": 0})
    assert not validator.is_valid({k: v for k, v in run.items() if k != "error"})


def _enum_values(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "enum":
                found.update(item for item in value if isinstance(item, str))
            elif key == "const" and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= _enum_values(value)
    elif isinstance(node, list):
        for item in node:
            found |= _enum_values(item)
    return found


def _documented_values(doc: str) -> set[str]:
    """Every value a field of the contract is documented to take: the back-quoted words
    in the "Meaning" column of the tables that describe a field with fixed values."""
    values: set[str] = set()
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) < 4 or not cells[1].startswith("`"):
            continue
        field = cells[1].strip("`").rsplit(".", 1)[-1]  # problems[].severity: severity
        if field in ENUM_FIELDS:
            words = re.findall(r"`([A-Za-z?][\w?-]*)`", cells[3])  # not `when:`, `--dry-run`
            values.update(word for word in words if word not in NAMED_IN_PASSING)
    return values


#: Words the meanings name in passing that are commands or runbook keys, not values.
NAMED_IN_PASSING = {"for_each", "history", "notify-test", "status", "steps"}


#: The documented fields whose values are an enum in the schema.
ENUM_FIELDS = {"status", "outcome", "mode", "kind", "action", "direction", "severity", "catchup"}


def test_every_enum_value_of_the_schema_is_documented_and_vice_versa():
    doc = (REPO / "docs" / "output.md").read_text(encoding="utf-8")
    in_schema = _enum_values(SCHEMA["$defs"])
    documented = _documented_values(doc)
    assert sorted(in_schema - documented) == []
    assert sorted(documented - in_schema) == []


def test_check_jsonschema_accepts_a_real_output_offline(runbooks, capsys, tmp_path):
    """The schema works with the standard validator, with no network and no extra flag."""
    from test_check_jsonschema import CHECK_JSONSCHEMA

    main(["run", "normal", "--format", "json"])
    good = tmp_path / "run.json"
    good.write_text(capsys.readouterr().out, encoding="utf-8")
    drifted = tmp_path / "drifted.json"
    drifted.write_text(
        json.dumps({**json.loads(good.read_text()), "outcome": "finished"}), encoding="utf-8"
    )
    nowhere = "http://127.0.0.1:9"  # any fetch of a schema fails loudly
    env = {"PATH": "/usr/bin:/bin", "HTTP_PROXY": nowhere, "HTTPS_PROXY": nowhere}
    command = [str(CHECK_JSONSCHEMA), "--no-cache", "--schemafile", str(SCHEMA_PATH)]
    passed = subprocess.run(
        [*command, str(good)], capture_output=True, text=True, env=env, timeout=120
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr
    failed = subprocess.run(
        [*command, str(drifted)], capture_output=True, text=True, env=env, timeout=120
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr


def test_notifications_of_a_run_a_recorded_run_and_notify_test_match_the_schema(project, capsys):
    from test_announce import Webhook

    hook = Webhook()
    try:
        project.config(
            "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n"
            f"notifications:\n  urls:\n    ops: [{hook.url('ok')}, {hook.url('fail')}]\n"
            "  attempts: 1\n"
        )
        project.runbook(
            "gauge",
            """
            runbook: gauge
            kind: health-check
            connection: main
            notify: {critical: [ops]}
            steps:
              - id: gauge
                sql: SELECT 70 AS level
                thresholds: {level: {critical: 50}}
            """,
        )
        _, run = cli_json(capsys, "run", "gauge")
        assert sorted(item["ok"] for item in run["notifications"]) == [False, True]
        check(run, "run")
        assert all(TIMESTAMP.match(item["at"]) for item in run["notifications"])
        _, recorded = cli_json(capsys, "history", "--run", run["run_id"])
        assert len(recorded["notifications"]) == 2
        check(recorded, "recorded_run")
        assert all(TIMESTAMP.match(item["at"]) for item in recorded["notifications"])
        _, tested = cli_json(capsys, "notify-test", "ops")
        assert [item["kind"] for item in tested["notifications"]] == ["test", "test"]
        check(tested, "deliveries")
    finally:
        hook.close()


def test_every_step_type_is_an_action_of_the_schema():
    """A new step type without its action in the schema would make `--format json` of
    its runs fail the schema (backup was missing so)."""
    from runner.steps import STEP_TYPES

    actions = SCHEMA["$defs"]["action"]["enum"]
    assert actions == [*STEP_TYPES.names, "group", "item"]
