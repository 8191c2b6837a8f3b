"""Large runs stay small: a 10,000-item `for_each` against a 10-item one.

A temp project holds runner.yaml (`connections: {main: {sqlite: db.sqlite}}`, state in
the temp folder) and two runbooks, each one `for_each` over `range(N)` of
`SELECT {{ n }} AS v` (runs as `SELECT ? AS v`, the item bound) with a threshold on
`v`, for N = 10 and N = 10,000. Each runs as a fresh `python -m runner run NAME` subprocess, in text
and in json, alternating small and large, and the script reports:

  - peak RSS of the child (resource.getrusage(RUSAGE_CHILDREN) in a fresh wrapper
    process per run, so each figure is one run's own), and the large/small ratio;
  - wall time and the output size in bytes and lines, per format;
  - bytes the state store grew by per run (its SQLite file and WAL after a checkpoint).

    python bench/large_run.py [--items 10000] [--repeats 3]

Prints plain text and exits 0 whether or not the targets are met: it reports, it does
not gate.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_RSS_RATIO = 2.0
TARGET_STORE_BYTES = 200_000

SummaryRow = tuple[str, str, str, bool | None]

# Runs one command and prints its peak RSS (KiB), seconds, and output size, as JSON.
_WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
took = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rss_kib": rss, "seconds": took, "bytes": len(done.stdout),
                  "lines": done.stdout.count(b"\\n"), "code": done.returncode,
                  "stderr": done.stderr.decode(errors="replace")[-500:]}))
"""


def make_project(root: Path, sizes: list[int]) -> Path:
    config = root / "runner.yaml"
    config.write_text(
        "connections:\n  main: {sqlite: db.sqlite}\nstate: var/runner.db\nrunbooks: [runbooks]\n",
        encoding="utf-8",
    )
    (root / "runbooks").mkdir()
    for size in sizes:
        (root / "runbooks" / f"items-{size}.yaml").write_text(
            f"runbook: items-{size}\n"
            f"title: {size} items\n"
            "kind: health-check\n"
            "connection: main\n"
            "steps:\n"
            "  - id: each\n"
            f'    for_each: "{{{{ range({size}) | list }}}}"\n'
            "    as: n\n"
            "    on_item_error: continue\n"
            "    steps:\n"
            "      - id: probe\n"
            '        sql: "SELECT {{ n }} AS v"\n'
            "        thresholds:\n"
            "          v: {warning: 1000000, critical: 2000000}\n",
            encoding="utf-8",
        )
    sqlite3.connect(root / "db.sqlite").close()
    return config


def store_bytes(root: Path) -> int:
    """Bytes the store's pages hold (file pages in use, after a WAL checkpoint)."""
    database = root / "var" / "runner.db"
    if not database.exists():
        return 0
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    page = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    return int((pages - free) * page)


def row_bytes(root: Path) -> int:
    """Bytes of the newest run's step rows: every column's length, summed."""
    connection = sqlite3.connect(root / "var" / "runner.db")
    columns = [row[1] for row in connection.execute("PRAGMA table_info(step_results)")]
    total = " + ".join(f"COALESCE(LENGTH({column}), 0)" for column in columns)
    found = connection.execute(
        f"SELECT SUM({total}) FROM step_results "
        "WHERE run_id = (SELECT run_id FROM runs ORDER BY started DESC LIMIT 1)"
    ).fetchone()[0]
    connection.close()
    return int(found or 0)


def one_run(root: Path, size: int, fmt: str) -> dict[str, float]:
    command = [sys.executable, "-m", "runner", "--config", str(root / "runner.yaml"),
               "run", f"items-{size}", "--format", fmt]  # fmt: skip
    before = store_bytes(root)
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    if figures["code"] != 0:
        raise RuntimeError(f"items-{size} --format {fmt} exited {figures['code']}: "
                           f"{figures['stderr']}")  # fmt: skip
    figures["store_bytes"] = store_bytes(root) - before
    figures["row_bytes"] = row_bytes(root)
    return figures


def measure(items: int = 10_000, repeats: int = 3) -> list[SummaryRow]:
    sizes = [10, items]
    with tempfile.TemporaryDirectory(prefix="bench-large-") as folder:
        root = Path(folder)
        make_project(root, sizes)
        results: dict[tuple[int, str], list[dict[str, float]]] = {}
        for size in sizes:  # warm-up: bytecode, the store's tables
            one_run(root, size, "nagios")
        for _ in range(repeats):
            for fmt in ("text", "json"):
                for size in sizes:  # alternating small and large
                    results.setdefault((size, fmt), []).append(one_run(root, size, fmt))
    print(f"{'items':>7} {'format':<6} {'RSS MiB med/min':>16} {'seconds med/min':>16} "
          f"{'out bytes':>10} {'lines':>7} {'store grew':>11} {'step rows':>10}")  # fmt: skip
    for (size, fmt), runs in sorted(results.items()):
        grown = int(statistics.median(r["store_bytes"] for r in runs))
        rss = [run["rss_kib"] / 1024 for run in runs]
        took = [run["seconds"] for run in runs]
        print(
            f"{size:>7} {fmt:<6} {statistics.median(rss):>8.1f}/{min(rss):<7.1f} "
            f"{statistics.median(took):>8.3f}/{min(took):<7.3f} {int(runs[0]['bytes']):>10} "
            f"{int(runs[0]['lines']):>7} {grown:>11} {int(runs[0]['row_bytes']):>10}"
        )
    small = [r["rss_kib"] for fmt in ("text", "json") for r in results[(10, fmt)]]
    large = [r["rss_kib"] for fmt in ("text", "json") for r in results[(items, fmt)]]
    ratio = statistics.median(large) / statistics.median(small)
    # The larger of what the file grew by (page-granular, may reuse free pages) and
    # the bytes of the run's own step rows: a run is charged at least what it wrote.
    stored = statistics.median(max(r["store_bytes"], r["row_bytes"]) for fmt in ("text", "json")
                               for r in results[(items, fmt)])  # fmt: skip
    print(f"\npeak RSS {items} items / 10 items: {ratio:.2f}x (target <= {TARGET_RSS_RATIO}x)")
    print(f"store growth per {items}-item run: {stored / 1000:.1f} KB "
          f"(target <= {TARGET_STORE_BYTES / 1000:.0f} KB)")  # fmt: skip
    text = results[(items, "text")][0]
    print(f"text output of {items} items: {int(text['lines'])} lines, {int(text['bytes'])} bytes")
    return [
        (f"peak RSS {items} / 10 items", f"{ratio:.2f}x", f"<= {TARGET_RSS_RATIO}x",
         ratio <= TARGET_RSS_RATIO),
        (f"store per {items}-item run", f"{stored / 1000:.1f} KB",
         f"<= {TARGET_STORE_BYTES / 1000:.0f} KB", stored <= TARGET_STORE_BYTES),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="items of the large run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size and format")
    args = parser.parse_args(argv)
    for metric, measured, target, met in measure(args.items, args.repeats):
        verdict = "-" if met is None else "PASS" if met else "MISS"
        print(f"  {metric}: {measured} (target {target}) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
