"""Start-up: `runbook run order-health` (nagios and text), `runbook --help` and `runbook
validate runbooks/` as whole processes, against `python -c "import yaml, jinja2"`.

Every command runs as a fresh subprocess in a copy of the repository's project (runner.yaml,
runbooks/, sql/; its var/ in a temp folder), with bytecode compiled. Rounds alternate: each
round runs every command once, in turn, so load on a shared machine falls on all alike; 2
warm-up rounds (which build the demo database, the .pyc files and var/cache), then N timed
ones. Each command's ratio is the median over rounds of its time over the baseline's in the
same round. Also timed: `python -c pass` (the interpreter floor) and the hand-written health
script the runner replaces (bench/baselines/health_by_hand.py: the same 5 SQL files, the same
thresholds). `python -X importtime` then shows which imports the run and --help pay for.

    python bench/startup.py [--runs 15]

Prints plain text and exits 0 whether or not the targets are met: it reports, it does not gate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WARMUPS = 2
BASELINE = "baseline: python -c 'import yaml, jinja2'"
BY_HAND = "hand-written health script (bench/baselines)"
NAGIOS = "runbook run order-health --format nagios"
TEXT = "runbook run order-health"
HELP = "runbook --help"
VALIDATE = "runbook validate runbooks/"

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
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the targets are with bytecode compiled
    return env


@dataclass
class ImportEntry:
    name: str
    depth: int
    self_us: int
    cumulative_us: int
    under_site: bool = False


def import_profile(argv: list[str], cwd: Path = REPO) -> list[ImportEntry]:
    """Every import of one `python -X importtime ...` run, with its nesting depth."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=cwd,
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


def print_import_profile(title: str, argv: list[str], top: int = 10, cwd: Path = REPO) -> None:
    entries = import_profile(argv, cwd)
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


def project_copy(folder: Path) -> Path:
    """runner.yaml, runbooks/, checks/ and sql/ of the repository in `folder`: runs write
    their history, locks, cache and demo database under its var/, never the repository's."""
    shutil.copy(REPO / "runner.yaml", folder / "runner.yaml")
    for part in ("runbooks", "checks", "sql"):
        shutil.copytree(REPO / part, folder / part)
    return folder


def compile_bytecode() -> None:
    """The targets are measured with .pyc compiled: compile the runner (its dependencies
    get theirs on the warm-up runs, which may write them)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "runner")],
        env=_env(),
        stdout=subprocess.DEVNULL,
        check=False,
    )


def alternate(
    commands: list[tuple[str, list[str], tuple[int, ...]]], runs: int, cwd: Path
) -> dict[str, Timing]:
    """Each round runs every command once, in turn (WARMUPS rounds untimed), so load on a
    shared machine falls on all of them alike. A command exiting other than it should is
    reported FAILED: a command that fails fast would look fast."""
    timings = {label: Timing(label, argv) for label, argv, _ in commands}
    env = _env()
    for index in range(WARMUPS + runs):
        for label, argv, expected in commands:
            timing = timings[label]
            if timing.error:
                continue
            started = time.perf_counter()
            done = subprocess.run(
                argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                check=False,
            )  # fmt: skip
            elapsed = (time.perf_counter() - started) * 1000
            if done.returncode not in expected:
                tail = done.stderr.decode(errors="replace").strip()[-300:]
                timing.error = f"exit {done.returncode}: {tail}"
            elif index >= WARMUPS:
                timing.samples_ms.append(elapsed)
    return timings


def paired_ratio(timing: Timing, baseline: Timing) -> float:
    """The median over rounds of (this command / the baseline in the same round)."""
    pairs = zip(timing.samples_ms, baseline.samples_ms, strict=False)
    return statistics.median(mine / base for mine, base in pairs)


def measure(runs: int = 15) -> list[SummaryRow]:
    python = sys.executable
    here = Path(python).parent
    console = here / "runbook" if (here / "runbook").exists() else shutil.which("runbook")
    runbook = [str(console)] if console else [python, "-m", "runner"]
    everything = (0, 1, 2)  # OK, WARNING, CRITICAL: the demo's answer, all fine here
    commands = [
        (BASELINE, [python, "-c", "import yaml, jinja2"], (0,)),
        ("floor: python -c pass", [python, "-c", "pass"], (0,)),
        (BY_HAND, [python, str(REPO / "bench" / "baselines" / "health_by_hand.py"), "."],
         everything),
        (NAGIOS, [*runbook, "run", "order-health", "--format", "nagios"], everything),
        (TEXT, [*runbook, "run", "order-health"], everything),
        (HELP, [*runbook, "--help"], (0,)),
        (VALIDATE, [*runbook, "validate", "runbooks/"], (0,)),
    ]  # fmt: skip
    compile_bytecode()
    print(
        f"Cold start: {runs} rounds after {WARMUPS} warm-ups; each round runs every command "
        "once, in turn, as a fresh process, in a copy of the repository's project"
    )
    print(f"python: {python} ({sys.version.split()[0]}); runbook: {' '.join(runbook)}")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        project = project_copy(Path(scratch))
        timings = alternate(commands, runs, project)
        baseline = timings[BASELINE]
        print(
            f"\n  {'command':<50} {'median ms':>10} {'min ms':>8} {'x baseline':>11} "
            f"{'min x min':>10}"
        )
        for timing in timings.values():
            if timing.error:
                print(f"  {timing.label:<50} FAILED {timing.error}")
                continue
            ratio = paired_ratio(timing, baseline) if not baseline.error else float("nan")
            print(
                f"  {timing.label:<50} {timing.median:10.1f} {timing.best:8.1f} {ratio:11.2f} "
                f"{timing.best / baseline.best:10.2f}"
            )
        print(
            "  (x baseline: the median over rounds of the command's time over the baseline's "
            "in the same round)"
        )
        print_import_profile(
            "python -X importtime -m runner run order-health --format nagios",
            ["-m", "runner", "run", "order-health", "--format", "nagios"],
            cwd=project,
        )
    print_import_profile("python -X importtime -m runner --help", ["-m", "runner", "--help"])
    by_hand = timings[BY_HAND]
    return [
        _ratio_row("runbook run order-health --format nagios", timings[NAGIOS], baseline, 1.3),
        _ratio_row("runbook run order-health (text)", timings[TEXT], baseline, 1.5),
        _ratio_row("runbook --help", timings[HELP], baseline, 0.7, below=True),
        _summary_row("nagios run vs hand-written script", timings[NAGIOS], by_hand, None),
        _summary_row("runbook validate runbooks/ (median)", timings[VALIDATE], baseline, None),
    ]


def _ratio_row(
    metric: str, timing: Timing, baseline: Timing, target: float, *, below: bool = False
) -> SummaryRow:
    shown = f"< {target}x baseline" if below else f"<= {target}x baseline"
    if timing.error or baseline.error:
        return metric, "FAILED", shown, False
    ratio = paired_ratio(timing, baseline)
    met = ratio < target if below else ratio <= target
    return metric, f"{ratio:.2f}x ({timing.median:.0f} ms, min {timing.best:.0f})", shown, met


def _summary_row(
    metric: str, timing: Timing, baseline: Timing, target_ms: float | None
) -> SummaryRow:
    target = f"< {target_ms:.0f} ms" if target_ms is not None else "-"
    if timing.error:
        return metric, "FAILED", target, False
    ratio = (
        f" ({paired_ratio(timing, baseline):.2f}x {baseline.label.split(':')[0]})"
        if not baseline.error
        else ""
    )
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
