"""Cold start: how long `runbook --help` and `runbook validate runbooks/` take as fresh processes.

Each command runs as a new subprocess from the repository root (so it finds the repo's
runner.yaml), 2 warm-ups then N timed runs (wall clock around the whole process), and is
compared with the floor every Python tool pays: `python -c "import yaml, jinja2"`.
`python -X importtime` then shows which imports the start-up pays for.

    python bench/startup.py [--runs 15]

Prints plain text and exits 0 whether or not the target is met: it reports, it does not gate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELP_TARGET_MS = 150.0
WARMUPS = 2
BASELINE = "baseline: python -c 'import yaml, jinja2'"
HELP = "python -m runner --help"
VALIDATE = "python -m runner validate runbooks/"

# One row of a summary table: (metric, measured, target, met). met is None when there is no target.
SummaryRow = tuple[str, str, str, bool | None]


@dataclass
class Timing:
    label: str
    argv: list[str]
    samples_ms: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def best(self) -> float:
        return min(self.samples_ms)


def _env() -> dict[str, str]:
    # A config chosen by the caller's environment would measure someone else's project.
    env = dict(os.environ)
    env.pop("RUNBOOK_CONFIG", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def time_command(label: str, argv: list[str], runs: int) -> Timing:
    """Run `argv` WARMUPS + runs times from the repo root; keep the timed runs in ms."""
    timing = Timing(label, argv)
    env = _env()
    for index in range(WARMUPS + runs):
        started = time.perf_counter()
        done = subprocess.run(
            argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        elapsed = (time.perf_counter() - started) * 1000
        if done.returncode != 0:
            # A command that fails fast would look fast: refuse to report its time.
            tail = done.stderr.decode(errors="replace").strip()[-300:]
            timing.error = f"exit {done.returncode}: {tail}"
            return timing
        if index >= WARMUPS:
            timing.samples_ms.append(elapsed)
    return timing


@dataclass
class ImportEntry:
    name: str
    depth: int
    self_us: int
    cumulative_us: int
    under_site: bool = False


def import_profile(argv: list[str]) -> list[ImportEntry]:
    """Every import of one `python -X importtime ...` run, with its nesting depth."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    entries: list[ImportEntry] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = _split(line)
        entries.append(
            ImportEntry(
                name.strip(),
                (len(name) - len(name.lstrip())) // 2,
                int(self_us),
                int(cumulative_us),
            )
        )
    _mark_site_subtree(entries)
    return entries


def _split(line: str) -> tuple[str, str, str]:
    """`import time:   465 |   4084 |     tempfile` -> ("465", "4084", "    tempfile")."""
    self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
    return self_us.strip(), cumulative_us.strip(), name[1:] if name.startswith(" ") else name


def _mark_site_subtree(entries: list[ImportEntry]) -> None:
    # importtime prints children before their parent, one level deeper; `site` (and any
    # .pth file it runs) is interpreter start-up that the baseline pays as well.
    for index, entry in enumerate(entries):
        if entry.depth == 0 and entry.name == "site":
            entry.under_site = True
            back = index - 1
            while back >= 0 and entries[back].depth > 0:
                entries[back].under_site = True
                back -= 1


def print_import_profile(title: str, argv: list[str], top: int = 10) -> None:
    entries = import_profile(argv)
    if not entries:
        print(f"\n{title}: no -X importtime output")
        return
    site = sum(e.cumulative_us for e in entries if e.depth == 0 and e.name == "site")
    total = sum(e.cumulative_us for e in entries if e.depth == 0)
    ours = [e for e in entries if not e.under_site]
    print(f"\n{title}")
    print(
        f"  all imports {total / 1000:.1f} ms, of which `site` {site / 1000:.1f} ms "
        "(interpreter start-up and .pth files: the baseline pays it too)"
    )
    print(
        f"  top {top} by cumulative time outside `site` "
        "(indented = imported by the nearest less-indented line below):"
    )
    print(f"  {'cumul ms':>9} {'self ms':>8}  module")
    for entry in sorted(ours, key=lambda e: e.cumulative_us, reverse=True)[:top]:
        name = "  " * entry.depth + entry.name
        print(f"  {entry.cumulative_us / 1000:9.1f} {entry.self_us / 1000:8.1f}  {name}")


def measure(runs: int = 15) -> list[SummaryRow]:
    python = sys.executable
    commands = [
        (BASELINE, [python, "-c", "import yaml, jinja2"]),
        ("floor: python -c pass", [python, "-c", "pass"]),
        (HELP, [python, "-m", "runner", "--help"]),
        (VALIDATE, [python, "-m", "runner", "validate", "runbooks/"]),
    ]
    console = shutil.which("runbook")
    if console:
        commands.append(("runbook --help (console script)", [console, "--help"]))
    print(f"Cold start: {runs} runs after {WARMUPS} warm-ups, a fresh process each, cwd {REPO}")
    print(f"python: {python} ({sys.version.split()[0]})")
    if not console:
        print(
            "(no `runbook` console script on PATH; `pip install -e .` adds one, which costs "
            "`python -m runner` plus an entry-point lookup)"
        )
    timings = {label: time_command(label, argv, runs) for label, argv in commands}
    baseline = timings[BASELINE]
    print(f"\n  {'command':<42} {'median ms':>10} {'min ms':>8} {'x baseline':>11}")
    for timing in timings.values():
        if timing.error:
            print(f"  {timing.label:<42} FAILED {timing.error}")
            continue
        ratio = timing.median / baseline.median if not baseline.error else float("nan")
        print(f"  {timing.label:<42} {timing.median:10.1f} {timing.best:8.1f} {ratio:11.2f}")

    print_import_profile("python -X importtime -m runner --help", ["-m", "runner", "--help"])
    print_import_profile(
        "python -X importtime -m runner validate runbooks/",
        ["-m", "runner", "validate", "runbooks/"],
    )
    return [
        _summary_row("runbook --help (median)", timings[HELP], baseline, HELP_TARGET_MS),
        _summary_row("runbook validate runbooks/ (median)", timings[VALIDATE], baseline, None),
    ]


def _summary_row(
    metric: str, timing: Timing, baseline: Timing, target_ms: float | None
) -> SummaryRow:
    target = f"< {target_ms:.0f} ms" if target_ms is not None else "-"
    if timing.error:
        return metric, "FAILED", target, False
    ratio = f" ({timing.median / baseline.median:.2f}x baseline)" if not baseline.error else ""
    met = timing.median < target_ms if target_ms is not None else None
    return metric, f"{timing.median:.0f} ms{ratio}", target, met


def print_summary(rows: list[SummaryRow]) -> None:
    print(f"\n  {'metric':<40} {'measured':<32} {'target':<12} result")
    for metric, measured, target, met in rows:
        verdict = "-" if met is None else "PASS" if met else "MISS"
        print(f"  {metric:<40} {measured:<32} {target:<12} {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (default 15)")
    args = parser.parse_args(argv)
    print_summary(measure(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
