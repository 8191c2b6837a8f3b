"""Linear in size: per-step cost of `validate` and `run` at 1,000 and 10,000 steps.

Two temp projects, alike but for N, each hold runner.yaml (`connections: {main: {sqlite:
db.sqlite}}`) and one generated runbook of N steps. Two shapes of runbook:

  - inline: every step is inline SQL `SELECT 1 AS v` with a threshold on `v`;
  - files:  every step runs a SQL file and (after the first) is guarded by
            `when: steps.<previous>.value == 1`, so references are resolved per step.

Measured, for both sizes in alternation (1,000 then 10,000, repeated; median, mean and min;
each run after an untimed full collection, see cold_run):

  - `validate`: in-process (Library.problems on a fresh Library that checks SQL, as
    `runbook validate` does), split per phase (YAML, JSON Schema, build, meaning and SQL),
    and `python -m runner validate runbooks` as a subprocess;
  - `run`: in-process through the run service with the model loaded once (as in
    engine_overhead.py), recorded to the state store and without one; wall-clock time,
    and the CPU time of this process (time.process_time), which other processes' load
    changes less.

Per-step cost is time / N; the figure to read is the ratio of the 10,000-step per-step
cost to the 1,000-step one (target at most 1.2x: linear), and the subprocess validate of
the 10,000-step inline file (target under 1 s). The median of a few runs on a loaded
machine moves a lot from one round to the next, so the mean is printed beside it.

With --instructions, the same ratio by instructions, which load does not change: for each
shape and size, one run (recorded, and without store) in a child process under `valgrind
--tool=callgrind`, counting only the run itself (the child calls it through
`sys.call_tracing`, and callgrind collects only inside that C function). The child
loads the project the wall-clock part made and warmed (its state store and compiled
templates on disk, as for a `runbook run` that ran before), warms its imports with a
10-step project of the same shape, empties the per-text caches and runs a full collection
first. About 10 minutes; --skip-wall measures only this. --run-only leaves `validate` out.
With --profile, a cProfile of
validate and of one recorded run at 10,000 steps.

    python bench/linear.py [--small 1000] [--large 10000] [--repeats 3] [--profile]
        [--instructions] [--skip-wall] [--run-only]

Prints plain text and exits 0 whether or not the targets are met: it reports, it does not gate.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_overhead import Bench, check_result  # bench/ is on sys.path when run as a script
from profiles import print_profile

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.2
TARGET_VALIDATE_SECONDS = 1.0
SHAPES = ("inline", "files")
RUNS = (("run, recorded", True), ("run, no state store", False))

# One row of a summary table: (metric, measured, target, met). met is None when there is no target.
SummaryRow = tuple[str, str, str, bool | None]

RUNNER_YAML = """\
connections:
  main: {sqlite: db.sqlite}
state: var/runner.db
runbooks: [runbooks]
sql: [sql]
"""


def make_project(root: Path, steps: int, shape: str) -> tuple[Path, Path]:
    """Write runner.yaml, sql/one.sql, an N-step runbook and its SQLite file; return
    (config, runbook). Steps are one flow-style line each, so 10,000 stay under the
    1 MiB a runbook may have."""
    root.mkdir(parents=True)
    config = root / "runner.yaml"
    config.write_text(RUNNER_YAML, encoding="utf-8")
    (root / "sql").mkdir()
    (root / "sql" / "one.sql").write_text("SELECT 1 AS v\n", encoding="utf-8")
    (root / "runbooks").mkdir()
    lines = [
        "runbook: bench-linear",
        f"title: {steps} steps ({shape})",
        "kind: health-check",
        "connection: main",
        "steps:",
    ]
    for index in range(steps):
        if shape == "inline":
            action = "sql: SELECT 1 AS v"
        else:
            action = "sql: one.sql" + (f", when: steps.s{index - 1}.value == 1" if index else "")
        lines.append(f"  - {{id: s{index}, {action}, thresholds: {{v: {{critical: 2}}}}}}")
    runbook = make_runbook_path(root)
    runbook.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The sqlite connection refuses a missing file (a typo must not create an empty db).
    sqlite3.connect(root / "db.sqlite").close()
    return config, runbook


def validate_subprocess(root: Path) -> tuple[float, str | None]:
    """Seconds of one `python -m runner validate runbooks`, and why it failed (or None)."""
    env = dict(os.environ)
    env.pop("RUNBOOK_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "runner", "validate", "runbooks"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0 or "1 file valid" not in done.stdout:
        output = (done.stdout + done.stderr).strip().splitlines()
        return seconds, f"exit {done.returncode}: " + " | ".join(output[:5])
    return seconds, None


def fresh_library(bench: Bench) -> Any:
    """A Library that remembers nothing and checks SQL, as `runbook validate` does."""
    from runner.language.library import Library

    return Library(bench.library.config, bench.library.step_types, check_sql=True)


def cold_caches() -> None:
    """Empty the per-text caches (template analysis, SQL checks, rendering plans).

    They hold 1,024-4,096 texts: repeating a 1,000-step run in one process would find
    every text there and a 10,000-step one none, while `runbook validate` and
    `runbook run` start cold at any size. Caches of one entry (the Jinja environment)
    are start-up, and stay.
    """
    from runner.language import sqlcheck, templates
    from runner.steps import sql

    for module in (templates, sqlcheck, sql):
        for value in vars(module).values():
            parameters = getattr(value, "cache_parameters", None)
            if parameters is not None and (parameters()["maxsize"] or 2) > 1:
                value.cache_clear()


def validate_in_process(bench: Bench, runbook: Path) -> tuple[float, str | None]:
    """Seconds of Library.problems on a fresh Library, with cold caches."""
    cold_caches()
    library = fresh_library(bench)
    started = time.perf_counter()
    errors = [p for p in library.problems(runbook) if p.severity == "error"]
    seconds = time.perf_counter() - started
    return seconds, (f"{len(errors)} errors, first: {errors[0]}" if errors else None)


def phases(bench: Bench, path: Path) -> dict[str, float]:
    """Seconds per phase of validating one file: the functions Library.problems calls."""
    from runner.base.paths import display_path
    from runner.language import schema
    from runner.language.build import build
    from runner.language.meaning import meaning
    from runner.language.yamlload import load_file

    cold_caches()
    library = fresh_library(bench)
    display = display_path(path)
    started = time.perf_counter()
    document = load_file(path, display)
    parsed = time.perf_counter()
    schema.validate_document(document, "runbook", display)
    checked = time.perf_counter()
    built = build(document, display, library.config, library.step_types)
    modelled = time.perf_counter()
    meaning(built.runbook, path, library, library.step_types)
    done = time.perf_counter()
    return {
        "parse YAML (yamlload)": parsed - started,
        "JSON Schema (schema.validate_document)": checked - parsed,
        "build the model (build.build)": modelled - checked,
        "meaning and SQL (meaning.meaning)": done - modelled,
    }


def cold_run(size: Size, name: str, record: bool) -> tuple[float, str | None]:
    """Seconds of one run of the loaded runbook, with cold caches (as `runbook run`);
    adds its CPU time to `size` as the sample of "`name`, CPU".

    A full collection first, untimed: the collector's deferred work (what the run before
    left, a full collection of this process, which holds both sizes' models) would
    otherwise fall into whichever run comes next, a 1,000-step one as often as not,
    where `runbook run` starts a fresh process."""
    cold_caches()
    gc.collect()
    cpu = time.process_time()
    seconds = size.bench.run(record=record)[0]
    size.add(f"{name}, CPU", time.process_time() - cpu)
    return seconds, None


class Size:
    """One project of N steps: its files, the loaded model, and the samples taken."""

    def __init__(self, root: Path, steps: int, shape: str) -> None:
        self.steps = steps
        self.root = root
        self.config, self.runbook = make_project(root, steps, shape)
        self.bench = Bench(self.config, self.runbook)
        self.samples: dict[str, list[float]] = {}
        self.instructions: dict[str, int] = {}  # per run measured under callgrind

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def per_step_ms(self, name: str) -> float:
        return statistics.median(self.samples[name]) * 1000 / self.steps

    def mean_per_step_ms(self, name: str) -> float:
        return statistics.mean(self.samples[name]) * 1000 / self.steps

    def min_per_step_ms(self, name: str) -> float:
        return min(self.samples[name]) * 1000 / self.steps


def measure_shape(
    shape: str,
    small: int,
    large: int,
    repeats: int,
    profile: bool,
    instructions: bool,
    run_only: bool = False,
) -> tuple[list[Size], str | None]:
    """Both sizes of one shape, measured in alternation; the sizes, or why it failed."""
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as folder:
        sizes = [Size(Path(folder) / str(n), n, shape) for n in (small, large)]
        for size in sizes:  # warm-up: first-use imports are start-up, not per-step cost
            _, problem = validate_in_process(size.bench, size.runbook)
            if problem:
                return sizes, f"{size.steps} steps do not validate: {problem}"
            _, result = size.bench.run(record=True)
            problem = check_result(result, size.steps)
            if problem:
                return sizes, f"{size.steps} steps do not run: {problem}"
        runs: list[tuple[str, Callable[[Size], tuple[float, str | None]]]] = [
            ("validate, in-process", lambda s: validate_in_process(s.bench, s.runbook)),
            ("validate, subprocess", lambda s: validate_subprocess(s.root)),
            ("run, recorded", lambda s: cold_run(s, "run, recorded", record=True)),
            ("run, no state store", lambda s: cold_run(s, "run, no state store", record=False)),
        ]
        if run_only:
            runs = runs[2:]
        for _ in range(repeats):
            for name, action in runs:
                for size in sizes:
                    seconds, problem = action(size)
                    if problem:
                        return sizes, f"{name} at {size.steps} steps: {problem}"
                    size.add(name, seconds)
            for size in sizes if not run_only else ():
                for phase, seconds in phases(size.bench, size.runbook).items():
                    size.add(f"  {phase}", seconds)
        if instructions:
            for name, record in RUNS:
                for size in sizes:
                    count, problem = run_instructions(Path(folder), size, shape, record)
                    if problem:
                        return sizes, f"{name} under callgrind at {size.steps} steps: {problem}"
                    size.instructions[name] = count
        if profile:
            big = sizes[-1]
            fresh = fresh_library(big.bench)
            profiler = cProfile.Profile()
            profiler.enable()
            fresh.problems(big.runbook)
            profiler.disable()
            print_profile(profiler, f"cProfile of validate, {big.steps} steps ({shape})")
            profiler = cProfile.Profile()
            profiler.enable()
            big.bench.run(record=True)
            profiler.disable()
            print_profile(profiler, f"cProfile of one recorded run, {big.steps} steps ({shape})")
    return sizes, None


def run_instructions(folder: Path, size: Size, shape: str, record: bool) -> tuple[int, str | None]:
    """Instructions of one run of `size`'s project, counted by callgrind in a child
    process (see the module's docstring), and why it failed (or None)."""
    if shutil.which("valgrind") is None:
        return 0, "valgrind is not installed"
    out = folder / f"callgrind.{shape}.{size.steps}.{int(record)}"
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [
        "valgrind", "--tool=callgrind", "--collect-atstart=no",
        "--toggle-collect=sys_call_tracing", f"--callgrind-out-file={out}",
        sys.executable, __file__,
        "--child", str(size.root), shape, str(size.steps), str(int(record)),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found or int(found.group(1)) == 0:
        lines = [line for line in done.stderr.splitlines() if not line.startswith("==")]
        return 0, f"exit {done.returncode}, no instructions counted: " + " | ".join(lines[-3:])
    return int(found.group(1)), None


def child(root: Path, shape: str, steps: int, record: bool) -> int:
    """Under callgrind: warm up, then one run of the project in `root` through
    sys.call_tracing, the only part callgrind counts."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as folder:
        warm = Size(Path(folder) / "warm", 10, shape)
        warm.bench.run(record=True)  # imports, first-use set-up: not per-step cost
    bench = Bench(root / "runner.yaml", make_runbook_path(root))
    cold_caches()
    gc.collect()
    _, result = sys.call_tracing(bench.run, (record,))
    problem = check_result(result, steps)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


def make_runbook_path(root: Path) -> Path:
    return root / "runbooks" / "bench-linear.yaml"


def print_shape(shape: str, sizes: list[Size]) -> None:
    small, large = sizes
    if small.samples:
        print(
            f"\n  shape {shape!r}: ms per step, median / mean (min), and the ratio "
            "large/small of each"
        )
        print(f"    {'':<40} {small.steps:>7} steps {'':<15} {large.steps:>7} steps {'':<15} ratio")
    for name in small.samples:
        if name not in large.samples:
            continue
        cells = [
            f"{size.per_step_ms(name):7.3f} / {size.mean_per_step_ms(name):7.3f}"
            f" ({size.min_per_step_ms(name):7.3f})"
            for size in sizes
        ]
        ratios = [
            getattr(large, kind)(name) / getattr(small, kind)(name)
            for kind in ("per_step_ms", "mean_per_step_ms", "min_per_step_ms")
        ]
        print(
            f"    {name:<40} {cells[0]}  {cells[1]}  "
            f"{ratios[0]:4.2f}x / {ratios[1]:4.2f}x ({ratios[2]:4.2f}x)"
        )
    if small.instructions:
        print(f"\n  shape {shape!r}: instructions per step (callgrind), and the ratio large/small")
        for name in small.instructions:
            per_step = [size.instructions[name] / size.steps for size in sizes]
            print(
                f"    {name:<40} {per_step[0]:12,.0f}  {per_step[1]:12,.0f}  "
                f"{per_step[1] / per_step[0]:5.3f}x"
            )


def measure(
    small: int = 1000,
    large: int = 10000,
    repeats: int = 3,
    profile: bool = False,
    instructions: bool = False,
    run_only: bool = False,
) -> list[SummaryRow]:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    print(
        f"Linear in size: one runbook of {small:,} and of {large:,} steps, validated and run, "
        f"{repeats} alternating runs" + (", and one run under callgrind" if instructions else "")
    )
    ratio_target = f"<= {TARGET_RATIO}x"
    rows: list[SummaryRow] = []
    for shape in SHAPES:
        sizes, problem = measure_shape(
            shape, small, large, repeats, profile, instructions, run_only
        )
        if problem:
            print(f"\nFAILED ({shape}): {problem}")
            rows.append((f"linear ({shape})", "FAILED", ratio_target, False))
            continue
        print_shape(shape, sizes)
        for name in (
            "validate, in-process",
            "run, recorded",
            "run, recorded, CPU",
            "run, no state store",
            "run, no state store, CPU",
        ):
            if name not in sizes[0].samples:
                continue
            ratio = sizes[1].per_step_ms(name) / sizes[0].per_step_ms(name)
            mean = sizes[1].mean_per_step_ms(name) / sizes[0].mean_per_step_ms(name)
            rows.append(
                (
                    f"per-step {name} {large}/{small} ({shape})",
                    f"median {ratio:.2f}x, mean {mean:.2f}x "
                    f"({sizes[1].per_step_ms(name):.3f} ms/step)",
                    ratio_target,
                    ratio <= TARGET_RATIO,
                )
            )
        for name in sizes[0].instructions:
            ratio = (sizes[1].instructions[name] / large) / (sizes[0].instructions[name] / small)
            rows.append(
                (
                    f"instructions/step {name} ({shape})",
                    f"{ratio:.3f}x ({sizes[1].instructions[name] / large:,.0f} per step)",
                    ratio_target,
                    ratio <= TARGET_RATIO,
                )
            )
        if shape == "inline" and "validate, subprocess" in sizes[1].samples:
            seconds = statistics.median(sizes[1].samples["validate, subprocess"])
            rows.append(
                (
                    f"validate one {large:,}-step file (subprocess)",
                    f"{seconds:.2f} s",
                    f"< {TARGET_VALIDATE_SECONDS:.0f} s",
                    seconds < TARGET_VALIDATE_SECONDS,
                )
            )
    return rows


def print_summary(rows: list[SummaryRow]) -> None:
    print(f"\n  {'metric':<56} {'measured':<40} {'target':<10} result")
    for metric, measured, target, met in rows:
        verdict = "-" if met is None else "PASS" if met else "MISS"
        print(f"  {metric:<56} {measured:<40} {target:<10} {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="steps, small (default 1000)")
    parser.add_argument("--large", type=int, default=10000, help="steps, large (default 10000)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats (default 3)")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile validate and a run at the large size"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="also count a run's instructions (callgrind)"
    )
    parser.add_argument(
        "--skip-wall", action="store_true", help="no wall-clock repeats (with --instructions)"
    )
    parser.add_argument(
        "--run-only", action="store_true", help="measure `run` only, not `validate`"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # under callgrind
    args = parser.parse_args(argv)
    if args.child:
        root, shape, steps, record = args.child
        return child(Path(root), shape, int(steps), record == "1")
    repeats = 0 if args.skip_wall else args.repeats
    print_summary(
        measure(args.small, args.large, repeats, args.profile, args.instructions, args.run_only)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
