"""A stand-in service for the system step's process checks: a sleeper with a marker in its
command line that is neither the runner's descendant nor its ancestor, as a service the
runner looks for is (the runner leaves out the processes that started it and its own)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil

# Prints its pid once ready: its command line is its own by then, not the forking parent's.
SLEEPER = "import os, time; print(os.getpid(), flush=True); time.sleep(120)"
# Starts SLEEPER and leaves, so that the sleeper is nobody's child here.
_LAUNCHER = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', *sys.argv[1:]])"


def start_service(marker: str) -> psutil.Process:
    """A sleeper with `marker` in its argv, running, detached from this process."""
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, SLEEPER, marker], stdout=subprocess.PIPE, text=True
    )
    assert launcher.stdout is not None
    service = psutil.Process(int(launcher.stdout.readline()))
    assert launcher.wait(timeout=30) == 0
    assert service.pid not in {child.pid for child in psutil.Process().children(recursive=True)}
    return service


def stop_service(service: psutil.Process) -> None:
    """Kills it and waits until it is gone or a zombie (whose command line is empty):
    whoever adopted it reaps it, or not."""
    with contextlib.suppress(psutil.NoSuchProcess):
        service.kill()
        for _ in range(1000):
            if service.status() == psutil.STATUS_ZOMBIE:
                return
            time.sleep(0.01)
        raise AssertionError(f"process {service.pid} outlived SIGKILL by 10s")


@contextlib.contextmanager
def services() -> Iterator[list[psutil.Process]]:
    """Kills on the way out every service appended to the list it gives."""
    started: list[psutil.Process] = []
    try:
        yield started
    finally:
        for service in started:
            stop_service(service)
