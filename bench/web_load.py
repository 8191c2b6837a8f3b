"""The dashboard (`runbook serve`) under 100 concurrent clients, and runs that go on
meanwhile: are they blocked by it?

A scratch project (a copy of the repository's runner.yaml, runbooks/, checks/ and sql/ in
a temp folder) has its state store filled by real runs (`--fill` runs of the demo's
runbooks through the run service, in a child process), then `runbook serve --listen
127.0.0.1:<free port>` starts as a subprocess on it.

1. Idle: `--runs` runs of `runbook run order-health --format json` as fresh processes,
   one after another, with the server up and idle.
2. Load: `--clients` threads, each with its own keep-alive connection (http.client),
   ask for a mix of pages in turn for `--seconds` (the overview, /api/runbooks, a
   runbook's page and API, the history page and a filtered /api/history, a run's page
   and /metrics), no pause between requests; meanwhile the same runs again.

Each timed run is wrapped to time its state store's write transactions: how long
`BEGIN IMMEDIATE` waited for the write lock (a reader of SQLite in WAL mode never holds
it, so a wait means another writer held it: the dashboard writing, or a long one). The
run's CPU time (its rusage) is read too: wall time not spent on the CPU is waiting, for
the CPU (shared) or for something else (a lock).

Printed: requests done, requests/s, errors (a non-200 answer, a connection error, a
client that was never answered), latency p50/p95/p99/max per page, the runs idle and
under load (median, max, ratio), their store lock wait, whether every run ended with
the status it had idle and is recorded completed in the store, the server's peak RSS,
and the store's WAL file after the load (readers that never stop can starve SQLite's
checkpoint, and the WAL would grow without bound).

    python bench/web_load.py [--seconds 20] [--clients 100] [--runs 10] [--fill 400]

Prints plain text and exits 0 whether or not the targets are met: it reports, it does not gate.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SummaryRow = tuple[str, str, str, bool | None]

#: Under load a run shares 2 cores with the server (one process: its GIL lets it use
#: about one core) and the load generator (likewise): three busy processes on two cores
#: leave the run about 2/3 of a core, 1.5x its idle time, plus the cost of switching.
#: That is CPU sharing, not blocking; the median may go past it on a machine that other
#: work loads too, and then the two rows below say whether the run waited on anything
#: but a CPU. The slowest run is shown, without a target: one run's wait for a CPU is noise.
RATIO_MEDIAN = 2.0
#: "Blocking": the run waits on the dashboard (a store lock a reader holds, a write that
#: cannot go in). Read per run as its wall time neither on a CPU nor waiting for one
#: (the kernel's schedstat): its median may grow by this much under load at most.
BLOCKED_MS = 25.0
#: The longest a run may wait for the store's write lock. Only the runs write to it
#: here, one at a time, so anything but a moment means the dashboard held it.
LOCK_WAIT_MS = 50.0
#: Memory that grows without bound shows as RSS still growing in the second half of the
#: load (the first half fills the thread pool's 40 threads and the allocator's arenas).
RSS_GROWTH = 0.2

#: The pages each client asks for in turn (a run's page gets a stored run id).
PAGES = {
    "overview": "/",
    "api/runbooks": "/api/runbooks",
    "runbook": "/runbooks/order-health",
    "api/runbook": "/api/runbooks/order-health",
    "history": "/history",
    "api/history": "/api/history?runbook=order-health&status=CRITICAL",
    "run": "/runs/{run_id}",
    "metrics": "/metrics",
}

#: Runs one `runbook run` with its store's write transactions timed: each wait for the
#: write lock (BEGIN IMMEDIATE) is said on stderr as `bench-lock-wait-ms N`; at its exit,
#: how long it waited for a CPU (the kernel's schedstat), as `bench-sched-ns ON WAIT`.
TIMED_RUN = """
import atexit, glob, sys, time
from contextlib import contextmanager
from runner.history import backends

def scheduled():
    # per thread still alive: ns on a CPU, ns runnable but waiting for one (schedstat)
    totals = [0, 0]
    for name in glob.glob("/proc/self/task/*/schedstat"):
        with open(name) as stat:
            on_cpu, waiting, _ = stat.read().split()
        totals[0] += int(on_cpu)
        totals[1] += int(waiting)
    print(f"bench-sched-ns {totals[0]} {totals[1]}", file=sys.stderr, flush=True)

atexit.register(scheduled)

original = backends.SqliteBackend.write

@contextmanager
def write(self):
    started = time.perf_counter()
    with original(self):
        waited = (time.perf_counter() - started) * 1000
        print(f"bench-lock-wait-ms {waited:.3f}", file=sys.stderr, flush=True)
        yield

backends.SqliteBackend.write = write
sys.argv[0] = "runbook"
from runner.cli.main import console
console()
"""

#: Fills the store of the project in the current folder with real runs.
FILL = """
import sys
from pathlib import Path
from runner.language.config import load_config
from runner.service.runs import RunRequest, RunService

count = int(sys.argv[1])
service = RunService(load_config(Path("runner.yaml")), interactive=False)
names = ["order-health"] * 8 + ["order-data-quality", "order-performance"]
for number in range(count):
    trigger = "schedule" if number % 3 else "manual"
    service.run(RunRequest(names[number % len(names)], trigger=trigger))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RUNBOOK_CONFIG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def project_copy(folder: Path) -> Path:
    shutil.copy(REPO / "runner.yaml", folder / "runner.yaml")
    for part in ("runbooks", "checks", "sql"):
        shutil.copytree(REPO / part, folder / part)
    return folder


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Run:
    wall: float
    cpu: float
    runnable: float
    """Seconds it was ready to run but waited for a CPU."""
    code: int
    run_id: str | None
    status: str | None
    lock_waits_ms: list[float]
    problem: str | None


def timed_run(root: Path) -> Run:
    """One `runbook run order-health --format json` as a fresh process: its wall time, its
    wait for a CPU and for the store's write lock (its CPU time: run_series)."""
    argv = [sys.executable, "-c", TIMED_RUN, "run", "order-health", "--format", "json"]
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, cwd=root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = child.communicate(timeout=120)
    wall = time.perf_counter() - started
    code = child.returncode
    waits = [float(m) for m in re.findall(r"bench-lock-wait-ms ([\d.]+)", err)]
    sched = re.search(r"bench-sched-ns (\d+) (\d+)", err)
    runnable = int(sched.group(2)) / 1e9 if sched else 0.0
    problem = None
    run_id = status = None
    try:
        document = json.loads(out)
        run_id, status = document.get("run_id"), document.get("status")
    except ValueError:
        problem = f"exit {code}, no JSON: {err.strip()[-300:]}"
    if "locked" in err or "Traceback" in err:
        problem = f"exit {code}: {err.strip()[-300:]}"
    return Run(wall, 0.0, runnable, code, run_id, status, waits, problem)


def run_series(root: Path, count: int) -> list[Run]:
    """`count` timed runs in a row; each one's CPU time is the growth of this process's
    children's rusage across it (communicate() has reaped it)."""
    import resource

    runs = []
    for _ in range(count):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = timed_run(root)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        run.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        runs.append(run)
    return runs


@dataclass
class Load:
    """What the clients saw: seconds per answered request by page, errors by page."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)
    served_clients: set[int] = field(default_factory=set)
    hung: int = 0
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            if len(self.examples) < 5:
                self.examples.append(f"{kind}: {what}")


def client(number: int, port: int, pages: list[tuple[str, str]], until: float, load: Load) -> None:
    """Ask for the pages in turn, from `number`'s place in the list, until `until`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    index = number
    mine: dict[str, list[float]] = defaultdict(list)
    try:
        while time.perf_counter() < until:
            kind, path = pages[index % len(pages)]
            index += 1
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                load.error(kind, f"{path}: {type(error).__name__}: {error}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            if response.status != 200:
                load.error(kind, f"{path}: HTTP {response.status}")
                continue
            mine[kind].append(time.perf_counter() - started)
    finally:
        conn.close()
        with load.lock:
            for kind, seconds in mine.items():
                load.latencies[kind].extend(seconds)
            if mine:
                load.served_clients.add(number)


def generate_load(port: int, pages: list[tuple[str, str]], seconds: float, clients: int) -> Load:
    """`clients` threads asking for `pages` for `seconds`, no pause between requests."""
    load = Load()
    until = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=client, args=(n, port, pages, until, load), daemon=True)
        for n in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(until - time.perf_counter() + 90)  # a request may take up to 60 s
    load.hung = sum(thread.is_alive() for thread in threads)
    load.elapsed = time.perf_counter() - started
    return load


#: The load generator as its own process, so that its 100 threads do not share a GIL
#: with the process timing the runs: argv bench/ port seconds clients pages (JSON); what
#: it saw as JSON on stdout.
GENERATOR = """
import json, sys
sys.path.insert(0, sys.argv[1])
from web_load import generate_load

port, seconds, clients = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
load = generate_load(port, json.loads(sys.argv[5]), seconds, clients)
json.dump({"latencies": load.latencies, "errors": load.errors, "examples": load.examples,
           "served": sorted(load.served_clients), "hung": load.hung,
           "elapsed": load.elapsed}, sys.stdout)
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _proc_status(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(field + r":\s+(\d+) kB", text)
    return int(found.group(1)) if found else None


def peak_rss_kib(pid: int) -> int | None:
    return _proc_status(pid, "VmHWM")


def rss_kib(pid: int) -> int | None:
    return _proc_status(pid, "VmRSS")


def wait_listening(port: int, server: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"runbook serve ended with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/runbooks")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("runbook serve did not answer within 30 s")


def recorded(root: Path, runs: list[Run]) -> list[str]:
    """The ids of `runs` that the store does not hold as completed with their status."""
    import sqlite3

    with sqlite3.connect(root / "var" / "runner.db") as db:
        stored = dict(
            db.execute("SELECT run_id, status FROM runs WHERE outcome = 'completed'").fetchall()
        )
    return [str(r.run_id) for r in runs if r.run_id is None or stored.get(r.run_id) != r.status]


def blocked(run: Run) -> float:
    """Seconds of the run's wall time neither on a CPU nor waiting for one: waiting on
    something else (the disk, a lock, a pipe; and starting and reaping the process)."""
    return max(0.0, run.wall - run.cpu - run.runnable)


def describe(label: str, runs: list[Run]) -> None:
    def median_ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:4.0f}"

    waits = [w for r in runs for w in r.lock_waits_ms]
    print(
        f"  {label:<11} wall median {median_ms([r.wall for r in runs])} ms, "
        f"max {max(r.wall for r in runs) * 1000:4.0f} ms; medians: on a CPU "
        f"{median_ms([r.cpu for r in runs])} ms, waiting for one "
        f"{median_ms([r.runnable for r in runs])} ms, for anything else "
        f"{median_ms([blocked(r) for r in runs])} ms; store lock wait max "
        f"{max(waits, default=0):.2f} ms over {len(waits)} writes"
    )


def measure(
    seconds: float = 20, clients: int = 100, runs: int = 10, fill: int = 400
) -> list[SummaryRow]:
    python = sys.executable
    subprocess.run([python, "-m", "compileall", "-q", str(REPO / "runner")], check=False)
    with tempfile.TemporaryDirectory(prefix="bench-web-load-") as scratch:
        root = project_copy(Path(scratch))
        started = time.perf_counter()
        subprocess.run([python, "-c", FILL, str(fill)], cwd=root, env=_env(), check=True)
        print(f"{fill} runs stored in {time.perf_counter() - started:.1f} s ({root})")
        port = free_port()
        server = subprocess.Popen(
            [python, "-m", "runner", "serve", "--listen", f"127.0.0.1:{port}"],
            cwd=root,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        server_log: list[str] = []
        reader = threading.Thread(
            target=lambda: server_log.extend(server.stderr or []), daemon=True
        )
        reader.start()
        try:
            wait_listening(port, server)
            return _measure_served(root, port, server, server_log, seconds, clients, runs)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _measure_served(
    root: Path,
    port: int,
    server: subprocess.Popen[str],
    server_log: list[str],
    seconds: float,
    clients: int,
    runs: int,
) -> list[SummaryRow]:
    timed_run(root)  # warm-up: bytecode, var/cache, the demo database
    idle = run_series(root, runs)
    some_run = idle[0].run_id
    pages = [(kind, path.format(run_id=some_run)) for kind, path in PAGES.items()]

    wal = root / "var" / "runner.db-wal"
    generator = subprocess.Popen(
        [sys.executable, "-c", GENERATOR, str(Path(__file__).resolve().parent), str(port),
         str(seconds), str(clients), json.dumps(pages)],
        env=_env(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    samples: list[tuple[int, float]] = []  # the server's RSS (KiB) and the WAL's size (KiB)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            size = wal.stat().st_size / 1024 if wal.exists() else 0.0
            samples.append((rss_kib(server.pid) or 0, size))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    until = time.perf_counter() + seconds
    time.sleep(min(2.0, seconds / 10))  # every client connected and asking
    loaded = run_series(root, runs)
    ran_within = time.perf_counter() < until
    out, _ = generator.communicate(timeout=seconds + 180)
    stop.set()
    sampler.join()
    seen = json.loads(out)
    load = Load(
        latencies=seen["latencies"],
        errors=seen["errors"],
        examples=seen["examples"],
        served_clients=set(seen["served"]),
        hung=seen["hung"],
        elapsed=seen["elapsed"],
    )
    hung, elapsed = load.hung, load.elapsed
    rss = peak_rss_kib(server.pid)
    wal_kib = max((size for _, size in samples), default=0.0)
    rss_last = samples[-1][0] if samples else 0

    done = sum(len(v) for v in load.latencies.values())
    errors = sum(load.errors.values()) + hung
    print(
        f"\n{clients} clients for {seconds:.0f} s: {done} requests answered 200, "
        f"{done / elapsed:.0f} requests/s, {errors} errors, "
        f"{len(load.served_clients)} of {clients} clients served, {hung} left hanging"
    )
    for example in load.examples:
        print(f"  error: {example}")
    print(f"  {'page':<14}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for kind, _ in pages:
        values = load.latencies.get(kind) or [float("nan")]
        cells = [percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99, 1.0)]
        count = len(load.latencies.get(kind, []))
        print(f"  {kind:<14}{count:>7}" + "".join(f"{c:9.0f}" for c in cells))
    fifths = [samples[len(samples) * k // 5][0] for k in range(5)] if samples else []
    print(
        f"  server RSS through the load {', '.join(f'{kib // 1024}' for kib in fifths)}, "
        f"{rss_last // 1024} MiB, peak {(rss or 0) // 1024} MiB; the store's WAL at most "
        f"{wal_kib:,.0f} KiB"
    )
    locked = [line for line in server_log if "locked" in line or "Traceback" in line]
    if locked:
        print(f"  server said: {locked[0].strip()[:300]}")

    print(f"\n`runbook run order-health` x {runs}, in a row (all under load: {ran_within})")
    describe("idle", idle)
    describe("under load", loaded)
    median_ratio = statistics.median(r.wall for r in loaded) / statistics.median(
        r.wall for r in idle
    )
    max_ratio = max(r.wall for r in loaded) / max(r.wall for r in idle)
    cpu_ratio = statistics.median(r.cpu for r in loaded) / statistics.median(r.cpu for r in idle)
    print(f"  ratio: median {median_ratio:.2f}x, max {max_ratio:.2f}x (CPU time {cpu_ratio:.2f}x)")
    statuses = {r.status for r in idle}
    problems = [r.problem for r in idle + loaded if r.problem]
    odd = [r for r in loaded if r.status not in statuses or r.code != idle[0].code]
    missing = recorded(root, idle + loaded)
    for problem in problems[:3]:
        print(f"  run problem: {problem}")
    print(
        f"  statuses idle {sorted(map(str, statuses))}, under load "
        f"{sorted({str(r.status) for r in loaded})}; not as idle: {len(odd)}; "
        f"not recorded completed: {len(missing)}"
    )
    wait_max = max((w for r in loaded for w in r.lock_waits_ms), default=0.0)
    runs_ok = not problems and not odd and not missing and ran_within
    blocked_idle = statistics.median(blocked(r) for r in idle)
    blocked_loaded = statistics.median(blocked(r) for r in loaded)
    rss_middle = samples[len(samples) // 2][0] if samples else 0
    return [
        (
            f"dashboard: {clients} clients, {seconds:.0f} s, errors",
            f"{errors} ({done} requests, {done / elapsed:.0f}/s)",
            "0",
            errors == 0 and not locked,
        ),
        (
            "dashboard: clients served",
            f"{len(load.served_clients)} of {clients}",
            f"{clients}",
            len(load.served_clients) == clients,
        ),
        (
            "dashboard: p99 latency, slowest page",
            f"{max(percentile(v, 0.99) for v in load.latencies.values()) * 1000:.0f} ms"
            if load.latencies
            else "-",
            "-",
            None,
        ),
        (
            "run under dashboard load, median",
            f"{median_ratio:.2f}x idle",
            f"<= {RATIO_MEDIAN}x",
            median_ratio <= RATIO_MEDIAN,
        ),
        (
            "run under dashboard load, max",
            f"{max_ratio:.2f}x idle",
            "-",
            None,
        ),
        (
            "run under dashboard load: waiting, not for CPU",
            f"median {blocked_idle * 1000:.0f} -> {blocked_loaded * 1000:.0f} ms",
            f"+<= {BLOCKED_MS:.0f} ms",
            blocked_loaded - blocked_idle <= BLOCKED_MS / 1000,
        ),
        (
            "run under dashboard load: store lock wait",
            f"max {wait_max:.1f} ms",
            f"<= {LOCK_WAIT_MS:.0f} ms",
            wait_max <= LOCK_WAIT_MS,
        ),
        (
            "dashboard: RSS growth, second half of the load",
            f"{rss_middle // 1024} -> {rss_last // 1024} MiB",
            f"<= {RSS_GROWTH:.0%}",
            rss_last <= rss_middle * (1 + RSS_GROWTH),
        ),
        (
            "runs under dashboard load: status, recorded",
            f"{len(loaded) - len(odd)} of {len(loaded)} as idle, {len(missing)} missing",
            "all",
            runs_ok,
        ),
    ]


def print_summary(rows: list[SummaryRow]) -> None:
    print(f"\n  {'metric':<46} {'measured':<34} {'target':<10} result")
    for metric, measured, target, met in rows:
        verdict = "-" if met is None else "PASS" if met else "MISS"
        print(f"  {metric:<46} {measured:<34} {target:<10} {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="load duration (default 20)")
    parser.add_argument("--clients", type=int, default=100, help="concurrent clients (100)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs idle and under load")
    parser.add_argument("--fill", type=int, default=400, help="runs stored first (400)")
    args = parser.parse_args(argv)
    print_summary(measure(args.seconds, args.clients, args.runs, args.fill))
    return 0


if __name__ == "__main__":
    sys.exit(main())
