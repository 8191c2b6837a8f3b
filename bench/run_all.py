"""Run every benchmark (start-up, engine overhead, validate at scale, list and status at
scale, ODBC statement cost, large runs, batches in one transaction, peers when installed,
linear in runbook length, the dashboard under 100 clients while runs go on)
and print one summary.

    python bench/run_all.py

Each benchmark prints its own detail first; the table at the end gives each target and
PASS or MISS. Exits 0 either way: benchmarks report, they do not gate. A benchmark that
crashes is reported as FAILED and the others still run.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

# `python bench/run_all.py` puts bench/ on sys.path; importing this module from elsewhere may not.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import batch  # noqa: E402
import engine_overhead  # noqa: E402
import large_run  # noqa: E402
import linear  # noqa: E402
import list_status  # noqa: E402
import odbc_overhead  # noqa: E402
import peers  # noqa: E402
import startup  # noqa: E402
import validate_many  # noqa: E402
import web_load  # noqa: E402

SummaryRow = tuple[str, str, str, bool | None]

BENCHMARKS: list[tuple[str, Callable[[], list[SummaryRow]]]] = [
    ("startup", startup.measure),
    ("engine_overhead", engine_overhead.measure),
    ("validate_many", validate_many.measure),
    ("list_status", list_status.measure),
    ("odbc_overhead", odbc_overhead.measure),
    ("large_run", large_run.measure),
    ("batch", batch.measure),
    ("peers", peers.measure),
    ("linear", linear.measure),
    ("web_load", web_load.measure),
]


def run_one(name: str, measure: Callable[[], list[SummaryRow]]) -> tuple[list[SummaryRow], float]:
    print(f"\n{'=' * 30} {name} {'=' * (60 - len(name))}")
    started = time.perf_counter()
    try:
        rows = measure()
    except Exception:  # one broken benchmark must not hide the others' numbers
        traceback.print_exc()
        rows = [(name, "FAILED (see traceback above)", "-", False)]
    return rows, time.perf_counter() - started


def print_table(rows: list[SummaryRow]) -> None:
    # Columns as wide as their longest cell, so long metric names keep the table aligned.
    widths = [max(len(str(row[column])) for row in [("metric", "measured", "target"), *rows])
              for column in range(3)]  # fmt: skip
    print(f"\n{'=' * 30} summary {'=' * 53}")
    print(
        "  "
        + "  ".join(
            name.ljust(w) for name, w in zip(("metric", "measured", "target"), widths, strict=True)
        )
        + "  result"
    )
    for metric, measured, target, met in rows:
        verdict = "-" if met is None else "PASS" if met else "MISS"
        cells = (metric, measured, target)
        print(
            "  "
            + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
            + f"  {verdict}"
        )
    targets = [met for *_, met in rows if met is not None]
    print(f"\n  {sum(targets)} of {len(targets)} targets met")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)  # no options yet; --help says what this runs
    rows: list[SummaryRow] = []
    durations: list[str] = []
    for name, measure in BENCHMARKS:
        found, seconds = run_one(name, measure)
        rows.extend(found)
        durations.append(f"{name} {seconds:.0f} s")
    print_table(rows)
    print(f"  ({', '.join(durations)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
