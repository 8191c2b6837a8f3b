"""Connections: ODBC result sets, messages, batches, savepoints and placeholders, on real
drivers (PostgreSQL, SQLite through ODBC) and the embedded SQLite."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from runner.databases.connections import SqliteConnection
from runner.databases.odbc import OdbcConnection
from runner.dialects import get
from runner.dialects.scripts import count_placeholders, split_statements
from runner.language.config import ConnectionSpec

PG = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=test;UID=postgres"


def _odbc(target: str, dialect: str = "", name: str = "db") -> OdbcConnection:
    import pyodbc

    from runner.base.errors import StepError

    try:
        return OdbcConnection(ConnectionSpec(name, "odbc", target, dialect, 5.0), target)
    except StepError as error:
        if "PostgreSQL" in target and "PostgreSQL Unicode" in pyodbc.drivers():
            pytest.skip(f"PostgreSQL is not reachable: {error}")
        raise


@pytest.fixture
def pg() -> Any:
    connection = _odbc(PG)
    yield connection
    connection.close()


@pytest.mark.integration
def test_every_result_set_and_message_is_kept(pg: OdbcConnection) -> None:
    result = pg.execute(
        "SELECT 1 AS a, 'x' AS b; "
        "DO $$ BEGIN RAISE NOTICE 'checked % rows', 71; END $$; "
        "SELECT 2 AS c UNION ALL SELECT 3",
        [],
        10,
    )
    assert result["value"] == 1 and result["row"] == {"a": 1, "b": "x"}
    assert result["result_sets"] == [
        {"columns": ["a", "b"], "rows": [{"a": 1, "b": "x"}]},
        {"columns": ["c"], "rows": [{"c": 2}, {"c": 3}]},
    ]
    assert result["messages"] == ["NOTICE: checked 71 rows"]


@pytest.mark.integration
def test_go_batches_bind_their_own_parameters_on_a_real_driver() -> None:
    # psqlodbc stands in for SQL Server: the runner splits and binds, the driver runs.
    connection = _odbc(PG, dialect="tsql")
    try:
        result = connection.execute(
            "SELECT CAST(? AS INTEGER) AS a\nGO\nSELECT CAST(? AS INTEGER) AS b, CAST(? AS TEXT) AS c\nGO",
            [1, 2, "two"],
            10,
        )
    finally:
        connection.close()
    assert result["row"] == {"a": 1}
    assert result["result_sets"][1] == {"columns": ["b", "c"], "rows": [{"b": 2, "c": "two"}]}


@pytest.mark.integration
def test_numeric_values_come_back_as_numbers(pg: OdbcConnection) -> None:
    result = pg.execute("SELECT CAST(7 AS NUMERIC(12, 2)) AS n, CAST(1.25 AS NUMERIC) AS f", [], 10)
    assert result["row"] == {"n": 7, "f": 1.25}
    assert type(result["row"]["n"]) is int and type(result["row"]["f"]) is float


@pytest.mark.integration
def test_postgres_booleans_come_back_as_booleans(pg: OdbcConnection) -> None:
    # psqlodbc's default (BoolsAsChar=1) hands them over as the text '1' and '0'.
    result = pg.execute("SELECT true AS yes, false AS no, NULL::boolean AS unknown", [], 10)
    assert result["row"] == {"yes": True, "no": False, "unknown": None}
    assert type(result["row"]["yes"]) is bool and type(result["row"]["no"]) is bool


@pytest.mark.integration
def test_a_connection_string_that_sets_bools_as_char_keeps_it() -> None:
    connection = _odbc(PG + ";BoolsAsChar=1")
    try:
        assert connection.execute("SELECT true AS yes", [], 10)["value"] == "1"
    finally:
        connection.close()


@pytest.mark.integration
def test_a_dsn_keeps_the_bools_as_char_of_its_odbc_ini(
    pg: OdbcConnection,  # skips when PostgreSQL is not reachable
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One odbc.ini for both: unixODBC reads a file once per process.
    odbc_ini = tmp_path / "odbc.ini"
    odbc_ini.write_text(
        "".join(
            f"[runbook-test-{setting}]\nDriver = PostgreSQL Unicode\nServername = 127.0.0.1\n"
            f"Port = 5432\nDatabase = test\nUsername = postgres\nBoolsAsChar = {setting}\n"
            for setting in ("1", "0")
        )
    )
    monkeypatch.setenv("ODBCINI", str(odbc_ini))
    for setting, true in (("1", "1"), ("0", True)):
        connection = _odbc(f"DSN=runbook-test-{setting}", dialect="postgres")
        try:
            assert connection.execute("SELECT true AS yes", [], 10)["value"] == true, setting
        finally:
            connection.close()


@pytest.mark.integration
def test_nested_transactions_are_savepoints(pg: OdbcConnection) -> None:
    pg.execute("CREATE TEMPORARY TABLE sp_test (id INTEGER)", [], 10)
    pg.begin()
    pg.execute("INSERT INTO sp_test VALUES (1)", [], 10)
    pg.begin()
    pg.execute("INSERT INTO sp_test VALUES (2)", [], 10)
    pg.rollback()  # back to the savepoint: row 2 goes, row 1 stays
    pg.begin()
    pg.execute("INSERT INTO sp_test VALUES (3)", [], 10)
    pg.commit()
    pg.commit()
    assert pg.depth == 0
    assert pg.execute("SELECT id FROM sp_test ORDER BY id", [], 10)["rows"] == [
        {"id": 1},
        {"id": 3},
    ]
    assert pg.execute("UPDATE sp_test SET id = id + 10", [], 10)["rowcount"] == 2


@pytest.mark.integration
def test_sqlite_through_odbc_runs_scripts_one_statement_at_a_time(tmp_path) -> None:
    import pyodbc

    if "SQLite3" not in pyodbc.drivers():
        pytest.skip("the SQLite3 ODBC driver is not installed (apt-get install libsqliteodbc)")
    connection = _odbc(f"DRIVER={{SQLite3}};DATABASE={tmp_path / 'x.db'}")
    try:
        assert connection.dialect is get("sqlite")
        result = connection.execute(
            "CREATE TABLE t (id INTEGER, note TEXT); INSERT INTO t VALUES (?, 'a;b');"
            " INSERT INTO t VALUES (?, ?); SELECT COUNT(*) AS n, MAX(note) AS m FROM t",
            [1, 2, "c"],
            10,
        )
    finally:
        connection.close()
    assert result["row"] == {"n": 2, "m": "c"}


def test_placeholders_outside_strings_and_comments() -> None:
    sql = "SELECT '?', \"?\" FROM t -- ?\nWHERE a = ? /* ? */ AND b IN (?, ?)"
    assert count_placeholders(sql) == 3


def test_sqlite_scripts_split_where_sqlite_says() -> None:
    for split in (split_statements, get("sqlite").split, get("mysql").split):
        assert split("SELECT 1; SELECT ';'; ") == ["SELECT 1;", " SELECT ';';"]
        assert split("SELECT 1") == ["SELECT 1"]


def test_sqlite_savepoints(tmp_path) -> None:
    path = tmp_path / "x.db"
    import sqlite3

    sqlite3.connect(path).close()
    connection = SqliteConnection(ConnectionSpec("x", "sqlite", str(path)), str(path))
    with contextlib.closing(connection.db):
        connection.execute("CREATE TABLE t (id INTEGER)", [], 5)
        connection.begin()
        connection.execute("INSERT INTO t VALUES (1)", [], 5)
        connection.begin()
        connection.execute("INSERT INTO t VALUES (2)", [], 5)
        connection.rollback()
        connection.commit()
        assert connection.execute("SELECT id FROM t", [], 5)["rows"] == [{"id": 1}]


@pytest.mark.integration
def test_a_single_statement_keeps_its_notice_without_asking_for_more_sets(
    pg: OdbcConnection,
) -> None:
    # One statement (no `;`): the connection does not ask the driver for another result
    # set, and the server's NOTICE still arrives with the one there is.
    pg.execute(
        "CREATE FUNCTION pg_temp.noisy(n INTEGER) RETURNS INTEGER AS $$ "
        "BEGIN RAISE NOTICE 'saw %', n; RETURN n * 2; END $$ LANGUAGE plpgsql",
        [],
        10,
    )
    result = pg.execute("SELECT pg_temp.noisy(?) AS doubled", [21], 10)
    assert result["row"] == {"doubled": 42} and "result_sets" not in result
    assert result["messages"] == ["NOTICE: saw 21"]


@pytest.mark.integration
def test_statements_that_alternate_each_get_their_own_result(pg: OdbcConnection) -> None:
    # A rendered template is a new str each time: equal text reuses the prepared plan,
    # other text must never be answered from it.
    for n in range(3):
        first = pg.execute("".join(["SELECT CAST(? AS INTEGER) ", "AS a"]), [n], 10)
        second = pg.execute("SELECT CAST(? AS TEXT) AS b, 2 AS c", [f"x{n}"], 10)
        assert first["rows"] == [{"a": n}]
        assert second["rows"] == [{"b": f"x{n}", "c": 2}]


@pytest.mark.integration
def test_a_connection_runs_again_after_a_statement_timed_out(pg: OdbcConnection) -> None:
    from runner.base.errors import StepTimeout

    with pytest.raises(StepTimeout, match="cancelled after its timeout of 0.3s"):
        pg.execute("SELECT pg_sleep(600)", [], 0.3)
    assert pg.execute("SELECT 1 AS one", [], 10)["value"] == 1  # not cancelled in turn
    assert pg.execute("SELECT 2 AS two", [], 10)["value"] == 2


@pytest.mark.integration
def test_a_single_tsql_batch_is_sent_without_its_go_line() -> None:
    connection = _odbc(PG, dialect="tsql")  # psqlodbc stands in for SQL Server again
    try:
        once = connection.execute("SELECT CAST(? AS INTEGER) AS a\nGO\n", [5], 10)
        again = connection.execute("SELECT CAST(? AS INTEGER) AS a\nGO\n", [6], 10)
    finally:
        connection.close()
    assert once["rows"] == [{"a": 5}] and again["rows"] == [{"a": 6}]


def test_dialects_follow_overrides_and_unknown_names_stay_errors(tmp_path) -> None:
    from runner.base.errors import ConfigError
    from runner.databases.connections import Connections
    from runner.language.config import Config

    config = Config(
        root=tmp_path,
        connections={
            "orders": ConnectionSpec("orders", "sqlite", str(tmp_path / "x.db")),
            "prod": ConnectionSpec("prod", "odbc", "DRIVER={ODBC Driver 18 for SQL Server}", ""),
        },
    )
    connections = Connections(config, overrides={"orders": "prod"})
    for _ in range(2):  # the second answer comes from the per-run cache
        assert connections.dialect("orders") == "tsql"
        assert connections.spec("orders").name == "prod"
        assert Connections(config).dialect("orders") == "sqlite"
        with pytest.raises(ConfigError, match="unknown connection 'nope'"):
            connections.dialect("nope")


def test_a_connection_string_from_one_variable_still_names_its_dialect(
    tmp_path, monkeypatch
) -> None:
    """`odbc: ${ORDERS_ODBC}`: the SQL file and quoting follow the driver in the
    variable, as the connection itself does when it opens; unset, it reads as written."""
    from runner.databases.connections import Connections
    from runner.language.config import Config
    from runner.language.sqlcheck import dialect_of

    spec = ConnectionSpec("orders", "odbc", "${RB_TEST_ORDERS_ODBC}", "")
    config = Config(root=tmp_path, connections={"orders": spec})
    monkeypatch.setenv("RB_TEST_ORDERS_ODBC", "DRIVER={ODBC Driver 18 for SQL Server};SERVER=x")
    assert Connections(config).dialect("orders") == "tsql"
    assert dialect_of(spec) == "tsql"
    monkeypatch.delenv("RB_TEST_ORDERS_ODBC")
    assert Connections(config).dialect("orders") == "ansi"


@pytest.mark.integration
def test_a_sql_file_runs_in_the_dialect_of_the_connection_actually_used(tmp_path) -> None:
    """Built for SQLite, swapped to PostgreSQL (`--connection orders=pg`): the step runs
    sql/postgres/<file>, and sees an edit of that file on its next run."""
    from types import SimpleNamespace

    from runner.databases.connections import Connections
    from runner.language.config import Config
    from runner.language.model import Origin, Step
    from runner.steps.context import StepContext
    from runner.steps.sql import SqlConfig, SqlStep

    _odbc(PG).close()  # skips when PostgreSQL is not reachable
    sql = tmp_path / "sql"
    (sql / "postgres").mkdir(parents=True)
    (sql / "n.sql").write_text("SELECT 'generic' AS source\n", encoding="utf-8")
    special = sql / "postgres" / "n.sql"
    special.write_text("SELECT 'postgres' AS source, {{ inputs.n }} + 1 AS n\n", encoding="utf-8")
    config = Config(
        root=tmp_path,
        connections={
            "orders": ConnectionSpec("orders", "sqlite", str(tmp_path / "x.db")),
            "pg": ConnectionSpec("pg", "odbc", PG, "", 5.0),
        },
        sql_dirs=(sql,),
    )
    connections = Connections(config, overrides={"orders": "pg"})
    step = Step(
        id="n",
        action="sql",
        config=SqlConfig("SELECT 'generic' AS source\n", Origin("t.yaml"), path=sql / "n.sql"),
        origin=Origin("t.yaml"),
        connection="orders",
    )
    ctx = StepContext(
        scope={"inputs": {"n": 41}}, timeout=10, services=SimpleNamespace(connections=connections)
    )
    try:
        assert SqlStep().run(step, ctx)["row"] == {"source": "postgres", "n": 42}
        # Another size too, so the edit shows even within one tick of the file clock.
        special.write_text("SELECT 'edited' AS source\n", encoding="utf-8")
        assert SqlStep().run(step, ctx)["row"] == {"source": "edited"}
    finally:
        connections.close_all()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("7.00", 7),
        ("-0.0", 0),
        ("1E+30", 10**30),
        ("631.50", 631.5),
        ("0.1", 0.1),
        (
            "123456789012345678901234567890.123456789",
            float("123456789012345678901234567890.123456789"),
        ),
        ("1e-400", 0.0),
        ("1" + "0" * 400 + ".5", float("inf")),
    ],
)
def test_numeric_values_convert_as_int_and_float_would(text: str, expected: Any) -> None:
    from decimal import Decimal

    from runner.databases.odbc import _convert, _number

    got = _number(Decimal(text))
    assert got == expected and type(got) is type(expected)
    assert _number(Decimal("NaN")).is_nan()  # not a number SQLite could give: left alone
    # The per-row conversion (inlined for speed) gives the very same, in place.
    rows = [["a", Decimal(text), None], ["b", Decimal("NaN"), Decimal("Infinity")]]
    _convert(rows, (1, 2))
    assert rows[0][1] == expected and type(rows[0][1]) is type(expected)
    assert rows[0][2] is None and rows[1][1].is_nan() and rows[1][2] == Decimal("Infinity")


def test_a_step_made_ready_for_the_run_follows_its_connection_and_reconnects(
    tmp_path,
) -> None:
    """`SqlStep.run` keeps the statement it made ready in the run's Connections: the same
    step called with another connection (a check's `__connection__`) runs on that one,
    and after a connection is reset (a transient failure) it runs on the new one."""
    import sqlite3
    from types import SimpleNamespace

    from runner.databases.connections import Connections
    from runner.language.config import Config
    from runner.language.model import Origin, Step
    from runner.steps.context import StepContext
    from runner.steps.sql import SqlConfig, SqlStep

    specs = {}
    for name in ("a", "b"):
        path = tmp_path / f"{name}.db"
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE t (id INTEGER, name TEXT)")
            db.execute("INSERT INTO t VALUES (1, ?)", (f"from {name}",))
            db.commit()
        specs[name] = ConnectionSpec(name, "sqlite", str(path))
    connections = Connections(Config(root=tmp_path, connections=specs))
    text = "SELECT name FROM t WHERE id = {{ inputs.id }}"
    step = Step(
        id="q", action="sql", config=SqlConfig(text, Origin("t.yaml")), origin=Origin("t.yaml")
    )

    def run(connection: str) -> Any:
        scope = {"inputs": {"id": 1}, "__connection__": connection}
        services = SimpleNamespace(connections=connections)
        return SqlStep().run(step, StepContext(scope=scope, timeout=5, services=services))

    try:
        assert [run(name)["value"] for name in ("a", "b", "a")] == ["from a", "from b", "from a"]
        first = connections.get("a")
        connections.reset("a")  # closed: a statement holding it would fail now
        assert run("a")["value"] == "from a"
        assert connections.get("a") is not first
        assert len(connections.statements) == 1  # one step: remade, not added to
    finally:
        connections.close_all()
