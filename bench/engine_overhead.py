"""Engine overhead per step: 1,000 `SELECT 1` sql steps through the Engine versus a plain loop.

A temp project holds runner.yaml (`connections: {main: {sqlite: db.sqlite}}`, state in
the temp folder) and one generated runbook of N steps. The same N statements run

  - through the run service, recording to the state store as `runbook run` does;
  - through the run service without a state store (what the engine itself costs);
  - as a plain sqlite3 loop on one connection: connect, execute + fetchall N times, close.

Overhead per step = (engine - plain) / N. Each is repeated and the median reported, after
one warm-up engine run (first-use imports are start-up, not per-step cost). A cProfile of
one recorded run shows where the time goes.

    python bench/engine_overhead.py [--steps 1000] [--repeats 5]

Prints plain text and exits 0 whether or not the target is met: it reports, it does not gate.
"""

from __future__ import annotations

import argparse
import cProfile
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from profiles import print_profile  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parent.parent
TARGET_MS_PER_STEP = 0.5
STATEMENT = "SELECT 1"

# One row of a summary table: (metric, measured, target, met). met is None when there is no target.
SummaryRow = tuple[str, str, str, bool | None]


def make_project(root: Path, steps: int) -> tuple[Path, Path]:
    """Write runner.yaml, an N-step runbook and its SQLite file; return (config, runbook)."""
    config = root / "runner.yaml"
    config.write_text(
        "connections:\n  main: {sqlite: db.sqlite}\nstate: var/runner.db\nrunbooks: [runbooks]\n",
        encoding="utf-8",
    )
    (root / "runbooks").mkdir()
    lines = [
        "runbook: bench-steps",
        f"title: {steps} x {STATEMENT}",
        "kind: health-check",
        "connection: main",
        "steps:",
    ]
    for index in range(steps):
        lines += [f"  - id: s{index:05d}", f"    sql: {STATEMENT}"]
    runbook = root / "runbooks" / "bench-steps.yaml"
    runbook.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The sqlite connection refuses a missing file (a typo must not create an empty db).
    sqlite3.connect(root / "db.sqlite").close()
    return config, runbook


def plain_loop(database: Path, statements: int) -> float:
    """Seconds for connect + N x (execute, fetchall) + close: the floor the engine adds to."""
    started = time.perf_counter()
    connection = sqlite3.connect(database)
    for _ in range(statements):
        connection.execute(STATEMENT).fetchall()
    connection.close()
    return time.perf_counter() - started


class Bench:
    """The loaded runbook and a way to run it, with or without the state store."""

    def __init__(self, config_path: Path, runbook_path: Path) -> None:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        from runner.language.config import load_config
        from runner.language.library import Library
        from runner.steps import STEP_TYPES

        self.library = Library(load_config(config_path), STEP_TYPES)
        started = time.perf_counter()
        self.runbook = self.library.runbook(str(runbook_path))
        self.load_seconds = time.perf_counter() - started
        self.store_seconds: list[float] = []  # every state-store write, in seconds

    def run(self, record: bool) -> tuple[float, Any]:
        """Seconds for one run of the loaded runbook through the run service, and its
        RunResult: the lock, the walk and (when `record`) the state store, as `runbook run`
        does after loading."""
        from runner.service.runs import RunRequest, RunService

        service = RunService(
            self.library.config,
            interactive=False,
            record=record,
            store=lambda config: _timed_store(config.state, self.store_seconds),
        )
        started = time.perf_counter()
        result = service.run(RunRequest(self.runbook.name), runbook=self.runbook)
        return time.perf_counter() - started, result


def _timed_store(path: Path, seconds: list[float]) -> Any:
    """A real StateStore whose writes add their duration to `seconds`: the recording cost
    measured directly, rather than as the difference of two noisy totals."""
    from runner.history.store import StateStore

    class TimedStore(StateStore):
        def start_run(self, run: Any, claim: Any = None) -> None:
            started = time.perf_counter()
            super().start_run(run, claim)
            seconds.append(time.perf_counter() - started)

        def finish_run(self, run: Any) -> None:
            started = time.perf_counter()
            super().finish_run(run)
            seconds.append(time.perf_counter() - started)

    return TimedStore(path)


def check_result(result: Any, steps: int) -> str | None:
    """Why this run does not measure N successful statements, or None when it does."""
    ok = [s for s in result.steps if s.status.value == "OK" and s.values.get("value") == 1]
    if len(result.steps) == steps and len(ok) == steps:
        return None
    bad = next((s for s in result.steps if s not in ok), None)
    detail = f"; first bad step {bad.id}: {bad.status.value} {bad.error}" if bad else ""
    return f"{len(ok)} of {steps} steps OK (run {result.status.value}){detail}"


def measure(steps: int = 1000, repeats: int = 5) -> list[SummaryRow]:
    target = f"< {TARGET_MS_PER_STEP} ms/step"
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as folder:
        root = Path(folder)
        config, runbook = make_project(root, steps)
        bench = Bench(config, runbook)
        print(
            f"Engine overhead: {steps} sql steps `{STATEMENT}` on SQLite, "
            f"median of {repeats} (temp project {root})"
        )
        load_ms = bench.load_seconds * 1000
        print(
            f"load + validate + build of the {steps}-step runbook: {load_ms:.0f} ms "
            "(once per run, not counted below)"
        )

        _, warm = bench.run(record=True)
        problem = check_result(warm, steps)
        if problem:
            print(f"\nFAILED: the engine did not run the statements: {problem}")
            return [("engine overhead per step", "FAILED", target, False)]

        recorded: list[float] = []
        unrecorded: list[float] = []
        plain: list[float] = []
        for _ in range(repeats):
            seconds, result = bench.run(record=True)
            recorded.append(seconds)
            seconds, _ = bench.run(record=False)
            unrecorded.append(seconds)
            plain.append(plain_loop(root / "db.sqlite", steps))
        problem = check_result(result, steps)
        if problem:
            print(f"\nFAILED: a timed run did not run the statements: {problem}")
            return [("engine overhead per step", "FAILED", target, False)]

        base = statistics.median(plain) * 1000
        print(
            f"\n  {'variant':<34} {'total ms':>9} {'min ms':>8} {'ms/step':>8} "
            f"{'overhead ms/step':>17} {'x plain':>8}"
        )
        rows = [
            ("plain sqlite3 loop", plain),
            ("engine, no state store", unrecorded),
            ("engine, recorded (as `runbook run`)", recorded),
        ]
        for label, samples in rows:
            total = statistics.median(samples) * 1000
            overhead = (total - base) / steps
            print(
                f"  {label:<34} {total:9.1f} {min(samples) * 1000:8.1f} {total / steps:8.3f} "
                f"{overhead:17.3f} {total / base:8.1f}"
            )
        recorded_ms = statistics.median(recorded) * 1000
        unrecorded_ms = statistics.median(unrecorded) * 1000
        # start_run + finish_run of the timed recorded runs (the warm-up's two are skipped)
        writes = bench.store_seconds[2:]
        per_run_ms = sum(writes) * 1000 / repeats
        print(
            f"\n  state-store writes (start_run + finish_run): {per_run_ms:.1f} ms per run, "
            f"{per_run_ms / steps:.3f} ms/step"
        )
        difference = (recorded_ms - unrecorded_ms) / steps
        print(
            f"  recorded minus unrecorded medians: {difference:.3f} ms/step "
            "(a difference of two noisy totals; the direct figure above is the one to trust)"
        )

        profile = cProfile.Profile()
        profile.enable()
        bench.run(record=True)
        profile.disable()
        print_profile(profile, f"cProfile of one recorded engine run ({steps} steps)")

    overhead_recorded = (recorded_ms - base) / steps
    overhead_bare = (unrecorded_ms - base) / steps
    return [
        (
            "engine overhead/step, recorded",
            f"{overhead_recorded:.3f} ms ({recorded_ms / base:.0f}x plain)",
            target,
            overhead_recorded < TARGET_MS_PER_STEP,
        ),
        (
            "engine overhead/step, no state",
            f"{overhead_bare:.3f} ms ({unrecorded_ms / base:.0f}x plain)",
            target,
            overhead_bare < TARGET_MS_PER_STEP,
        ),
    ]


def print_summary(rows: list[SummaryRow]) -> None:
    print(f"\n  {'metric':<40} {'measured':<32} {'target':<16} result")
    for metric, measured, target, met in rows:
        verdict = "-" if met is None else "PASS" if met else "MISS"
        print(f"  {metric:<40} {measured:<32} {target:<16} {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=int, default=1000, help="sql steps in the runbook (default 1000)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (default 5)")
    args = parser.parse_args(argv)
    print_summary(measure(args.steps, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
