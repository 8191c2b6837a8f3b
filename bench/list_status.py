"""`runbook list` and `runbook status` with 1,000 runbooks: cold (no var/cache) and warm.

The project is validate_many.py's: 1,000 generated runbooks of 66 lines and 5 steps,
each different, every one valid. Each command runs as a fresh process from the project
root, with bytecode compiled:

- cold: var/cache deleted before each run, so every runbook is validated (and the cache
  written);
- warm: the cache as the previous run left it; every file is still found and stat'ed;
  an unchanged one's name and entry come from the listing index of var/cache, a file
  whose stat changed is read and hashed (unchanged ones by the stat index), so an added,
  removed or edited runbook is noticed, but none is parsed or validated again.

The state store holds a history: 20 runs of each runbook but every 13th (one of them a
dry run, the newest of every fifth still running), and an open alert for every seventh,
so `status` reads real rows (one query for the last runs, bench/README.md).

Cold and warm runs alternate (1 warm-up round, then N); median and min of each, and
the warm run against `python -c "import yaml, jinja2"` in the same rounds. With
--callgrind, the warm runs and the baseline are also counted in instructions under
valgrind (whole process, PYTHONHASHSEED=0, bytecode compiled): repeatable on a loaded
machine, where wall times are not.

    python bench/list_status.py [--files 1000] [--runs 3] [--callgrind]

Prints plain text and exits 0 whether or not the target is met: it reports, it does not gate.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from validate_many import make_project  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5
WARMUPS = 1

SummaryRow = tuple[str, str, str, bool | None]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RUNBOOK_CONFIG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measured with bytecode compiled
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _run(argv: list[str], root: Path, files: int) -> tuple[float, str | None]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=_env(), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1, 2, 3) or "Traceback" in done.stderr:
        return elapsed, f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    if argv[-1] == "list" and (f"{files} runbooks" not in done.stdout or "INVALID" in done.stdout):
        return elapsed, f"`list` did not list {files} valid runbooks: {done.stdout[-300:]}"
    return elapsed, None


def _instructions(argv: list[str], root: Path) -> int | None:
    """The instructions of one whole process under callgrind; None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    env = {**_env(), "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as folder:
        out = f"--callgrind-out-file={Path(folder) / 'callgrind.out'}"
        command = ["valgrind", "--tool=callgrind", out, *argv]
        done = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, check=False
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if found else None


def seed_history(root: Path, per_runbook: int = 20) -> int:
    """Runs of the project's runbooks in its state store (var/runner.db), written as
    another program would; the store's tables made by the runner first."""
    sys.path.insert(0, str(REPO))
    from runner.history.store import StateStore

    db = root / "var" / "runner.db"
    StateStore(db).close()
    names = sorted(f"{p.parent.name}-{p.stem}" for p in (root / "runbooks").rglob("*.yaml"))
    rows, alerts = [], []
    for number, name in enumerate(names):
        if number % 13 == 0:
            continue  # never run
        for k in range(per_runbook):
            running = k == per_runbook - 1 and number % 5 == 0
            mode = "dry-run" if k == per_runbook - 2 and number % 3 == 0 else "run"
            status = ("OK", "OK", "WARNING", "CRITICAL")[(number + k) % 4]
            started = f"2026-11-24T{k // 60 % 24:02d}:{k % 60:02d}:00.000000Z"
            rows.append(
                (f"20261124T{k:06d}Z-{number:012x}", name, name, "check", status,
                 "running" if running else "completed", mode, "schedule", "{}", "ops",
                 "elsewhere", 1, started, started, 1.0, None, None, started, None)
            )  # fmt: skip
        if number % 7 == 0:
            alerts.append((name, started))
    with sqlite3.connect(db) as conn:
        conn.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * 19)})", rows)
        conn.executemany(
            "INSERT INTO alert_state (runbook, subject, status, announced, escalated, "
            "streak, recent_json, updated) VALUES (?, '', 'CRITICAL', 'CRITICAL', 0, 1, "
            "'[]', ?)",
            alerts,
        )
    conn.close()
    return len(rows)


def measure(files: int = 1000, runs: int = 3, callgrind: bool = False) -> list[SummaryRow]:
    python = sys.executable
    subprocess.run([python, "-m", "compileall", "-q", str(REPO / "runner")], check=False)
    runbook = [python, "-m", "runner"]
    baseline = [python, "-c", "import yaml, jinja2"]
    labels = ["baseline: python -c 'import yaml, jinja2'"]
    for command in ("list", "status"):
        labels += [f"runbook {command} (cold cache)", f"runbook {command} (warm cache)"]
    samples: dict[str, list[float]] = {label: [] for label in labels}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-list-status-") as scratch:
        root = Path(scratch)
        make_project(root, files)
        stored = seed_history(root)
        print(f"{files} runbooks in {root}, {stored} runs stored; {runs} rounds", end="")
        print(f" after {WARMUPS} warm-ups")
        for index in range(WARMUPS + runs):
            timed = index >= WARMUPS
            elapsed, _ = _run(baseline, root, files)
            if timed:
                samples[labels[0]].append(elapsed)
            for command in ("list", "status"):
                for state in ("cold", "warm"):
                    label = f"runbook {command} ({state} cache)"
                    if state == "cold":
                        shutil.rmtree(root / "var" / "cache", ignore_errors=True)
                    elapsed, error = _run([*runbook, command], root, files)
                    if error:
                        errors[label] = error
                    elif timed:
                        samples[label].append(elapsed)
        if callgrind:  # the cache and the due slots as the last warm runs left them
            counted = {"baseline": _instructions(baseline, root)}
            for command in ("list", "status"):
                counted[command] = _instructions([*runbook, command], root)
            if None in counted.values():
                print("instructions: valgrind is not available, or a run failed")
            else:
                reference = counted["baseline"] or 1
                shown = [
                    f"{name} {count / 1e6:.1f} M ({count / reference:.2f}x)"
                    for name, count in counted.items()
                ]
                print(f"instructions (callgrind, warm cache): {', '.join(shown)}")
    base = statistics.median(samples[labels[0]])
    print(f"\n  {'command':<44} {'median s':>9} {'min s':>7} {'x baseline':>11}")
    for label in labels:
        if label in errors:
            print(f"  {label:<44} FAILED {errors[label]}")
            continue
        median, best = statistics.median(samples[label]), min(samples[label])
        print(f"  {label:<44} {median:9.3f} {best:7.3f} {median / base:11.2f}")
    rows: list[SummaryRow] = []
    for command in ("list", "status"):
        label = f"runbook {command} (warm cache)"
        metric = f"runbook {command}, {files} runbooks, warm cache"
        target = f"< {TARGET_SECONDS} s"
        if label in errors or not samples[label]:
            rows.append((metric, "FAILED", target, False))
            continue
        median = statistics.median(samples[label])
        cold = samples[f"runbook {command} (cold cache)"]
        shown = f"{median:.3f} s (min {min(samples[label]):.3f}"
        shown += f"; cold {statistics.median(cold):.2f} s)" if cold else ")"
        rows.append((metric, shown, target, median < TARGET_SECONDS))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="runbooks (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument(
        "--callgrind", action="store_true", help="also count the warm runs' instructions"
    )
    args = parser.parse_args(argv)
    for metric, measured, target, met in measure(args.files, args.runs, args.callgrind):
        verdict = "-" if met is None else "PASS" if met else "MISS"
        print(f"  {metric:<44} {measured:<40} {target:<10} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
