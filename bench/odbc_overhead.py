"""ODBC overhead per statement: the sql step against raw pyodbc on PostgreSQL.

The same statement runs on one reused connection in two ways

  - raw: `cursor.execute(sql, params); cursor.fetchall()` on a second cursor of the
    step's own pyodbc connection: the fastest way to use pyodbc (the statement stays
    prepared), on the same server process and session settings as the step;
  - sql step: `SqlStep.run` as the engine calls it for each attempt: render the
    template (values become bound `?`), look the connection up, execute under the
    timeout watchdog, read every result set and message, build the step's values.

A third side, the floor: raw pyodbc plus the least any step must add to return named
values (rows as dicts, NUMERIC as int or float, rows/row/value/columns/rowcount), as a
plain loop without template, lookup, watchdog or lock. Step minus floor is the runner's
own machinery; floor minus raw is the price of returning named values at all.

Three statements: `SELECT 1` (the smallest round trip, where any overhead shows most), a
bound primary-key lookup and a bound aggregate over a 1,000-row table (a typical check).

How it measures, and why (see bench/README.md, "ODBC overhead"):

  - Same connection for both sides. On a virtual machine a round trip costs 36 us when
    the client and its PostgreSQL backend process run on the same CPU and 75-110 us when
    they run on different ones; the scheduler moves them at will, so two connections
    (or one connection over time) differ by 2-3x for the very same code. Raw on its own
    connection made the step look 50-90 us slower than it is.
  - Pinned, in two placements (--placement): "apart", the client thread on one CPU and
    the connection's backend (`pg_backend_pid()`, when it is a local process we may pin)
    on the other, as when the database runs on its own machine; and "together", both on
    one CPU, the worst case for the client: the backend runs between every two Python
    statements of the step and evicts its caches, so the same code costs about five
    times what it costs in a warm loop. Both sides of a case get the same placement.
  - Short interleaved batches (--batch statements; raw and step alternate, and which
    goes first alternates too), so a burst of other load hits both sides alike; the
    median and the min of the batches are printed for each side, with the client's CPU
    time (time.process_time: this process only, not the server) beside the wall time.
  - --callgrind adds client instruction counts per statement under valgrind, which do
    not depend on load at all: (Ir after N statements - Ir after 0) / N, per side.

    python bench/odbc_overhead.py [--statements 3000] [--batch 20]
        [--placement apart|together|free|both]
        [--callgrind] [--odbc "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;..."]

Prints plain text and exits 0 whether or not the target is met; says so and exits 0 when
no PostgreSQL is reachable.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_ODBC = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=test;UID=postgres"
TARGET_RATIO = 1.15
TABLE = "runbook_bench_orders"
CASES = (
    ("SELECT 1", "SELECT 1", "SELECT 1", []),
    (
        "bound lookup",
        f"SELECT id, status, total FROM {TABLE} WHERE id = {{{{ inputs.id }}}}",
        f"SELECT id, status, total FROM {TABLE} WHERE id = ?",
        [421],
    ),
    (
        "aggregate",
        f"SELECT COUNT(*) AS n, MAX(total) AS top FROM {TABLE}"
        " WHERE status = {{ inputs.status }}",
        f"SELECT COUNT(*) AS n, MAX(total) AS top FROM {TABLE} WHERE status = ?",
        ["pending"],
    ),
)

SummaryRow = tuple[str, str, str, bool | None]


def _setup(connection: Any) -> None:
    connection.execute(f"DROP TABLE IF EXISTS {TABLE}")
    connection.execute(
        f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, status VARCHAR(20), total NUMERIC(12, 2))"
    )
    connection.execute(
        f"INSERT INTO {TABLE} SELECT g, 'pending', g * 1.5 FROM generate_series(1, 1000) AS g"
    )
    # Statistics and hint bits as on a table in use: without them the lookup's plan is
    # chosen blind and the first reads of every row write hint bits.
    connection.execute(f"VACUUM ANALYZE {TABLE}")


def _step_runner(odbc: str, template: str) -> tuple[Any, Any, Any]:
    """A SqlStep, its step and context wired to a Connections as the engine does it."""
    from runner.databases.connections import Connections
    from runner.language.config import Config, ConnectionSpec
    from runner.language.model import Origin, Step
    from runner.steps.context import StepContext
    from runner.steps.sql import SqlConfig, SqlStep

    spec = ConnectionSpec("pg", "odbc", odbc, "", 15.0)  # dialect inferred, as usual
    config = Config(root=REPO, connections={"pg": spec})
    connections = Connections(config)
    sql = SqlConfig(template, Origin("bench"))
    step = Step(id="q", action="sql", config=sql, origin=Origin("bench"), connection="pg")
    ctx = StepContext(
        scope={"inputs": {"id": 421, "status": "pending"}, "steps": {}},
        timeout=30.0,
        services=SimpleNamespace(connections=connections),
    )
    return SqlStep(), step, ctx


class _Case:
    """One statement both ways on one connection: the step, and raw on a second cursor."""

    def __init__(self, odbc: str, template: str, plain: str, params: list[Any]) -> None:
        self.runner, self.step, self.ctx = _step_runner(odbc, template)
        self.values = self.runner.run(self.step, self.ctx)  # connects; first imports
        self.connection = self.ctx.services.connections.get("pg")
        self.cursor = self.connection.db.cursor()
        self.plain, self.params = plain, params

    def raw(self, n: int) -> None:
        cursor, sql, params = self.cursor, self.plain, self.params
        if params:
            for _ in range(n):
                cursor.execute(sql, params)
                cursor.fetchall()
        else:
            for _ in range(n):
                cursor.execute(sql)
                cursor.fetchall()

    def floor(self, n: int) -> None:
        """Raw pyodbc plus the least any step must add: the rows as dicts by column name,
        NUMERIC as int or float, the step's values (rows, row, value, columns, rowcount).
        No template, no connection lookup, no watchdog, no lock: the floor of a step.
        Written as cheaply as this Python allows (measured by instructions): the column
        names and NUMERIC positions worked out again only when `cursor.description`
        changes (comparing costs less than reading the names), one row's dict without
        map()'s set-up, `as_integer_ratio()` (cheaper than int() or float() of a Decimal
        and exact)."""
        cursor, sql, params = self.cursor, self.plain, self.params
        last: Any = None
        columns: tuple[str, ...] = ()
        decimals: tuple[int, ...] = ()
        for _ in range(n):
            if params:
                cursor.execute(sql, params)
            else:
                cursor.execute(sql)
            rows = cursor.fetchall()
            description = cursor.description
            if description != last:
                last = description
                columns = tuple(d[0] for d in description)
                decimals = tuple(i for i, d in enumerate(description) if d[1] is Decimal)
            for row in rows:
                for i in decimals:
                    if row[i] is not None:
                        top, bottom = row[i].as_integer_ratio()
                        row[i] = top if bottom == 1 else top / bottom
            if len(rows) == 1:
                mapped = [dict(zip(columns, rows[0]))]  # noqa: B905 - the keyword costs
            else:
                mapped = list(map(dict, map(zip, repeat(columns), rows)))
            values = {  # noqa: F841 - built as the step builds it, then dropped
                "rows": mapped,
                "row": mapped[0] if mapped else {},
                "value": rows[0][0] if rows else None,
                "columns": list(columns),
                "rowcount": len(mapped),
            }

    def step_runs(self, n: int) -> None:
        runner, step, ctx = self.runner, self.step, self.ctx
        for _ in range(n):
            runner.run(step, ctx)

    def expected(self) -> list[tuple[Any, ...]]:
        self.cursor.execute(self.plain, *self.params)
        return [tuple(row) for row in self.cursor.fetchall()]

    def backend_pid(self) -> int:
        self.cursor.execute("SELECT pg_backend_pid()")
        return int(self.cursor.fetchall()[0][0])

    def close(self) -> None:
        self.cursor.close()
        self.ctx.services.connections.close_all()


PLACEMENTS = {
    "apart": "client and backend pinned to two CPUs (the server elsewhere, as in production)",
    "together": "client and backend pinned to one CPU (the worst case: each evicts the other)",
    "free": "placement left to the scheduler",
}


def _pin(case: _Case, placement: str) -> str:
    """Pin the client thread and the connection's backend as `placement` says; says how."""
    if placement == "free":
        return PLACEMENTS["free"]
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    cpus = sorted(os.sched_getaffinity(0))
    if placement == "apart" and len(cpus) < 2:
        return "not pinned (one CPU only: cannot keep them apart)"
    pid = case.backend_pid()
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"not pinned (backend {pid} is not a local process)"
    if b"postgres" not in command:
        return f"not pinned (process {pid} here is not the PostgreSQL backend)"
    server, client = cpus[0], cpus[1] if placement == "apart" else cpus[0]
    try:
        os.sched_setaffinity(pid, {server})
    except OSError as error:
        return f"not pinned (cannot pin backend {pid}: {error.strerror})"
    os.sched_setaffinity(0, {client})
    return f"{PLACEMENTS[placement]}: backend {pid} on CPU {server}, client on CPU {client}"


def _same(got: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> bool:
    def plain(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [tuple(v if isinstance(v, str) else float(v) for v in row) for row in rows]

    return plain(got) == plain(expected)


def _interleaved(case: _Case, statements: int, batch: int) -> dict[str, list[float]]:
    """Per-statement wall and CPU microseconds of each batch, both sides interleaved."""
    sides = (("raw", case.raw), ("floor", case.floor), ("step", case.step_runs))
    samples: dict[str, list[float]] = {}
    for name, run in sides:
        samples[name], samples[f"{name}_cpu"] = [], []
        run(batch * 5)  # warm each up: caches, the prepared statement
    gc.collect()  # start every case with the same heap; GC stays on, as in a real run
    for round_ in range(max(2, statements // batch)):
        for name, run in sides if round_ % 2 == 0 else sides[::-1]:
            cpu, wall = time.process_time(), time.perf_counter()
            run(batch)
            samples[name].append((time.perf_counter() - wall) / batch * 1e6)
            samples[f"{name}_cpu"].append((time.process_time() - cpu) / batch * 1e6)
    return samples


def _callgrind(odbc: str, index: int, count: int) -> tuple[float, float, float] | None:
    """Client instructions per statement (raw, floor, step) under valgrind: repeatable
    under load."""
    if shutil.which("valgrind") is None:
        return None
    irs: dict[tuple[int, int, int], int] = {}
    runs = ((0, 0, 0), (count, 0, 0), (0, count, 0), (0, 0, count))
    with tempfile.TemporaryDirectory() as folder:
        for raw_n, floor_n, step_n in runs:
            out = Path(folder) / f"cg.{raw_n}.{floor_n}.{step_n}"
            command = [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, __file__, "--odbc", odbc,
                "--child", str(index), str(raw_n), str(floor_n), str(step_n),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            found = re.search(r"Collected : (\d+)", done.stderr)
            if done.returncode != 0 or not found:
                print(f"  callgrind failed: {done.stderr.strip().splitlines()[-1:]}")
                return None
            irs[(raw_n, floor_n, step_n)] = int(found.group(1))
    base = irs[runs[0]]
    raw, floor, step = ((irs[run] - base) / count for run in runs[1:])
    return raw, floor, step


def _child(odbc: str, index: int, raw_n: int, floor_n: int, step_n: int) -> None:
    """Under valgrind: set up, warm up, then run raw_n raw, floor_n floor and step_n step
    statements."""
    _, template, plain, params = CASES[index]
    case = _Case(odbc, template, plain, params)
    case.raw(20)
    case.floor(20)
    case.step_runs(20)
    case.raw(raw_n)
    case.floor(floor_n)
    case.step_runs(step_n)
    case.close()


def measure(
    statements: int = 3000,
    odbc: str = DEFAULT_ODBC,
    batch: int = 20,
    placements: tuple[str, ...] = ("apart", "together"),
    callgrind: int = 0,
) -> list[SummaryRow]:
    target = f"<= {TARGET_RATIO}x raw pyodbc"
    try:
        import pyodbc
    except ImportError as error:
        print(f"pyodbc is not installed ({error}); nothing measured")
        return [("sql step vs raw pyodbc (PostgreSQL)", "not run", target, None)]
    try:
        setup = pyodbc.connect(odbc, autocommit=True, timeout=5)
    except pyodbc.Error as error:
        print(f"PostgreSQL is not reachable through ODBC ({error}); nothing measured")
        return [("sql step vs raw pyodbc (PostgreSQL)", "not run", target, None)]
    rows: list[SummaryRow] = []
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        _setup(setup)
        print(
            f"ODBC overhead: {statements} statements each way per case on one connection "
            f"(raw on a second cursor of it), interleaved batches of {batch}; microseconds "
            "per statement, median (min) over batches; CPU = this client process only"
        )
        for placement in placements:
            print(
                f"\n  {'statement':<13} {'raw wall':>13} {'floor wall':>13} {'step wall':>13}"
                f" {'floor':>6} {'step':>6} {'+us':>6} {'raw CPU':>8} {'floor CPU':>9}"
                f" {'step CPU':>9} {'ratio':>6} {'+us':>6}"
            )
            for index, (label, template, plain, params) in enumerate(CASES):
                case = _Case(odbc, template, plain, params)
                try:
                    got = [tuple(r.values()) for r in case.values["rows"]]
                    if not _same(got, case.expected()):
                        print(f"FAILED: the step returned {got}, raw pyodbc {case.expected()}")
                        return [("sql step vs raw pyodbc (PostgreSQL)", "FAILED", target, False)]
                    where = _pin(case, placement)
                    samples = _interleaved(case, statements, batch)
                finally:
                    case.close()
                    if affinity is not None:
                        os.sched_setaffinity(0, affinity)
                med = {key: statistics.median(values) for key, values in samples.items()}
                low = {key: min(values) for key, values in samples.items()}
                ratio = med["step"] / med["raw"]
                cpu_ratio = med["step_cpu"] / med["raw_cpu"]
                floor_ratio = med["floor"] / med["raw"]
                print(
                    f"  {label:<13} {med['raw']:6.1f} ({low['raw']:4.0f})"
                    f" {med['floor']:6.1f} ({low['floor']:4.0f})"
                    f" {med['step']:6.1f} ({low['step']:4.0f}) {floor_ratio:5.2f}x"
                    f" {ratio:5.2f}x {med['step'] - med['raw']:6.1f}"
                    f" {med['raw_cpu']:8.1f} {med['floor_cpu']:9.1f} {med['step_cpu']:9.1f}"
                    f" {cpu_ratio:5.2f}x {med['step_cpu'] - med['raw_cpu']:6.1f}"
                )
                if index == 0:
                    print(f"  ({where})")
                rows.append(
                    (
                        f"sql step vs raw pyodbc, {label}, {placement}",
                        f"{ratio:.2f}x ({med['step']:.0f} vs {med['raw']:.0f} us)",
                        target,
                        ratio <= TARGET_RATIO,
                    )
                )
        if callgrind:
            print(f"\n  client instructions per statement (callgrind, {callgrind} statements)")
            for index, (label, *_) in enumerate(CASES):
                counts = _callgrind(odbc, index, callgrind)
                if counts is None:
                    print("  (valgrind is not available)")
                    break
                raw_ir, floor_ir, step_ir = counts
                print(
                    f"  {label:<13} raw {raw_ir / 1000:7.1f} k  floor {floor_ir / 1000:7.1f} k"
                    f" ({floor_ir / raw_ir:4.2f}x)  step {step_ir / 1000:7.1f} k"
                    f"  {step_ir / raw_ir:5.2f}x  +{(step_ir - raw_ir) / 1000:.1f} k"
                    f" (+{(step_ir - floor_ir) / 1000:.1f} k over the floor)"
                )
        setup.execute(f"DROP TABLE IF EXISTS {TABLE}")
    finally:
        setup.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=3000, help="per side and case")
    parser.add_argument("--batch", type=int, default=20, help="statements per timed batch")
    parser.add_argument(
        "--placement",
        choices=(*PLACEMENTS, "both"),
        default="both",
        help="where client and PostgreSQL backend run: apart (two CPUs), together (one), "
        "free (the scheduler decides), both = apart then together (default)",
    )
    parser.add_argument(
        "--callgrind",
        type=int,
        nargs="?",
        const=1000,
        default=0,
        metavar="N",
        help="also count client instructions under valgrind over N statements (1000: the "
        "driver's polling moves a side by about 2 k at 300, under 1 k at 1000)",
    )
    parser.add_argument("--odbc", default=DEFAULT_ODBC)
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.odbc, *args.child)
        return 0
    placements = ("apart", "together") if args.placement == "both" else (args.placement,)
    rows = measure(args.statements, args.odbc, args.batch, placements, args.callgrind)
    print()
    for metric, measured, target, met in rows:
        verdict = {True: "PASS", False: "MISS", None: "-"}[met]
        print(f"{metric}: {measured} (target {target}) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
