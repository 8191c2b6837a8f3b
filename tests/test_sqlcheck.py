"""SQL validated per dialect with sqlglot: errors with file:line:col, warnings for what
sqlglot cannot judge, templates rendered with placeholders first."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.cli import main
from runner.dialects import DIALECTS
from runner.language import sqlcheck

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def sql_project(project):
    project.config(
        """
        connections:
          main: {sqlite: data.db}
          cp: {odbc: "DRIVER={ODBC Driver 18 for SQL Server};SERVER=cp;DATABASE=CPSQL"}
          pg: {odbc: "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1"}
          maria: {odbc: "DSN=shop", dialect: mysql}
        state: var/runner.db
        """
    )
    yield project


def _validate(capsys, project, runbook: str) -> tuple[int, list[str]]:
    project.runbook("r", runbook)
    code = main(["validate", str(project.root / "runbooks")])
    out = capsys.readouterr().out
    return code, [line for line in out.splitlines() if ": error: " in line or ": warning: " in line]


def test_inline_sql_errors_point_into_the_yaml(sql_project, capsys) -> None:
    code, lines = _validate(
        capsys,
        sql_project,
        """
        runbook: r
        connection: main
        inputs:
          id: {type: integer, default: 1}
        steps:
          - id: block
            sql: |
              SELECT *
              FROM t WHERE (id = {{ inputs.id }}
          - id: quoted
            sql: "SELECT * FROM WHERE"
          - id: fine
            sql: SELECT * FROM t WHERE id IN {{ [1, 2] | in_list }}
        """,
    )
    assert code == 1
    assert lines == [
        "runbooks/r.yaml:9:26: error: steps[0].sql: the SQL does not parse as sqlite near '= ?' (expected ')')",
        "runbooks/r.yaml:11:25: error: steps[1].sql: the SQL does not parse as sqlite near 'FROM WHERE' (expected a table name, got 'WHERE')",
    ]


def test_sql_files_are_checked_in_the_connections_dialect(sql_project, capsys) -> None:
    sql_project.write("sql/x/q.sql", "-- fine in SQLite\nSELECT a FROM t LIMIT 1\n")
    sql_project.write(
        "sql/tsql/x/q.sql",
        "-- the SQL Server version\nSELECT TOP 1 a FROM t\nGO\nEXEC dbo.p @a = 1\nGO\nSELECT a\nFROM WHERE\n",
    )
    code, lines = _validate(
        capsys,
        sql_project,
        """
        runbook: r
        steps:
          - {id: demo, connection: main, sql: x/q.sql}
          - {id: prod, connection: cp, sql: x/q.sql}
        """,
    )
    assert code == 1  # the SQLite file is fine; the SQL Server one, found first for cp, is not
    assert lines == [
        "sql/tsql/x/q.sql:7:6: error: the SQL does not parse as tsql near 'FROM WHERE' "
        "(expected a table name, got 'WHERE')"
    ]


def test_what_sqlglot_cannot_judge_is_a_warning(sql_project, capsys) -> None:
    code, lines = _validate(
        capsys,
        sql_project,
        """
        runbook: r
        steps:
          - id: notice
            connection: pg
            sql: "DO $$ BEGIN RAISE NOTICE 'x'; END $$"
          - id: duration
            connection: maria
            sql: SELECT SLEEP({{ inputs.wait | seconds }})
        inputs:
          wait: {type: duration, default: 1s}
        """,
    )
    assert code == 0
    assert lines == [
        "runbooks/r.yaml:5: warning: steps[0].sql: SQL not checked: sqlglot cannot judge "
        "this DO statement in postgres",
        "runbooks/r.yaml:8: warning: steps[1].sql: SQL not checked: its template cannot be "
        "rendered with placeholders (ValueError: a placeholder value is not a duration)",
    ]


def test_runs_do_not_pay_for_the_check(sql_project) -> None:
    sql_project.runbook(
        "r",
        """
        runbook: r
        connection: main
        steps:
          - sql: SELECT 1 AS one
        """,
    )
    assert main(["validate"]) == 0
    assert str(sql_project.run("r").status) == "OK"


def test_only_a_library_asked_to_checks_sql_syntax(sql_project) -> None:
    """`runbook validate` asks for the SQL check; a run (and its library) leaves the SQL to
    the server. The choice lives on the Library, so nothing of it outlasts a validation."""
    from runner.language.library import Library
    from runner.steps import STEP_TYPES

    path = sql_project.runbook("r", "runbook: r\nconnection: main\nsteps:\n  - sql: SELEC 1\n")
    config = sql_project.library().config
    checked = Library(config, STEP_TYPES, check_sql=True).problems(path)
    assert [p.message for p in checked if p.severity == "error"] != []
    assert Library(config, STEP_TYPES).problems(path) == []


@pytest.mark.parametrize(
    "path",
    sorted((REPO / "sql").rglob("*.sql")),
    ids=lambda p: str(p.relative_to(REPO / "sql")),
)
def test_every_shipped_sql_file_parses_in_its_dialect(path: Path) -> None:
    folder = path.relative_to(REPO / "sql").parts[0]
    dialect = folder if folder in DIALECTS else "sqlite"
    problems = sqlcheck.check_file(path, dialect, str(path))
    unjudged = UNJUDGED.get(path.relative_to(REPO / "sql").as_posix())
    if unjudged:  # valid SQL sqlglot has no grammar for: a warning, never an error
        assert [p.message for p in problems] == [
            f"SQL not checked: sqlglot cannot judge this {unjudged} statement in {dialect}"
        ]
        return
    assert problems == []


#: Shipped SQL that sqlglot reads as an opaque command, with the statement it names.
UNJUDGED = {"postgres/wms/vacuum_analyze.sql": "VACUUM"}  # seed 003's weekly VACUUM ANALYZE


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT 1;\n\nSELECT *\nFORM orders;",
            "sql/x.sql:4:6: error: the SQL does not parse as sqlite near 'FORM orders' "
            "('orders' is not expected here)",
        ),
        (
            "SELECT * FROM t WHERE a = = 2",
            "sql/x.sql:1:27: error: the SQL does not parse as sqlite near '= =' "
            "(something is missing before '=')",
        ),
        (
            "SELECT (1",
            "sql/x.sql:1:9: error: the SQL does not parse as sqlite near '(1' (expected ')')",
        ),
        (
            "SELECT 'abc",
            "sql/x.sql:1: error: the SQL cannot be read as sqlite: an unclosed quote or a "
            'character it does not know in "SELECT \'ab"',
        ),
    ],
)
def test_sqlglot_errors_read_as_plain_words_with_the_statement(sql: str, message: str) -> None:
    problems = sqlcheck.check_sql(sql, "sqlite", "sql/x.sql")
    assert [problem.format() for problem in problems] == [message]
    assert "\x1b" not in message and "Line " not in message and "<" not in message


def test_a_template_error_in_inline_sql_is_reported_once(sql_project, capsys) -> None:
    code, lines = _validate(
        capsys,
        sql_project,
        """
        runbook: r
        connection: main
        steps:
          - id: q
            sql: SELECT * FROM t WHERE id = {{ 1
        """,
    )
    assert code == 1
    assert lines == [
        "runbooks/r.yaml:5:10: error: steps[0].sql: template syntax error: unexpected end of "
        "template, expected 'end of print statement'. (check the Jinja {{ }} / {% %} pairs)"
    ]


def test_a_template_error_in_a_sql_file_is_an_error_at_its_line(sql_project, capsys) -> None:
    sql_project.write("sql/q.sql", "SELECT 1;\n\nSELECT {{ x\nFROM t;\n")
    code, lines = _validate(
        capsys, sql_project, "runbook: r\nconnection: main\nsteps:\n  - {id: q, sql: q.sql}\n"
    )
    assert code == 1
    assert lines == [
        "sql/q.sql:4: error: template syntax error: expected token 'end of print statement', "
        "got 'FROM' (check the Jinja {{ }} / {% %} pairs)"
    ]
