"""`runbook next`: the next run times of scheduled runbooks, in their zone and in UTC."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import REPO

from runner.cli import main

SCHEMA = json.loads((REPO / "schemas" / "run-result.schema.json").read_text(encoding="utf-8"))
STEPS = "connection: main\nsteps:\n  - sql: SELECT 1\n"


def scheduled(project) -> None:
    project.runbook(
        "paris", "runbook: paris\nschedule: '30 2 * * *'\ntimezone: Europe/Paris\n" + STEPS
    )
    project.runbook("hourly", "runbook: hourly\nschedule: '0 * * * *'\n" + STEPS)
    project.runbook("manual", "runbook: manual\n" + STEPS)


def test_every_scheduled_runbook_across_the_spring_forward(project, capsys):
    scheduled(project)
    code = main(["next", "-n", "3", "--after", "2026-03-28T00:00Z"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out == (
        "The next 3 run times after 2026-03-28 00:00Z:\n"
        "\n"
        "hourly   0 * * * *   UTC\n"
        "  2026-03-28 01:00Z\n"
        "  2026-03-28 02:00Z\n"
        "  2026-03-28 03:00Z\n"
        "\n"
        "paris   30 2 * * *   Europe/Paris\n"
        "  2026-03-28 02:30 CET (+01:00)   2026-03-28 01:30Z\n"
        "  2026-03-30 02:30 CEST (+02:00)   2026-03-30 00:30Z\n"
        "  2026-03-31 02:30 CEST (+02:00)   2026-03-31 00:30Z\n"
    )


def test_one_runbook_in_the_zone_of_runner_yaml(project, capsys):
    project.config(
        "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\ntimezone: America/New_York\n"
    )
    scheduled(project)
    code = main(["next", "hourly", "-n", "2", "--after", "2026-11-01T00:30:00-04:00"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[2:] == [
        "hourly   0 * * * *   America/New_York",
        # 01:00 comes twice on the fall-back night, and runs once
        "  2026-11-01 01:00 EDT (-04:00)   2026-11-01 05:00Z",
        "  2026-11-01 02:00 EST (-05:00)   2026-11-01 07:00Z",
    ]


def test_json_follows_the_output_schema(project, capsys):
    scheduled(project)
    project.runbook("broken", "runbook: broken\nschedule: '0 * * * *'\njitter: 2h\n" + STEPS)
    code = main(["next", "-n", "2", "--after", "2026-10-25T00:15Z", "--format", "json"])
    out, _ = capsys.readouterr()
    document = json.loads(out)
    jsonschema.Draft202012Validator({**SCHEMA, "anyOf": [{"$ref": "#/$defs/next_runs"}]}).validate(
        document
    )
    assert code == 0
    assert document["after"] == "2026-10-25T00:15:00.000Z"
    by_name = {row["runbook"]: row for row in document["runbooks"]}
    assert sorted(by_name) == ["broken", "hourly", "paris"]
    assert by_name["broken"]["error"] == "INVALID: 1 error"
    assert by_name["broken"]["times"] == []
    assert by_name["paris"]["times"] == [
        {"utc": "2026-10-25T00:30:00.000Z", "local": "2026-10-25T02:30:00+02:00"},
        {"utc": "2026-10-26T01:30:00.000Z", "local": "2026-10-26T02:30:00+01:00"},
    ]


def test_a_runbook_without_a_schedule(project, capsys):
    scheduled(project)
    code = main(["next", "manual"])
    _, err = capsys.readouterr()
    assert code == 3
    assert err == "runbook: manual has no schedule: (in runbooks/manual.yaml)\n"


def test_a_bad_after(project, capsys):
    scheduled(project)
    code = main(["next", "--after", "yesterday"])
    _, err = capsys.readouterr()
    assert code == 3
    assert "--after 'yesterday' is not a moment" in err


def test_nothing_scheduled(project, capsys):
    project.runbook("manual", "runbook: manual\n" + STEPS)
    assert main(["next"]) == 0
    assert capsys.readouterr().out == "No scheduled runbooks.\n"


def test_help_lists_it(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "next" in out and "runbook next order-health -n 3" in out
