"""Batches in one transaction: 10,000 single-row UPDATEs through a `for_each` with
`transaction: true`, against the hand-written loop it replaces; and `concurrency: N` on
an ODBC connection against `concurrency: 1`.

For each database a temp table of N rows (`id` primary key, `n` a counter) and a runbook

    - id: ids                       # the rows to touch
      sql: SELECT id FROM t ORDER BY id
    - id: bump                      # one UPDATE per row, all in one transaction
      transaction: true
      for_each: steps.ids.rows
      as: row
      sql: UPDATE t SET n = n + 1 WHERE id = {{ row.id }}

run in-process through the run service (the model loaded once, as a scheduler keeps it),
with and without the state store; against the same work by hand in one transaction:
SELECT the ids, then N x `execute(UPDATE ... WHERE id = ?)`, one COMMIT:

  - SQLite: sqlite3 on a file (target: the engine within 3x);
  - PostgreSQL: pyodbc through psqlodbc on the `test` database at 127.0.0.1
    (target: within 2x); skipped, and said so, when it cannot be reached.

Parallel items: M independent items (each an UPDATE of its own row, committed on its
own, as `transaction: per_item` does) at `concurrency: 1` and at `concurrency: 4`, where
each worker runs on its own connection (target: faster than 1).

Runs alternate (engine, hand, engine, hand, ...) after a warm-up; medians and mins are
reported. It prints, and exits 0 whether or not a target is met.

    python bench/batch.py [--rows 10000] [--repeats 5] [--items 2000] [--odbc "DRIVER=..."]
"""

from __future__ import annotations

import argparse
import cProfile
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from profiles import print_profile  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ODBC = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=test;UID=postgres"
SQLITE_TARGET = 3.0
POSTGRES_TARGET = 2.0
UPDATE = "UPDATE {table} SET n = n + 1 WHERE id = ?"

SummaryRow = tuple[str, str, str, bool | None]


def _runbook(name: str, connection: str, table: str, transaction: str, concurrency: int) -> str:
    parallel = f"\n    concurrency: {concurrency}" if concurrency > 1 else ""
    return f"""runbook: {name}
kind: processing
connection: {connection}
steps:
  - id: ids
    sql: SELECT id FROM {table} ORDER BY id
  - id: bump
    transaction: {transaction}
    for_each: steps.ids.rows
    as: row{parallel}
    sql: UPDATE {table} SET n = n + 1 WHERE id = {{{{ row.id }}}}
"""


class Project:
    """A temp project with runner.yaml and runbooks; runs them through the run service."""

    def __init__(self, root: Path, connections: str) -> None:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        (root / "runbooks").mkdir()
        (root / "runner.yaml").write_text(
            f"connections:\n{connections}state: var/runner.db\nrunbooks: [runbooks]\n",
            encoding="utf-8",
        )
        self.root = root
        self.runbooks: dict[str, Any] = {}

    def add(self, name: str, text: str) -> None:
        from runner.language.config import load_config
        from runner.language.library import Library
        from runner.steps import STEP_TYPES

        (self.root / "runbooks" / f"{name}.yaml").write_text(text, encoding="utf-8")
        self.library = Library(load_config(self.root / "runner.yaml"), STEP_TYPES)
        self.runbooks = {key: self.library.runbook(key) for key in [*self.runbooks, name]}

    def run(self, name: str, record: bool = False) -> float:
        from runner.service.runs import RunRequest, RunService

        service = RunService(self.library.config, interactive=False, record=record)
        started = time.perf_counter()
        result = service.run(RunRequest(name), runbook=self.runbooks[name])
        seconds = time.perf_counter() - started
        if result.status.value != "OK":
            bump = result.steps[-1] if result.steps else None
            raise RuntimeError(f"{name} ended {result.status.value}: {bump and bump.error}")
        return seconds


def alternate(variants: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each variant once to warm up, then `repeats` rounds of every variant in turn."""
    for run in variants.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            samples[name].append(run())
    return samples


def report(samples: dict[str, list[float]], base: str, rows: int) -> dict[str, float]:
    """Print median, min and ratio to `base` of each variant; return the median ratios."""
    floor = statistics.median(samples[base])
    print(f"  {'variant':<44} {'median ms':>10} {'min ms':>8} {'us/row':>7} {'x hand':>7}")
    ratios = {}
    for name, values in samples.items():
        median = statistics.median(values)
        ratios[name] = median / floor
        print(
            f"  {name:<44} {median * 1000:10.1f} {min(values) * 1000:8.1f} "
            f"{median / rows * 1e6:7.1f} {ratios[name]:7.2f}"
        )
    return ratios


# --- SQLite -----------------------------------------------------------------------------


def sqlite_hand(path: Path, table: str) -> float:
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    ids = [row[0] for row in db.execute(f"SELECT id FROM {table} ORDER BY id")]
    db.execute("BEGIN")
    statement = UPDATE.format(table=table)
    for id_ in ids:
        db.execute(statement, (id_,))
    db.execute("COMMIT")
    db.close()
    return time.perf_counter() - started


def measure_sqlite(rows: int, repeats: int, profile: bool) -> list[SummaryRow]:
    target = f"<= {SQLITE_TARGET:g}x hand sqlite3"
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as folder:
        root = Path(folder)
        database = root / "db.sqlite"
        with sqlite3.connect(database) as db:
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            db.executemany("INSERT INTO t VALUES (?, 0)", [(i,) for i in range(rows)])
        project = Project(root, "  main: {sqlite: db.sqlite}\n")
        project.add("batch", _runbook("batch", "main", "t", "true", 1))
        print(f"\nSQLite: {rows:,} UPDATEs in one transaction, median of {repeats} ({root})")
        samples = alternate(
            {
                "hand sqlite3 loop, one transaction": lambda: sqlite_hand(database, "t"),
                "for_each, transaction: true": lambda: project.run("batch"),
                "for_each, transaction: true, recorded": lambda: project.run("batch", True),
            },
            repeats,
        )
        ratios = report(samples, "hand sqlite3 loop, one transaction", rows)
        if profile:
            profiler = cProfile.Profile()
            profiler.runcall(project.run, "batch")
            print_profile(profiler, "cProfile of one unrecorded engine run")
    ratio = ratios["for_each, transaction: true"]
    recorded = ratios["for_each, transaction: true, recorded"]
    return [
        (f"batch {rows:,} UPDATEs, SQLite", f"{ratio:.1f}x hand", target, ratio <= SQLITE_TARGET),
        (f"batch {rows:,} UPDATEs, SQLite, recorded", f"{recorded:.1f}x hand", "-", None),
    ]


# --- PostgreSQL -------------------------------------------------------------------------


def postgres_hand(odbc: str, table: str) -> float:
    import pyodbc

    started = time.perf_counter()
    db = pyodbc.connect(odbc, autocommit=False)
    cursor = db.cursor()
    ids = [row[0] for row in cursor.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()]
    statement = UPDATE.format(table=table)
    for id_ in ids:
        cursor.execute(statement, id_)
    db.commit()
    db.close()
    return time.perf_counter() - started


def measure_postgres(rows: int, repeats: int, items: int, odbc: str) -> list[SummaryRow]:
    target = f"<= {POSTGRES_TARGET:g}x hand pyodbc"
    try:
        import pyodbc

        admin = pyodbc.connect(odbc, autocommit=True, timeout=5)
    except Exception as error:  # no driver, no server: say so and go on
        print(f"\nPostgreSQL: skipped, not reachable ({error})")
        return [(f"batch {rows:,} UPDATEs, PostgreSQL", "skipped", target, None)]
    table = f"bench_batch_{secrets.token_hex(4)}"
    admin.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    try:
        admin.execute(f"INSERT INTO {table} SELECT i, 0 FROM generate_series(0, ?) AS i", rows - 1)
        admin.execute(f"ANALYZE {table}")
        with tempfile.TemporaryDirectory(prefix="runbook-bench-") as folder:
            project = Project(Path(folder), f"  pg: {{odbc: {odbc!r}, dialect: postgres}}\n")
            project.add("batch", _runbook("batch", "pg", table, "true", 1))
            print(f"\nPostgreSQL: {rows:,} UPDATEs in one transaction, median of {repeats}")
            samples = alternate(
                {
                    "hand pyodbc loop, one transaction": lambda: postgres_hand(odbc, table),
                    "for_each, transaction: true": lambda: project.run("batch"),
                },
                repeats,
            )
            ratio = report(samples, "hand pyodbc loop, one transaction", rows)[
                "for_each, transaction: true"
            ]
            parallel = measure_parallel(project, admin, table, items, repeats)
    finally:
        admin.execute(f"DROP TABLE IF EXISTS {table}")
        admin.close()
    return [
        (f"batch {rows:,} UPDATEs, PostgreSQL", f"{ratio:.2f}x hand", target, ratio <= 2.0),
        *parallel,
    ]


def measure_parallel(
    project: Project, admin: Any, table: str, items: int, repeats: int
) -> list[SummaryRow]:
    """`items` UPDATEs, each its own transaction (committed on its own), at concurrency
    1 and 4 on the same PostgreSQL connection name."""
    small = f"{table}_few"
    admin.execute(f"CREATE TABLE {small} AS SELECT * FROM {table} WHERE id < ?", items)
    admin.execute(f"ALTER TABLE {small} ADD PRIMARY KEY (id)")
    try:
        for workers in (1, 4):
            name = f"each{workers}"
            project.add(name, _runbook(name, "pg", small, "per_item", workers))
        print(f"\nPostgreSQL: {items:,} independent items, one transaction each")
        samples = alternate(
            {
                "transaction: per_item, concurrency: 1": lambda: project.run("each1"),
                "transaction: per_item, concurrency: 4": lambda: project.run("each4"),
            },
            repeats,
        )
        ratio = report(samples, "transaction: per_item, concurrency: 1", items)[
            "transaction: per_item, concurrency: 4"
        ]
    finally:
        admin.execute(f"DROP TABLE IF EXISTS {small}")
    return [
        (
            f"{items:,} items at concurrency 4, PostgreSQL",
            f"{ratio:.2f}x concurrency 1",
            "< 1x concurrency 1",
            ratio < 1.0,
        )
    ]


def measure(
    rows: int = 10_000,
    repeats: int = 5,
    items: int = 2_000,
    odbc: str = DEFAULT_ODBC,
    profile: bool = False,
) -> list[SummaryRow]:
    return [
        *measure_sqlite(rows, repeats, profile),
        *measure_postgres(rows, repeats, items, odbc),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="UPDATEs per batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (after a warm-up)")
    parser.add_argument("--items", type=int, default=2_000, help="items of the parallel loop")
    parser.add_argument(
        "--odbc", default=DEFAULT_ODBC, help='PostgreSQL ODBC connection string ("" skips it)'
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one SQLite engine run")
    options = parser.parse_args(argv)
    rows = measure(options.rows, options.repeats, options.items, options.odbc, options.profile)
    print()
    for metric, measured, target, met in rows:
        verdict = "-" if met is None else "PASS" if met else "MISS"
        print(f"  {metric:<44} {measured:>20}  target {target:<24} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
