"""The dashboard under uvicorn, logging on stderr: `runbook serve`'s server, until SIGTERM
or Ctrl-C, and `runbook scheduler --http`'s, in a thread while the scheduler runs."""

from __future__ import annotations

import copy
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from runner.web.app import create_app
from runner.web.overview import Sources


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with its access lines on stderr too (its default: stdout)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in config["handlers"].values():
        handler["stream"] = "ext://sys.stderr"
    return config


def _server(sources: Sources, host: str, port: int) -> Any:
    """A uvicorn server of the dashboard on host:port, not started."""
    import uvicorn

    config = uvicorn.Config(
        create_app(sources),
        host=host,
        port=port,
        log_config=log_config(),
        use_colors=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def _not_listening(host: str, port: int) -> Exception:
    from runner.base.errors import ConfigError

    return ConfigError(f"the dashboard could not listen on {host}:{port}")


def serve(sources: Sources, host: str, port: int) -> None:
    """Serve the dashboard on host:port until SIGTERM or Ctrl-C, then return.

    uvicorn catches both signals while it serves, shuts down (open connections are
    answered first), and then raises the signal again to the handler it found: these
    handlers take it, so a stop asked for ends the process with 0, not as killed."""
    server = _server(sources, host, port)

    def stopped(signum: int, frame: Any) -> None:
        print("runbook: the dashboard stopped", file=sys.stderr, flush=True)

    previous_term = signal.signal(signal.SIGTERM, stopped)
    previous_int = signal.signal(signal.SIGINT, stopped)
    try:
        server.run()
    except SystemExit:  # uvicorn's answer to an address it cannot bind, said on stderr
        raise _not_listening(host, port) from None
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


@contextmanager
def serving(sources: Sources, host: str, port: int) -> Iterator[None]:
    """Serve the dashboard on host:port in a thread while the block runs (`runbook
    scheduler --http`); it listens before the block starts, and stops after it (open
    connections are answered first, for 5 seconds at most).

    uvicorn leaves the signals alone outside the main thread: SIGTERM and Ctrl-C stay
    the scheduler's, which stops (draining its runs), and then the dashboard."""
    with in_thread(_server(sources, host, port), "dashboard", _not_listening(host, port)):
        yield


@contextmanager
def in_thread(server: Any, name: str, refused: Exception) -> Iterator[None]:
    """Run a uvicorn `server` in a daemon thread called `name` while the block runs: it
    listens before the block starts and stops after it; `refused` is raised when it
    cannot listen (uvicorn said why on stderr)."""

    def run() -> None:
        with suppress(SystemExit):  # an address it cannot bind, said on stderr: it ends
            server.run()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    while not server.started:  # uvicorn says nothing else when it listens
        if not thread.is_alive():
            raise refused
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join()
