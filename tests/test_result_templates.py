"""A step's hint and its assert messages may name the step's own result (`rows`, `value`,
its columns) and the loop item, as its thresholds and asserts do."""

from __future__ import annotations


def test_hint_and_message_name_the_rows_they_are_about(project) -> None:
    project.sql(
        "CREATE TABLE t (id INTEGER, err TEXT)", "INSERT INTO t VALUES (1, 'late'), (2, 'lost')"
    )
    project.runbook(
        "r",
        """
        runbook: r
        connection: main
        steps:
          - id: bad
            sql: SELECT id, err FROM t ORDER BY id
            thresholds:
              n: {value: rows | length, warning: 0}
            hint: "{% for r in rows %}#{{ r.id }} {{ r.err }}; {% endfor %}"
          - id: each
            for_each: [1, 2]
            as: n
            steps:
              - id: one
                sql: SELECT err FROM t WHERE id = {{ n }}
                assert:
                  - that: value == 'late'
                    severity: warning
                    message: "item {{ n }}: {{ value }}"
        """,
    )
    path = project.root / "runbooks" / "r.yaml"
    assert [p.message for p in project.library().problems(path)] == []

    run = project.run("r")

    bad, each = run.steps
    assert bad.hint == "#1 late; #2 lost; "
    texts = [e.text for item in each.children for child in item.children for e in child.evaluations]
    assert texts == ["value == 'late'", "item 2: lost"]


def test_a_message_that_cannot_render_is_unknown_not_hidden(project) -> None:
    project.runbook(
        "r",
        """
        runbook: r
        connection: main
        steps:
          - id: q
            sql: SELECT 1 AS v
            assert:
              - {that: v == 2, message: "v is {{ v.missing.deeper }}"}
        """,
    )
    run = project.run("r")
    (evaluation,) = run.steps[0].evaluations
    assert str(evaluation.status) == "UNKNOWN" and "missing" in evaluation.text


def test_names_outside_the_result_are_still_checked(project) -> None:
    project.runbook(
        "r",
        """
        runbook: r
        connection: main
        steps:
          - id: q
            sql: SELECT 1 AS v
            title: "{{ nothing }}"
        """,
    )
    problems = [p.message for p in project.library().problems(project.root / "runbooks" / "r.yaml")]
    assert any("unknown name 'nothing'" in message for message in problems)
