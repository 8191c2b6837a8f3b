"""SQL dialects: every registered dialect against the whole contract, inference from real
driver names, and the classification of real drivers' errors."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from runner.base.abort import RunAbort
from runner.base.errors import Aborted, ConfigError, StepError, StepTimeout, TransientError
from runner.dialects import DIALECTS, Dialect, get, infer
from runner.dialects.errors import DriverError
from runner.dialects.sqlite import classify_sqlite3

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(params=list(DIALECTS.values()), ids=list(DIALECTS))
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return request.param


class _DriverError(Exception):
    """pyodbc.Error's shape: args = (sqlstate, message)."""


def _error(sqlstate: str, text: str = "it failed") -> _DriverError:
    return _DriverError(sqlstate, f"[{sqlstate}] [driver]{text} (SQLExecDirectW)")


def _aborted() -> RunAbort:
    """The abort signal of a run that was told to stop."""
    abort = RunAbort()
    abort.abort("the test")
    return abort


# --- the contract, for every registered dialect ------------------------------------------


def test_a_dialect_has_a_name_a_title_and_the_drivers_it_is_inferred_from(dialect) -> None:
    assert DIALECTS[dialect.name] is dialect and get(dialect.name) is dialect
    assert re.fullmatch(r"[a-z][a-z0-9_]*", dialect.name)  # a folder name: sql/<name>/
    assert dialect.title
    if dialect.name == "ansi":
        assert dialect.drivers == ()  # the fallback: what no driver name says
    else:
        assert dialect.drivers
    for needle in dialect.drivers:
        assert needle == needle.lower()
        # earlier dialects' names do not take it: the order of DIALECTS is right
        assert infer(f"DRIVER={{{needle}}};SERVER=db01") is dialect


def test_a_dialect_classifies_transient_cancelled_and_other_errors(dialect) -> None:
    def classify(error: Exception, **how: object) -> BaseException:
        return dialect.classify("db", error, 30, **how)  # type: ignore[arg-type]

    assert type(classify(_error("08S01", "Communication link failure"))) is TransientError
    assert type(classify(_error("40001", "serialization failure"))) is TransientError
    for declared in dialect.transient_sqlstates:
        sqlstate = declared.ljust(5, "0")  # a class ("08") stands for all of it
        expected = StepTimeout if sqlstate in dialect.timeout_sqlstates else TransientError
        assert type(classify(_error(sqlstate))) is expected, sqlstate
    for code in dialect.transient_native:
        assert type(classify(_error("HY000", f"it failed ({code})"))) is TransientError, code

    timeout = classify(_error("HYT00", "Query timeout expired"))
    assert type(timeout) is StepTimeout
    assert str(timeout) == "db: statement cancelled after its timeout of 30s"

    assert dialect.cancelled_sqlstates
    for sqlstate in dialect.cancelled_sqlstates:
        assert type(classify(_error(sqlstate), abort=_aborted())) is Aborted, sqlstate
        assert type(classify(_error(sqlstate))) is StepError, sqlstate  # not while running on
    assert type(classify(_error("42000"), cancelled="abort")) is Aborted
    assert type(classify(_error("42000"), cancelled="timeout")) is StepTimeout

    final = classify(_error("42S02", "Invalid object name 'dbo.USER_ORDER_STAGNG'. (208)"))
    assert type(final) is StepError
    assert str(final) == "db: [42S02] [driver]Invalid object name 'dbo.USER_ORDER_STAGNG'. (208)"

    assert dialect.connection_lost(_error("08S01"))
    assert not dialect.connection_lost(_error("42S02"))


def test_a_dialect_spells_savepoints(dialect) -> None:
    statements = [dialect.savepoint("sp1"), dialect.rollback_to("sp1")]
    release = dialect.release("sp1")
    if release:  # "" where the server has no RELEASE
        statements.append(release)
    assert len(set(statements)) == len(statements)
    for statement in statements:
        assert statement.endswith(" sp1") and statement == statement.strip()


@pytest.mark.parametrize(
    "dialect",
    [d for d in DIALECTS.values() if d.savepoint_sql == Dialect.savepoint_sql],
    ids=lambda d: d.name,
)
def test_savepoints_in_standard_sql_run_on_sqlite(dialect: Dialect) -> None:
    """SQLite runs standard savepoints; each server runs its own in tests/integration."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE t (id INTEGER)")
    db.execute("BEGIN")
    db.execute("INSERT INTO t VALUES (1)")
    db.execute(dialect.savepoint("sp1"))
    db.execute("INSERT INTO t VALUES (2)")
    db.execute(dialect.rollback_to("sp1"))
    db.execute(dialect.release("sp1"))
    db.execute("COMMIT")
    assert db.execute("SELECT id FROM t").fetchall() == [(1,)]


def test_quoting_round_trips_an_identifier_holding_quote_characters(dialect) -> None:
    import sqlglot
    from sqlglot import exp

    name = 'odd"na]me`s'
    quoted = dialect.quote(name)
    table = sqlglot.parse_one(
        f"SELECT 1 FROM {quoted}.{quoted}", read=dialect.sqlglot or None
    ).find(exp.Table)
    assert table is not None and (table.db, table.name) == (name, name)


def test_sqlglot_knows_the_dialect(dialect) -> None:
    from sqlglot.dialects.dialect import Dialect as SqlglotDialect

    found = SqlglotDialect.get_or_raise(dialect.sqlglot or None)
    if dialect.sqlglot:  # "" is sqlglot's generic dialect
        assert found.__class__ is SqlglotDialect.get(dialect.sqlglot)


def test_a_dialect_splits_scripts_without_losing_a_statement(dialect) -> None:
    script = "INSERT INTO t VALUES ('a;b');\nSELECT 1;\n-- done\n"
    pieces = dialect.split(script)
    assert pieces and all(isinstance(piece, str) and piece.strip() for piece in pieces)
    assert _words(pieces) == _words([script])
    assert dialect.split("SELECT 1") == ["SELECT 1"]
    batches = dialect.batches(script)
    assert batches and all(batch.line >= 1 and batch.repeat >= 1 for batch in batches)
    assert _words(batch.text for batch in batches) == _words([script])
    assert isinstance(dialect.one_result_per_statement, bool)
    assert dialect.implicit_commit("SELECT 1") is None
    assert dialect.implicit_commit("UPDATE t SET created = 1") is None


def _words(pieces: object) -> str:
    return re.sub(r"[\s;]", "", "".join(pieces))  # type: ignore[arg-type]


def test_runner_yaml_offers_every_dialect_but_the_fallback() -> None:
    schema = json.loads((REPO / "schemas" / "runner.schema.json").read_text(encoding="utf-8"))
    enums = _dialect_enums(schema)
    assert ["postgres"] in enums  # a shared state store is PostgreSQL only
    assert sorted(max(enums, key=len)) == sorted(set(DIALECTS) - {"ansi"})


def _dialect_enums(node: object) -> list[list[str]]:
    found: list[list[str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "dialect" and isinstance(value, dict) and "enum" in value:
                found.append(value["enum"])
            else:
                found.extend(_dialect_enums(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_dialect_enums(item))
    return found


# --- the registry --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connection_string", "name"),
    [
        ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=cp;DATABASE=CPSQL", "tsql"),
        ("Driver={FreeTDS};Server=cp;Port=1433;TDS_Version=7.4", "tsql"),
        ("DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1", "postgres"),
        ("DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=postgres;UID=postgres", "postgres"),
        ("DRIVER={/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so};SERVER=db", "postgres"),
        ("DRIVER={MariaDB Unicode};SERVER=127.0.0.1", "mysql"),
        ("DRIVER={MariaDB Unicode};SERVER=127.0.0.1;PORT=3306;UID=root;PWD=", "mysql"),
        ("DRIVER={MySQL ODBC 8.0 Unicode Driver};SERVER=db", "mysql"),
        ("DRIVER={SQLite3};DATABASE=/tmp/x.db", "sqlite"),
        ("DRIVER={SQLite3};DATABASE=/tmp/orders.db;Timeout=5000", "sqlite"),
        ("DRIVER={ODBC Driver 18 for SQL Server};DATABASE=postgres_copy", "tsql"),
        ("DSN=warehouse", "ansi"),
        ("${ORDERS_ODBC}", "ansi"),
    ],
)  # fmt: skip
def test_dialect_from_the_driver_name(connection_string: str, name: str) -> None:
    assert infer(connection_string).name == name


def test_an_unknown_dialect_names_the_known_ones() -> None:
    message = "unknown SQL dialect 'oracle' (known: ansi, mysql, postgres, sqlite, tsql)"
    with pytest.raises(ConfigError) as raised:
        get("oracle")
    assert str(raised.value) == message


def test_a_connection_in_an_unknown_dialect_is_refused_before_it_connects() -> None:
    from runner.databases.odbc import OdbcConnection
    from runner.language.config import ConnectionSpec

    spec = ConnectionSpec("x", "odbc", "DSN=nowhere", "oracle")
    with pytest.raises(ConfigError, match=r"^unknown SQL dialect 'oracle' \(known: ansi, "):
        OdbcConnection(spec, spec.target)


# --- errors of real drivers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sqlstate", "text", "kind"),
    [
        (
            "tsql",
            "08001",
            "[08001] TCP Provider: No connection could be made (10061) (SQLDriverConnect)",
            TransientError,
        ),
        (
            "tsql",
            "08S01",
            "[08S01] Communication link failure (10054) (SQLExecDirectW)",
            TransientError,
        ),
        (
            "tsql",
            "40001",
            "[40001] Transaction (Process ID 57) was deadlocked ... victim. (1205) (SQLExecDirectW)",
            TransientError,
        ),
        ("postgres", "40P01", "[40P01] ERROR: deadlock detected (1) (SQLExecDirectW)", TransientError),
        (
            "mysql",
            "HY000",
            "[HY000] [ma-3.1.15]Deadlock found when trying to get lock (1213) (SQLExecDirectW)",
            TransientError,
        ),
        (
            "mysql",
            "HY000",
            "[HY000] [ma-3.1.15]Can't connect to server on '127.0.0.1' (115) (2002) (SQLDriverConnect)",
            TransientError,
        ),
        (
            "postgres",
            "57P01",
            "[57P01] FATAL: terminating connection due to administrator command (35)",
            TransientError,
        ),
        ("tsql", "HYT00", "[HYT00] Query timeout expired (0) (SQLExecDirectW)", StepTimeout),
        (
            "tsql",
            "42S02",
            "[42S02] Invalid object name 'dbo.USER_ORDER_STAGNG'. (208) (SQLExecDirectW)",
            StepError,
        ),
        (
            "tsql",
            "23000",
            "[23000] Violation of PRIMARY KEY constraint (2627) (SQLExecDirectW)",
            StepError,
        ),
        (
            "postgres",
            "22001",
            "[22001] ERROR: value too long for type character varying(64) (1)",
            StepError,
        ),
    ],
    ids=[
        "connect refused",
        "link failure",
        "deadlock victim",
        "postgres deadlock",
        "mariadb deadlock",
        "mariadb cannot connect",
        "session terminated",
        "query timeout",
        "unknown table",
        "duplicate key",
        "a number in the message is not a code",
    ],
)  # fmt: skip
def test_errors_are_classified(name: str, sqlstate: str, text: str, kind: type) -> None:
    # ansi (a DSN: the server is unknown) reads every dialect's codes, so it agrees
    for dialect in (get(name), get("ansi")):
        error = dialect.classify("cp", _DriverError(sqlstate, text), 30)
        assert type(error) is kind, dialect
        if kind is not StepTimeout:
            assert str(error).startswith("cp: [") and "(SQL" not in str(error)


def test_a_native_code_counts_only_in_its_own_dialect() -> None:
    mariadb_deadlock = _DriverError("HY000", "[HY000] Deadlock found (1213) (SQLExecDirectW)")
    assert type(get("mysql").classify("db", mariadb_deadlock, 30)) is TransientError
    assert type(get("postgres").classify("db", mariadb_deadlock, 30)) is StepError
    postgres_deadlock = _DriverError("40P01", "[40P01] ERROR: deadlock detected (1)")
    assert type(get("tsql").classify("db", postgres_deadlock, 30)) is StepError


def test_a_message_without_its_sqlstate_gets_it_appended() -> None:
    error = get("postgres").classify("db", _DriverError("42P01", 'relation "x" does not exist'), 30)
    assert str(error) == 'db: relation "x" does not exist (SQLSTATE 42P01)'


# psqlodbc after pg_terminate_backend: 57P01 on the next statement, then 08S01.
_TERMINATED = (
    "[57P01] FATAL: terminating connection due to administrator command;\n"
    "The connection has been lost (35) (SQLExecDirectW)"
)


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (_DriverError("57P01", _TERMINATED), True),
        (_DriverError("08S01", "[08S01] SQLExecDirectW unable due to the connection lost (35)"), True),
        (_DriverError("HY000", "[HY000] The connection has been lost (35)"), True),
        (_DriverError("HY000", "[HY000] could not send data to server: Broken pipe"), True),
        (Exception("Attempt to use a closed connection."), True),  # pyodbc's own, no SQLSTATE
        (_DriverError("42P01", '[42P01] ERROR: relation "runs" does not exist (1)'), False),
        (_DriverError("55P03", "[55P03] ERROR: canceling statement due to lock timeout"), False),
    ],
    ids=["terminated", "08S01", "lost in words", "broken pipe", "closed", "no table", "lock timeout"],
)  # fmt: skip
def test_the_state_store_reconnects_when_postgres_says_the_session_is_gone(
    error: Exception, lost: bool
) -> None:
    assert get("postgres").connection_lost(error) is lost


def test_words_alone_never_make_a_statements_error_transient() -> None:
    """A step's error may quote anything of the user's (a table `connection_closed`):
    only codes make it worth another attempt; the state store's statements are ours."""
    error = _DriverError("HY000", "[HY000] The connection has been lost (35)")
    assert get("postgres").connection_lost(error)
    assert type(get("postgres").classify("db", error, 30)) is StepError


def test_a_driver_error_reads_as_one_line_for_a_note() -> None:
    read = DriverError.of(_DriverError("57P01", _TERMINATED))
    assert read.sqlstate == "57P01" and read.native == "35"
    assert read.first_line == "FATAL: terminating connection due to administrator command;"
    assert read.text == _TERMINATED.removesuffix(" (SQLExecDirectW)")
    closed = DriverError.of(Exception("Attempt to use a closed connection."))
    assert (closed.sqlstate, closed.first_line) == ("", "Attempt to use a closed connection.")
    assert DriverError.of(Exception()).first_line == ""


@pytest.mark.parametrize(
    ("message", "aborting", "kind", "text"),
    [
        ("interrupted", True, Aborted, "the test"),
        ("interrupted", False, StepTimeout, "query on 'db' cancelled after 2.5s"),
        ("database is locked", False, TransientError, "db: database is locked"),
        ("disk I/O error", False, TransientError, "db: disk I/O error"),
        ("no such table: t", False, StepError, "db: no such table: t"),
    ],
)
def test_errors_of_pythons_sqlite3_are_classified_by_their_words(
    message: str, aborting: bool, kind: type, text: str
) -> None:
    abort = _aborted() if aborting else RunAbort()
    error = classify_sqlite3("db", sqlite3.OperationalError(message), 2.5, abort=abort)
    assert type(error) is kind and str(error) == text
    other = classify_sqlite3("db", sqlite3.IntegrityError("UNIQUE constraint failed: t.id"), 1)
    assert type(other) is StepError and str(other) == "db: UNIQUE constraint failed: t.id"


# --- MySQL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "keyword"),
    [
        ("CREATE TABLE t (id INT)", "CREATE"),
        ("  -- archive first\n/* note */ alter table t add x int", "ALTER"),
        ("TRUNCATE TABLE t", "TRUNCATE"),
        ("DROP INDEX i ON t", "DROP"),
        ("# MySQL comment\nlock tables t write", "LOCK"),
        ("UPDATE t SET created = 1", None),
        ("INSERT INTO t SELECT * FROM created", None),
        ("SELECT 'CREATE TABLE'", None),
    ],
)
def test_mysql_statements_that_commit_implicitly(sql: str, keyword: str | None) -> None:
    assert get("mysql").implicit_commit(sql) == keyword
    assert get("postgres").implicit_commit(sql) is None  # PostgreSQL rolls DDL back


@pytest.mark.parametrize(
    ("written", "opened"),
    [
        (
            "DRIVER={PostgreSQL Unicode};SERVER=db",
            "DRIVER={PostgreSQL Unicode};SERVER=db;BoolsAsChar=0",
        ),
        (
            "driver={PostgreSQL ANSI(x64)};server=db;",
            "driver={PostgreSQL ANSI(x64)};server=db;BoolsAsChar=0",
        ),
        ("DRIVER=PostgreSQL;SERVER=db", "DRIVER=PostgreSQL;SERVER=db;BoolsAsChar=0"),
        (
            "Driver=/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so;Server=db",
            "Driver=/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so;Server=db;BoolsAsChar=0",
        ),
        # B7 is psqlodbc's TextAsLongVarchar, not BoolsAsChar (B9).
        (
            "DRIVER={PostgreSQL Unicode};SERVER=db;B7=0",
            "DRIVER={PostgreSQL Unicode};SERVER=db;B7=0;BoolsAsChar=0",
        ),
        # A password may hold anything, BoolsAsChar= too.
        (
            "DRIVER={PostgreSQL Unicode};PWD={x;BoolsAsChar=1}",
            "DRIVER={PostgreSQL Unicode};PWD={x;BoolsAsChar=1};BoolsAsChar=0",
        ),
        # The string sets it itself: by name, by psqlodbc's short name B9, or among the
        # flags of its abbreviated form CX.
        ("DRIVER={PostgreSQL Unicode};BoolsAsChar=1", "DRIVER={PostgreSQL Unicode};BoolsAsChar=1"),
        (
            "DRIVER={PostgreSQL Unicode}; boolsaschar = 0;UID=x",
            "DRIVER={PostgreSQL Unicode}; boolsaschar = 0;UID=x",
        ),
        ("DRIVER={PostgreSQL Unicode};b9=1", "DRIVER={PostgreSQL Unicode};b9=1"),
        ("DRIVER={PostgreSQL Unicode};CX=1c305008b", "DRIVER={PostgreSQL Unicode};CX=1c305008b"),
        # A DSN's odbc.ini may set it: the string is opened as written.
        ("DSN=wms;", "DSN=wms;"),
        ("DSN=wms;UID=x", "DSN=wms;UID=x"),
        ("FILEDSN=/etc/odbc/wms.dsn", "FILEDSN=/etc/odbc/wms.dsn"),
        ("DSN=wms;DRIVER={PostgreSQL Unicode}", "DSN=wms;DRIVER={PostgreSQL Unicode}"),
        # Drivers that are not psqlodbc know no BoolsAsChar.
        (
            "DRIVER={Devart ODBC Driver for PostgreSQL};Server=db",
            "DRIVER={Devart ODBC Driver for PostgreSQL};Server=db",
        ),
        ("DRIVER={CData ODBC Driver for PostgreSQL}", "DRIVER={CData ODBC Driver for PostgreSQL}"),
    ],
)
def test_psqlodbc_connections_read_booleans_as_booleans(written: str, opened: str) -> None:
    assert get("postgres").odbc_connection_string(written) == opened


def test_other_dialects_open_the_connection_string_as_written(dialect: Dialect) -> None:
    if dialect.name != "postgres":
        assert dialect.odbc_connection_string("DSN=x;UID=y") == "DSN=x;UID=y"
