"""The keys of a scheduled runbook: timezone (its own, runner.yaml's, else UTC), jitter,
catchup, catchup_window and grace, as built into the model and as validation words what
cannot hold, naming file, line and key."""

from __future__ import annotations

import re

import pytest

from runner.base.errors import InvalidInput

HEAD = "runbook: t\nconnection: main\n"
STEPS = "steps:\n  - sql: SELECT 1\n"


def problems_of(project, text: str) -> list[str]:
    path = project.runbook("t", text)
    found = project.library().problems(path)
    ordered = sorted(found, key=lambda p: (p.line or 0, p.col or 0))
    return [p.format() for p in ordered]


def test_defaults(project):
    project.runbook("t", HEAD + "schedule: '0 * * * *'\n" + STEPS)
    model = project.library().runbook("t")
    assert (model.timezone, model.jitter, model.catchup, model.catchup_window, model.grace) == (
        None,
        0.0,
        "latest",
        86400.0,
        None,
    )


def test_written_values(project):
    project.runbook(
        "t",
        HEAD
        + "schedule: '0 * * * *'\ntimezone: Europe/Paris\njitter: 2m\ncatchup: all\n"
        + "catchup_window: 6h\ngrace: 10m\n"
        + STEPS,
    )
    model = project.library().runbook("t")
    assert (model.timezone, model.jitter, model.catchup, model.catchup_window, model.grace) == (
        "Europe/Paris",
        120.0,
        "all",
        21600.0,
        600.0,
    )


def test_runner_yaml_gives_the_default_zone_and_a_runbook_its_own(project):
    project.config(
        "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\ntimezone: America/New_York\n"
    )
    project.runbook("t", HEAD + "schedule: '0 * * * *'\n" + STEPS)
    project.runbook(
        "own",
        "runbook: own\nconnection: main\nschedule: '0 * * * *'\ntimezone: Asia/Tokyo\n" + STEPS,
    )
    library = project.library()
    assert library.runbook("t").timezone == "America/New_York"
    assert library.runbook("own").timezone == "Asia/Tokyo"


def test_an_unknown_zone_in_runner_yaml_names_its_line(project):
    project.config("connections:\n  main: {sqlite: data.db}\ntimezone: Europe/Pariss\n")
    with pytest.raises(InvalidInput) as caught:
        project.library()
    assert [p.format().replace(f"{project.root}/", "") for p in caught.value.problems] == [
        "runner.yaml:3:11: error: timezone: unknown time zone 'Europe/Pariss' (use an IANA name such as Europe/Paris or UTC)"
    ]


CASES = [
    (
        "bad-duration",
        "schedule: '0 * * * *'\njitter: 5 minutes\n",
        [
            "runbooks/t.yaml:4:9: error: jitter: '5 minutes' is not a duration: write 30s, 5m, 1h30m or 2d"
        ],
    ),
    (
        "bad-catchup",
        "schedule: '0 * * * *'\ncatchup: every\n",
        ["runbooks/t.yaml:4:10: error: catchup: 'every' is not one of: none, latest, all"],
    ),
    (
        "never-fires",
        "schedule: '0 0 31 2 *'\n",
        [
            "runbooks/t.yaml:3:11: error: schedule: '0 0 31 2 *' never fires: no date matches it (check the day of month against the month (there is no 31 February))"
        ],
    ),
    (
        "jitter-as-long-as-the-interval",
        "schedule: '*/15 * * * *'\njitter: 15m\n",
        [
            "runbooks/t.yaml:4:9: error: jitter: jitter of 15m is not shorter than the 15m between two runs of '*/15 * * * *' (a run could start after the next one is due: lower the jitter)"
        ],
    ),
    (
        "grace-within-the-jitter",
        "schedule: '0 * * * *'\njitter: 10m\ngrace: 5m\n",
        [
            "runbooks/t.yaml:5:8: error: grace: grace of 5m is not longer than the jitter of 10m (a run that jitter delays would be reported LATE: raise the grace)"
        ],
    ),
    (
        "window-of-zero",
        "schedule: '0 * * * *'\ncatchup_window: 0s\n",
        [
            "runbooks/t.yaml:4:17: error: catchup_window: a catchup_window of 0 catches up nothing, yet catchup is 'latest' (write catchup: none, or a window such as 24h)"
        ],
    ),
    (
        "window-without-catchup",
        "schedule: '0 * * * *'\ncatchup: none\ncatchup_window: 2h\n",
        [
            "runbooks/t.yaml:5:1: warning: catchup_window: catchup_window: has no effect with catchup: none (remove it, or write catchup: latest or all)"
        ],
    ),
    (
        "all-with-a-window-under-the-interval",
        "schedule: '0 8 * * *'\ncatchup: all\ncatchup_window: 6h\n",
        [
            "runbooks/t.yaml:5:17: warning: catchup_window: catchup: all with a catchup_window of 6h, shorter than the 1d between two runs of '0 8 * * *', catches up at most one run (widen catchup_window, or write catchup: latest)"
        ],
    ),
    (
        "keys-without-a-schedule",
        "jitter: 1m\ngrace: 10m\n",
        [
            "runbooks/t.yaml:3:1: warning: jitter: jitter: has no effect: the runbook has no schedule: (add a schedule: or remove it)",
            "runbooks/t.yaml:4:1: warning: grace: grace: has no effect: the runbook has no schedule: (add a schedule: or remove it)",
        ],
    ),
    (
        "unknown-zone-stops-the-other-checks",
        "schedule: '0 * * * *'\ntimezone: Europe/Pariss\njitter: 2h\n",
        [
            "runbooks/t.yaml:4:11: error: timezone: unknown time zone 'Europe/Pariss' (use an IANA name such as Europe/Berlin or UTC)"
        ],
    ),
    (
        "an-input-a-scheduled-run-cannot-be-given",
        "schedule: '0 * * * *'\ninputs:\n  who: {type: string}\n  days: {type: integer, default: 7}\n",
        [
            "runbooks/t.yaml:4:1: error: inputs: input 'who' has no default, and a scheduled run is given no --param: every scheduled run would be refused (give each input a default: (operators still override it with --param), or remove schedule:)"
        ],
    ),
    (
        "all-fine",
        "schedule: '*/15 * * * *'\ntimezone: Europe/Paris\njitter: 1m\ncatchup: all\ncatchup_window: 2h\ngrace: 5m\n",
        [],
    ),
]


@pytest.mark.parametrize("name, keys, expected", CASES, ids=[c[0] for c in CASES])
def test_what_validation_says(project, name, keys, expected):
    assert problems_of(project, HEAD + keys + STEPS) == expected


def test_effective_grace(project):
    from runner.language.scheduling import effective_grace

    project.runbook("t", HEAD + "schedule: '0 8 * * *'\njitter: 1m\n" + STEPS)
    project.runbook("g", "runbook: g\nconnection: main\nschedule: '0 8 * * *'\ngrace: 1h\n" + STEPS)
    project.runbook("u", "runbook: u\nconnection: main\n" + STEPS)
    library = project.library()
    assert effective_grace(library.runbook("t")) == 8640 + 60
    assert effective_grace(library.runbook("g")) == 3600
    assert effective_grace(library.runbook("u")) is None


def test_show_says_the_policies_in_force(project, capsys):
    import json

    import jsonschema
    from conftest import REPO

    from runner.cli import main

    project.runbook(
        "t",
        HEAD + "schedule: '0 8 * * *'\ntimezone: Asia/Tokyo\njitter: 1m\ncatchup: all\n" + STEPS,
    )
    assert main(["show", "t"]) == 0
    text = capsys.readouterr().out
    assert "schedule: 0 8 * * * (Asia/Tokyo)" in text
    assert "catch-up: all within 1d   grace: 2h25m   jitter: 1m\n" in text
    assert main(["show", "t", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    schema = json.loads((REPO / "schemas" / "run-result.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(
        {**schema, "anyOf": [{"$ref": "#/$defs/runbook_detail"}]}
    ).validate(shown)
    assert shown["scheduling"] == {
        "jitter": 60.0,
        "catchup": "all",
        "catchup_window": 86400.0,
        "grace": 8700.0,
    }
    project.runbook("u", "runbook: u\nconnection: main\n" + STEPS)
    assert main(["show", "u", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["scheduling"] is None


def test_a_daily_run_in_the_hour_the_clock_skips_is_warned_about(project):
    found = problems_of(project, HEAD + "schedule: '30 2 * * *'\ntimezone: Europe/Paris\n" + STEPS)
    assert len(found) == 1
    assert re.fullmatch(
        r"runbooks/t\.yaml:4:11: warning: timezone: '30 2 \* \* \*' does not run on the day "
        r"Europe/Paris's clock jumps from 02:00 to 03:00 \(next on \d{4}-03-\d\d\): that time "
        r"does not exist then \(move it out of that hour, or write the schedule in UTC\)",
        found[0],
    )
    # hourly keeps its rhythm in real time; 03:00 exists; UTC has no jumps
    for keys in (
        "schedule: '0 * * * *'\ntimezone: Europe/Paris\n",
        "schedule: '0 3 * * *'\ntimezone: Europe/Paris\n",
        "schedule: '30 2 * * *'\n",
    ):
        assert problems_of(project, HEAD + keys + STEPS) == []
