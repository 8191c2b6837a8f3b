"""The dashboard of a project under real uvicorn, on an ephemeral port of 127.0.0.1, for
the tests of its pages (test_web.py) and of its /metrics (test_metrics.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def running_dashboard(root: Path) -> Iterator[str]:
    """`runbook serve` of the project in `root` while the block runs: its base URL."""
    import uvicorn

    from runner.cli.commands import _library_of
    from runner.cli.store import status_rows
    from runner.language.config import load_config
    from runner.web.app import create_app
    from runner.web.overview import Sources

    config = load_config(root / "runner.yaml")
    app = create_app(Sources(library=lambda: _library_of(config), status_rows=status_rows))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        listening.close()
