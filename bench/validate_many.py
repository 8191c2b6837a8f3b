"""`runbook validate` over 1,000 generated runbooks, as CI would run it on a large repository.

A temp project holds runner.yaml (defining the `shop` connection), a few SQL files and
N realistic runbooks in ten system folders: inputs, a schedule on half of them, and five
steps each (a SQL file with thresholds, inline SQL with a templated threshold, an HTTP
check with asserts, and SQL steps guarded by `when` conditions). Numbers differ from file
to file so that no cache keyed on template text makes the run look faster than a real
repository would.

Measured:
  - `python -m runner validate runbooks` as a fresh subprocess from the temp project,
    median of 3 (every file must come out valid, or the timing would be of the error path);
  - the same work in-process (Library.problems per file), per file and per phase;
  - a cProfile of the in-process work over the first 200 files.

    python bench/validate_many.py [--files 1000] [--profile-files 200]

Prints plain text and exits 0 whether or not the target is met: it reports, it does not gate.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from profiles import print_profile  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 3.0
SUBPROCESS_RUNS = 3
SYSTEMS = 10

# One row of a summary table: (metric, measured, target, met). met is None when there is no target.
SummaryRow = tuple[str, str, str, bool | None]

RUNNER_YAML = """\
connections:
  shop: {sqlite: var/shop.sqlite}
state: var/runner.db
runbooks: [runbooks]
checks: [checks]
sql: [sql]
defaults:
  timeout: 30s
  retry: {attempts: 3, backoff: exponential, delay: 2s, max_delay: 30s}
"""

PENDING_SQL = """\
SELECT COUNT(*) AS pending_count,
       COALESCE(MAX(age_minutes), 0) AS oldest_minutes
FROM orders
WHERE status = 'pending' AND age_minutes > {{ inputs.stale_minutes }}
"""

RUNBOOK = """\
# yaml-language-server: $schema=../../schemas/runbook.schema.json
runbook: {name}
title: "{system} - health check {number}"
kind: health-check
description: >
  Generated for the validate benchmark: pending and failed orders in {system},
  the storefront API, and details when something is wrong.
tags: [bench, {system}]
{schedule}connection: shop
inputs:
  stale_minutes:
    type: integer
    default: {stale}
    minimum: 1
    description: minutes before a pending order is stuck
  base_url: {{type: string, default: "http://127.0.0.1:{port}", description: the storefront}}
  limit: {{type: integer, default: {limit}, minimum: 1}}
  verbose: {{type: boolean, default: false}}
notify:
  warning: [ops]
  critical: [ops, oncall]
  repeat: 4h
steps:
  - id: pending
    title: Pending orders
    sql: {system}/pending.sql
    thresholds:
      pending_count:
        warning: {warn}
        critical: {crit}
        description: orders waiting to be applied
      oldest_minutes:
        warning: "{{{{ inputs.stale_minutes }}}}"
        critical: {oldest_crit}
    hint: |
      Orders are not processing in {system}. Check that the scheduled task ran in the last
      hour, then read the newest processing log.
  - id: failed
    title: Failed orders
    sql: |
      SELECT COUNT(*) AS failed_count, SUM(retries > {retries}) AS dead_letters
      FROM orders
      WHERE status = 'failed' AND shop = {{{{ inputs.base_url }}}}
        AND updated > {{{{ vars.since | default('{since}') }}}}
    thresholds:
      failed_count: {{warning: 0, critical: {failed_crit}}}
      dead_letters: {{warning: "{{{{ inputs.limit // {divisor} }}}}"}}
    on_error: continue
  - id: api
    title: Storefront API answers
    http: {{method: GET, url: "{{{{ inputs.base_url }}}}/health/{number}", timeout: 5s}}
    retry: {{attempts: 2, delay: 1s}}
    assert:
      - status == 200
      - {{that: "elapsed_ms < {elapsed}", severity: warning}}
  - id: failed_detail
    title: Failed orders, in detail
    when: steps.failed.value > {when_floor} and steps.api.status == 200
    sql: |
      SELECT id, error, retries FROM orders
      WHERE status = 'failed' ORDER BY updated DESC LIMIT {{{{ inputs.limit }}}}
  - id: verbose_log
    title: Processing log when verbose
    when: inputs.verbose or steps.pending.row.pending_count > {verbose_floor}
    sql: SELECT started, ok, message FROM processing_log ORDER BY started DESC LIMIT {log_limit}
"""


def make_project(root: Path, files: int) -> Path:
    """Write runner.yaml, sql/<system>/pending.sql and N runbooks; return the runbooks folder."""
    (root / "runner.yaml").write_text(RUNNER_YAML, encoding="utf-8")
    (root / "checks").mkdir()
    runbooks = root / "runbooks"
    for index in range(SYSTEMS):
        system = f"shop{index:02d}"
        (root / "sql" / system).mkdir(parents=True)
        (root / "sql" / system / "pending.sql").write_text(PENDING_SQL, encoding="utf-8")
        (runbooks / system).mkdir(parents=True)
    for number in range(files):
        system = f"shop{number % SYSTEMS:02d}"
        text = RUNBOOK.format(
            name=f"{system}-check-{number:04d}",
            system=system,
            number=number,
            schedule=f'schedule: "{number % 60} * * * *"\n' if number % 2 else "",
            stale=30 + number % 90,
            port=8000 + number % 1000,
            limit=10 + number % 40,
            warn=5 + number % 20,
            crit=50 + number % 50,
            oldest_crit=120 + number % 240,
            retries=1 + number % 5,
            since=f"2024-01-{1 + number % 28:02d}",
            failed_crit=3 + number % 7,
            divisor=2 + number % 3,
            elapsed=500 + number,
            when_floor=number % 4,
            verbose_floor=number % 25,
            log_limit=5 + number % 20,
        )
        (runbooks / system / f"check-{number:04d}.yaml").write_text(text, encoding="utf-8")
    return runbooks


def time_subprocess(root: Path, files: int) -> tuple[list[float], str | None]:
    """Seconds of each `python -m runner validate runbooks` run, or why it is not valid."""
    env = dict(os.environ)
    env.pop("RUNBOOK_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    samples: list[float] = []
    for _ in range(SUBPROCESS_RUNS):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "runner", "validate", "runbooks"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        samples.append(time.perf_counter() - started)
        if done.returncode != 0 or f"{files} files valid" not in done.stdout:
            output = (done.stdout + done.stderr).strip().splitlines()
            return samples, f"exit {done.returncode}:\n    " + "\n    ".join(output[:15])
    return samples, None


def _library(root: Path) -> Any:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from runner.language.config import load_config
    from runner.language.library import Library
    from runner.steps import STEP_TYPES

    return Library(load_config(root / "runner.yaml"), STEP_TYPES)


def in_process(root: Path, paths: list[Path]) -> tuple[float, int]:
    """Seconds for Library.problems over every file (a fresh Library), and the errors found."""
    library = _library(root)
    library.problems(paths[0])  # first use imports jsonschema and friends: start-up, not per file
    library = _library(root)
    started = time.perf_counter()
    errors = sum(1 for path in paths for p in library.problems(path) if p.severity == "error")
    return time.perf_counter() - started, errors


def phases(root: Path, paths: list[Path]) -> dict[str, float] | str:
    """Seconds per phase of Library.problems (parse, schema, build, meaning), or why unavailable.

    Calls the same functions Library.problems does; if those move, say so rather than fail.
    """
    try:
        from runner.base.paths import display_path
        from runner.language import schema
        from runner.language.build import build
        from runner.language.meaning import meaning
        from runner.language.yamlload import load_file

        library = _library(root)
        totals = {
            "parse YAML (yamlload)": 0.0,
            "JSON Schema (schema.validate_document)": 0.0,
            "build the model (build.build)": 0.0,
            "meaning, on the model (meaning.meaning)": 0.0,
        }
        names = list(totals)
        for path in paths:
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
            totals[names[0]] += parsed - started
            totals[names[1]] += checked - parsed
            totals[names[2]] += modelled - checked
            totals[names[3]] += done - modelled
        return totals
    except (AttributeError, ImportError, TypeError) as error:
        return f"phase breakdown unavailable ({error}); see the profile instead"


def measure(files: int = 1000, profile_files: int = 200) -> list[SummaryRow]:
    target = f"< {TARGET_SECONDS:.0f} s"
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as folder:
        root = Path(folder)
        runbooks = make_project(root, files)
        paths = sorted(runbooks.rglob("*.yaml"))
        lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in paths)
        print(
            f"Validate {files} generated runbooks ({lines / files:.0f} lines, 5 steps each) "
            f"in {root}"
        )

        samples, problem = time_subprocess(root, files)
        if problem:
            print(
                f"\nFAILED: the generated runbooks are not all valid, so timing them would "
                f"measure the error path: {problem}"
            )
            return [(f"validate {files} runbooks (subprocess)", "FAILED", target, False)]
        median = statistics.median(samples)
        runs = ", ".join(f"{s:.2f}" for s in samples)
        print(
            f"\n  python -m runner validate runbooks: median {median:.2f} s, "
            f"min {min(samples):.2f} s (runs: {runs} s), {median / files * 1000:.2f} ms per file"
        )

        seconds, errors = in_process(root, paths)
        per_file_ms = seconds / files * 1000
        print(
            f"  in-process Library.problems: {seconds:.2f} s, {per_file_ms:.2f} ms per file "
            f"({errors} errors); start-up + output is the rest of the subprocess time"
        )

        split = phases(root, paths)
        if isinstance(split, str):
            print(f"  {split}")
        else:
            total = sum(split.values())
            print("\n  per phase (in-process, all files):")
            for name, value in split.items():
                print(f"    {name:<42} {value / files * 1000:6.2f} ms/file  {value / total:5.0%}")

        library = _library(root)
        profile = cProfile.Profile()
        profile.enable()
        for path in paths[:profile_files]:
            library.problems(path)
        profile.disable()
        profiled = min(profile_files, files)
        print_profile(profile, f"cProfile of Library.problems over {profiled} files")

    return [
        (
            f"validate {files} runbooks (subprocess)",
            f"{median:.2f} s",
            target,
            median < TARGET_SECONDS,
        ),
        ("validate in-process, per file", f"{per_file_ms:.2f} ms", "-", None),
    ]


def print_summary(rows: list[SummaryRow]) -> None:
    print(f"\n  {'metric':<40} {'measured':<32} {'target':<16} result")
    for metric, measured, target, met in rows:
        verdict = "-" if met is None else "PASS" if met else "MISS"
        print(f"  {metric:<40} {measured:<32} {target:<16} {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--files", type=int, default=1000, help="runbooks to generate (default 1000)"
    )
    parser.add_argument(
        "--profile-files",
        type=int,
        default=200,
        help="files to run under cProfile (default 200; profiling is slow)",
    )
    args = parser.parse_args(argv)
    print_summary(measure(args.files, args.profile_files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
