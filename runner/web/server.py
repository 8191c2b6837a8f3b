"""`runbook serve`'s server: the dashboard under uvicorn, logging on stderr, until
SIGTERM or Ctrl-C."""

from __future__ import annotations

import copy
import signal
import sys
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


def serve(sources: Sources, host: str, port: int) -> None:
    """Serve the dashboard on host:port until SIGTERM or Ctrl-C, then return.

    uvicorn catches both signals while it serves, shuts down (open connections are
    answered first), and then raises the signal again to the handler it found: these
    handlers take it, so a stop asked for ends the process with 0, not as killed."""
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
    server = uvicorn.Server(config)

    def stopped(signum: int, frame: Any) -> None:
        print("runbook: the dashboard stopped", file=sys.stderr, flush=True)

    previous_term = signal.signal(signal.SIGTERM, stopped)
    previous_int = signal.signal(signal.SIGINT, stopped)
    try:
        server.run()
    except SystemExit:  # uvicorn's answer to an address it cannot bind, said on stderr
        from runner.base.errors import ConfigError

        raise ConfigError(f"the dashboard could not listen on {host}:{port}") from None
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
