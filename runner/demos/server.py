"""Serving demo systems under uvicorn until SIGTERM or Ctrl-C: `runbook demo serve`.

Each system listens on its own address, in a thread of its own; the main thread waits
for the signal, then stops them all (open connections are answered first). Beside its
own routes each answers `/_demo/faults`: GET says which faults are on and which it has,
PUT with a JSON list of names switches to exactly those, so a fault can be tried
without a restart (`curl -X PUT -d '["slow"]' 127.0.0.1:5000/_demo/faults`).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from runner.base.errors import ConfigError
from runner.demos.base import DemoState, DemoSystem

#: The control route every demo answers beside its own.
CONTROL = "/_demo/faults"


class Served:
    """One system to serve: the system, its state, and where it listens."""

    def __init__(self, system: DemoSystem, state: DemoState, host: str, port: int) -> None:
        self.system = system
        self.state = state
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def app(served: Served) -> Any:
    """The system's app with the control route in front of it."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    system, state = served.system, served.state

    def described() -> JSONResponse:
        return JSONResponse(
            {"system": system.NAME, "faults": sorted(state.faults), "known": dict(system.FAULTS)}
        )

    async def faults(request: Request) -> JSONResponse:
        if request.method == "PUT":
            try:
                asked = await request.json()
            except ValueError:
                asked = None
            if not isinstance(asked, list) or not all(isinstance(f, str) for f in asked):
                return JSONResponse({"error": "send a JSON list of fault names"}, 400)
            unknown = sorted(set(asked) - set(system.FAULTS))
            if unknown:
                known = ", ".join(system.FAULTS)
                return JSONResponse(
                    {"error": f"{system.NAME} has no fault {', '.join(unknown)}; known: {known}"},
                    400,
                )
            state.set_faults(asked)
        return described()

    return Starlette(
        routes=[
            Route(CONTROL, faults, methods=["GET", "PUT"]),
            Mount("/", app=system.build(state)),
        ]
    )


def _server(served: Served) -> Any:
    import uvicorn

    from runner.web.server import log_config

    config = uvicorn.Config(
        app(served),
        host=served.host,
        port=served.port,
        log_config=log_config(),
        use_colors=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


@contextmanager
def serving(chosen: Sequence[Served]) -> Iterator[None]:
    """Serve every chosen system in a thread of its own while the block runs: each
    listens before the block starts and stops after it. An address that cannot be bound
    stops the ones already started and raises ConfigError naming it."""
    with ExitStack() as stack:
        for served in chosen:
            stack.enter_context(_serving_one(served))
        yield


def _serving_one(served: Served) -> Any:
    from runner.web.server import in_thread

    refused = ConfigError(
        f"the {served.system.NAME} demo could not listen on {served.host}:{served.port}"
    )
    return in_thread(_server(served), f"demo-{served.system.NAME}", refused)


def serve(chosen: Sequence[Served]) -> None:
    """Serve the chosen systems until SIGTERM or Ctrl-C, then return."""
    stop = threading.Event()

    def stopped(signum: int, frame: Any) -> None:
        stop.set()

    previous_term = signal.signal(signal.SIGTERM, stopped)
    previous_int = signal.signal(signal.SIGINT, stopped)
    try:
        with serving(chosen):
            for served in chosen:
                faults = ", ".join(sorted(served.state.faults)) or "none"
                print(
                    f"demo {served.system.NAME}: {served.system.TITLE} on {served.url} "
                    f"(faults: {faults}; files in {served.state.root})",
                    flush=True,
                )
            print("Ctrl-C stops", file=sys.stderr, flush=True)
            while not stop.wait(0.5):
                pass
        print("runbook: the demos stopped", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
