"""Bad runbooks are refused with every problem, each naming file, line, key and a fix."""

from __future__ import annotations

import pytest

from runner.base.errors import InvalidInput


def problems_of(project, text: str, name: str = "t") -> list[str]:
    path = project.runbook(name, text)
    return [p.format() for p in project.library().problems(path)]


CASES = [
    (
        "yaml-syntax",
        "runbook: t\nsteps: [\n  - sql: SELECT 1\n",
        ["runbooks/t.yaml:3:3: error: YAML syntax error"],
    ),
    (
        "tab-indentation",
        "runbook: t\nsteps:\n\t- sql: SELECT 1\n",
        [
            "runbooks/t.yaml:3:1: error: YAML syntax error: a tab character is used for indentation "
            "(YAML indentation must use spaces; replace the tab with spaces)"
        ],
    ),
    (
        "duplicate-key",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:5:5: error: duplicate key 'sql' (first defined on line 4) "
            "(keep one of them: YAML would silently use the last)"
        ],
    ),
    (
        "missing-sql-file",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: orders/nope.sql\n",
        ["runbooks/t.yaml:5:10: error: steps[0].sql: SQL file 'orders/nope.sql' not found"],
    ),
    (
        "jinja-syntax",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: SELECT {{ 1 +\n",
        ["runbooks/t.yaml:5:10: error: steps[0].sql: template syntax error"],
    ),
    (
        "duplicate-step-id",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: SELECT 1\n  - id: a\n    sql: SELECT 2\n",
        ["runbooks/t.yaml:6:9: error: steps[1].id: duplicate step id 'a' (first used on line 4)"],
    ),
    (
        "reference-to-later-step",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    when: steps.b.value > 0\n    sql: SELECT 1\n"
        "  - id: b\n    sql: SELECT 2\n",
        ["runbooks/t.yaml:5:11: error: steps[0].when: step 'b' is used before it runs"],
    ),
    (
        "reference-to-unknown-step",
        "runbook: t\nconnection: main\nsteps:\n  - id: count\n    sql: SELECT 1\n  - id: b\n"
        "    when: steps.cuont.value > 0\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:7:11: error: steps[1].when: no step with id 'cuont' (did you mean 'count'?)"
        ],
    ),
    (
        "unknown-connection",
        "runbook: t\nsteps:\n  - id: a\n    connection: mian\n    sql: SELECT 1\n",
        [
            "runbooks/t.yaml:4:17: error: steps[0].connection: unknown connection 'mian' (did you mean 'main'?)"
        ],
    ),
    (
        "unknown-input",
        "runbook: t\nconnection: main\ninputs:\n  stale: {type: integer, default: 5}\nsteps:\n"
        "  - sql: SELECT {{ inputs.stael }}\n",
        [
            "runbooks/t.yaml:6:10: error: steps[0].sql: unknown input 'stael' (did you mean 'stale'?)"
        ],
    ),
    (
        "warning-beyond-critical",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1 AS n\n    thresholds:\n"
        "      n: {warning: 50, critical: 10}\n",
        [
            "runbooks/t.yaml:6:20: error: steps[0].thresholds.n.warning: warning 50 is above critical 10, "
            "so it could never fire (with direction above (bad when high), warning must be at most critical)"
        ],
    ),
    (
        "invalid-cron",
        "runbook: t\nschedule: 61 * * * *\nconnection: main\nsteps:\n  - sql: SELECT 1\n",
        ["runbooks/t.yaml:2:11: error: schedule: '61 * * * *' is not a valid cron schedule"],
    ),
    (
        "default-of-wrong-type",
        "runbook: t\nconnection: main\ninputs:\n  n: {type: integer, default: ten}\nsteps:\n  - sql: SELECT 1\n",
        [
            "runbooks/t.yaml:4:31: error: inputs.n.default: default of input 'n' is wrong: expected a whole number, "
            "got 'ten' (the input is declared as type integer)"
        ],
    ),
    (
        "two-actions",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1\n    wait: 5s\n",
        [
            "runbooks/t.yaml:4:5: error: steps[0]: a step does exactly one thing, but this one has sql, wait"
        ],
    ),
    (
        "unknown-check",
        "runbook: t\nsteps:\n  - check: last-rnu\n",
        ["runbooks/t.yaml:3:12: error: steps[0].check: no check named 'last-rnu'"],
    ),
    (
        "calls-itself",
        "runbook: t\nsteps:\n  - runbook: t\n",
        ["runbooks/t.yaml:3:14: error: steps[0].runbook: runbook call cycle: t -> t"],
    ),
]


@pytest.mark.parametrize("name, text, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_runbooks_give_exact_messages(project, name, text, expected):
    found = problems_of(project, text)
    for message in expected:
        assert any(line.startswith(message) for line in found), f"{message!r} not in {found}"


def test_every_problem_is_reported_not_just_the_first(project):
    found = problems_of(
        project,
        """
        runbook: t
        connection: main
        schedule: "every hour"
        steps:
          - id: a
            sql: SELECT {{ inputs.nope }}
          - id: a
            sql: SELECT 1
            thresholds:
              n: {warning: 9, critical: 1}
        """,
    )
    assert len(found) == 4, found


def test_cycle_through_another_runbook(project):
    project.runbook("b", "runbook: b\nsteps:\n  - runbook: a\n")
    found = problems_of(project, "runbook: a\nsteps:\n  - runbook: b\n", name="a")
    assert any("runbook call cycle: a -> b -> a" in line for line in found)


def test_an_invalid_runbook_never_starts(project):
    project.sql("CREATE TABLE d (x)", "INSERT INTO d VALUES (1)")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - sql: DELETE FROM d
          - sql: SELECT {{ broken
        """,
    )
    with pytest.raises(InvalidInput):
        project.run("t")
    assert project.query("SELECT COUNT(*) FROM d") == [(1,)]


def test_huge_file_is_refused_without_parsing(project):
    path = project.root / "runbooks" / "huge.yaml"
    path.write_text("runbook: huge\n" + "# padding\n" * 1_100_000)
    found = [p.format() for p in project.library().problems(path)]
    assert found == [
        "runbooks/huge.yaml: error: the file is 10.5 MiB; files over 1 MiB are refused "
        "(a runbook is small: split it, or move data out of it)"
    ]


def test_alias_bomb_is_refused(project):
    lines = ["runbook: bomb", 'a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    previous = "a"
    for name in "bcdefgh":
        lines.append(f"{name}: &{name} [" + ",".join(f"*{previous}" for _ in range(10)) + "]")
        previous = name
    lines.append("steps: [{wait: 1s}]")
    path = project.runbook("bomb", "\n".join(lines) + "\n")
    found = [p.format() for p in project.library().problems(path)]
    assert (
        len(found) == 1 and "expands to more than 100,000 values through YAML aliases" in found[0]
    )
