"""`runbook scheduler`: the scheduler (service/scheduler.py) as a foreground daemon.

It logs on stderr (systemd's journal and `kubectl logs` add nothing but read it) and
stops on SIGTERM or Ctrl-C: nothing new starts, running runs get the grace period and
are then aborted, recorded as aborted. A second signal aborts them at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from runner.language.config import Config


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scheduler_command(args: argparse.Namespace, config: Config) -> int:
    from runner.service.runs import RunService
    from runner.service.scheduler import Scheduler

    service = RunService(config, log=lambda message: None, warn=_stderr, interactive=False)
    scheduler = Scheduler(
        service, max_parallel=args.max_parallel, shutdown_grace=args.grace, log=_stderr
    )

    def on_signal(signum: int, frame: Any) -> None:
        # Only flags here: the loop says it (a print here could cut into another).
        scheduler.stop("SIGTERM" if signum == signal.SIGTERM else "Ctrl-C")

    previous_term = signal.signal(signal.SIGTERM, on_signal)
    previous_int = signal.signal(signal.SIGINT, on_signal)
    try:
        scheduler.serve(once=args.once)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
    return 0
