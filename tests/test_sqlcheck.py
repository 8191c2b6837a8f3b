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
        "runbooks/r.yaml:9:26: error: steps[0].sql: SQL syntax error (sqlite) near '?': Expecting )",
        "runbooks/r.yaml:11:25: error: steps[1].sql: SQL syntax error (sqlite) near 'WHERE': Expected table name but got 'WHERE'",
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
        "sql/tsql/x/q.sql:7:6: error: SQL syntax error (tsql) near 'WHERE': "
        "Expected table name but got 'WHERE'"
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
    assert problems == []
