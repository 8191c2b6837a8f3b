"""Peers: `runbook run` against Soda Core on the same two PostgreSQL checks.

Two checks of an order table, as a health check asks them: how many orders are pending
(WARNING above 10, CRITICAL above 50) and how many failed (WARNING above 0, CRITICAL
above 5). Both tools run them as a fresh process each time, the way a scheduler or
Nagios starts them:

  - runbook: `python -m runner run peer-health --format nagios` in a generated project
    (runner.yaml with one ODBC connection, one runbook of two sql steps with thresholds);
  - Soda Core: `soda scan -d peer -c configuration.yml checks.yml` with two user-defined
    metrics with `warn:` and `fail:` (the same SQL, the same limits).

Soda Core is optional: it runs when `soda-core-postgres` is installed (a `soda` command
next to this Python, on PATH, or given with --soda). It is not a dependency of runbook:
install it in its own virtualenv, for example `python -m venv /tmp/soda && /tmp/soda/bin/pip
install soda-core-postgres`, then `python bench/peers.py --soda /tmp/soda/bin/soda`.

    python bench/peers.py [--runs 11] [--soda PATH] [--odbc "DRIVER=...;"] []

Runs alternate (runbook, soda, runbook, ...) after one warm-up each; prints median and min
wall time of each and the ratio. Prints plain text and exits 0 either way; says so and
exits 0 when PostgreSQL is not reachable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_ODBC = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=test;UID=postgres"
TABLE = "runbook_peer_orders"
PENDING = f"SELECT COUNT(*) AS pending_count FROM {TABLE} WHERE status = 'pending'"
FAILED = f"SELECT COUNT(*) AS failed_count FROM {TABLE} WHERE status = 'failed'"
# runbook is expected to be faster than Soda Core; the issue measured 2.8x. No gate.
TARGET = "runbook faster (ratio < 1)"

SummaryRow = tuple[str, str, str, bool | None]


def _setup(odbc: str) -> None:
    import pyodbc

    with pyodbc.connect(odbc, autocommit=True, timeout=5) as db:
        db.execute(f"DROP TABLE IF EXISTS {TABLE}")
        db.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, status VARCHAR(20))")
        db.execute(
            f"INSERT INTO {TABLE} SELECT g, CASE WHEN g % 5000 = 0 THEN 'failed' "
            "WHEN g % 1500 = 0 THEN 'pending' ELSE 'done' END FROM generate_series(1, 10000) AS g"
        )
        db.execute(f"VACUUM ANALYZE {TABLE}")


def _drop(odbc: str) -> None:
    import pyodbc

    with pyodbc.connect(odbc, autocommit=True, timeout=5) as db:
        db.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _project(root: Path, odbc: str, host: str, port: int, user: str, database: str) -> None:
    (root / "runbooks").mkdir()
    (root / "runner.yaml").write_text(
        textwrap.dedent(
            f"""
            connections:
              pg: {{odbc: "{odbc}"}}
            state: var/runner.db
            runbooks: [runbooks]
            """
        ),
        encoding="utf-8",
    )
    (root / "runbooks" / "peer-health.yaml").write_text(
        textwrap.dedent(
            f"""
            runbook: peer-health
            kind: health-check
            connection: pg
            steps:
              - id: pending
                sql: "{PENDING}"
                thresholds:
                  pending_count: {{warning: 10, critical: 50}}
              - id: failed
                sql: "{FAILED}"
                thresholds:
                  failed_count: {{warning: 0, critical: 5}}
            """
        ),
        encoding="utf-8",
    )
    (root / "configuration.yml").write_text(
        textwrap.dedent(
            f"""
            data_source peer:
              type: postgres
              host: {host}
              port: {port}
              username: {user}
              password: ""
              database: {database}
              schema: public
            """
        ),
        encoding="utf-8",
    )
    # Soda Core sends usage statistics by default, and waits seconds for a network it
    # may not reach: off, in a config under the project (soda runs with HOME=root).
    (root / ".soda").mkdir()
    (root / ".soda" / "config.yml").write_text("send_anonymous_usage_stats: false\n")
    (root / "checks.yml").write_text(
        textwrap.dedent(
            f"""
            checks for {TABLE}:
              - pending_count:
                  pending_count query: "{PENDING}"
                  warn: when > 10
                  fail: when > 50
              - failed_count:
                  failed_count query: "{FAILED}"
                  warn: when > 0
                  fail: when > 5
            """
        ),
        encoding="utf-8",
    )


def _odbc_part(odbc: str, key: str, default: str) -> str:
    for part in odbc.split(";"):
        name, _, value = part.partition("=")
        if name.strip().upper() == key:
            return value.strip()
    return default


def find_soda(given: str | None) -> str | None:
    """The `soda` command: --soda, next to this Python, or on PATH; None when not installed."""
    if given:
        return given if Path(given).exists() else None
    beside = Path(sys.executable).parent / "soda"
    if beside.exists():
        return str(beside)
    return shutil.which("soda")


def _time(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if k != "RUNBOOK_CONFIG"}
    env["HOME"] = str(cwd)  # Soda Core writes ~/.soda/config.yml: keep it in the project
    # Both sides with bytecode compiled (pip compiled Soda's at install; the warm-up
    # compiles runbook's), as installed tools run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return (time.perf_counter() - started) * 1000, done


def measure(runs: int = 11, soda: str | None = None, odbc: str = DEFAULT_ODBC) -> list[SummaryRow]:
    soda_command = find_soda(soda)
    if soda_command is None:
        print("Soda Core is not installed (no `soda` command; see --help): peer skipped.")
        return [("Soda Core peer (two checks)", "skipped: not installed", TARGET, None)]
    try:
        _setup(odbc)
    except Exception as error:  # any driver or server failure: report it, do not crash
        print(f"PostgreSQL not reachable through {odbc!r}: {error}; peer skipped.")
        return [("Soda Core peer (two checks)", "skipped: no PostgreSQL", TARGET, None)]
    host = _odbc_part(odbc, "SERVER", "127.0.0.1")
    port = int(_odbc_part(odbc, "PORT", "5432"))
    user = _odbc_part(odbc, "UID", "postgres")
    database = _odbc_part(odbc, "DATABASE", "test")
    sides: dict[str, tuple[list[str], list[float]]] = {
        "runbook run --format nagios": (
            [sys.executable, "-m", "runner", "run", "peer-health", "--format", "nagios"],
            [],
        ),
        "soda scan": (
            [soda_command, "scan", "-d", "peer", "-c", "configuration.yml", "checks.yml"],
            [],
        ),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="runbook-peers-") as folder:
            root = Path(folder)
            _project(root, odbc, host, port, user, database)
            for label, (argv, _) in sides.items():  # warm-up, and a check that it works
                _, done = _time(argv, root)
                print(f"{label}: exit {done.returncode}; {done.stdout.strip().splitlines()[-1:]}")
                # 6 pending orders (OK) and 2 failed (WARNING): both tools should say so
                if label.startswith("runbook") and done.returncode != 1:
                    print(done.stdout, done.stderr)
                    return [("Soda Core peer (two checks)", "FAILED: runbook", TARGET, False)]
                if label.startswith("soda") and done.returncode != 1:
                    print(done.stdout, done.stderr)
                    return [("Soda Core peer (two checks)", "FAILED: soda scan", TARGET, None)]
            for index in range(runs):
                order = list(sides.values()) if index % 2 == 0 else list(sides.values())[::-1]
                for argv, samples in order:
                    samples.append(_time(argv, root)[0])
    finally:
        _drop(odbc)
    print(f"\nTwo PostgreSQL checks, a fresh process each, {runs} alternating runs")
    print(f"  {'command':<32} {'median ms':>10} {'min ms':>8}")
    for label, (_, samples) in sides.items():
        print(f"  {label:<32} {statistics.median(samples):10.1f} {min(samples):8.1f}")
    ours = statistics.median(sides["runbook run --format nagios"][1])
    theirs = statistics.median(sides["soda scan"][1])
    ratio = ours / theirs
    print(f"  runbook / soda: {ratio:.2f}x (soda takes {theirs / ours:.1f}x as long)")
    return [
        (
            "runbook vs Soda Core, two checks (median)",
            f"{ours:.0f} ms vs {theirs:.0f} ms ({ratio:.2f}x)",
            TARGET,
            ratio < 1,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="timed runs a side (default 11)")
    parser.add_argument("--soda", help="the `soda` command of a soda-core-postgres install")
    parser.add_argument("--odbc", default=DEFAULT_ODBC, help="ODBC connection string")
    args = parser.parse_args(argv)
    measure(args.runs, args.soda, args.odbc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
