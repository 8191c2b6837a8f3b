"""`runbook demo serve`'s server: systems on their own ports, the fault switch, stopping."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runner.base.errors import ConfigError
from runner.demos.base import DemoState
from runner.demos.server import Served, serving


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _toy(name: str) -> Any:
    """A demo system of one route that tells whether it is `slow`."""

    def build(state: DemoState) -> Starlette:
        async def health(request: Request) -> JSONResponse:
            return JSONResponse({"slow": state.has("slow")})

        return Starlette(routes=[Route("/health", health)])

    return SimpleNamespace(
        NAME=name,
        TITLE=f"{name} toy",
        LISTEN=("127.0.0.1", 0),
        FAULTS={"slow": "slow"},
        build=build,
    )


def _get(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_two_systems_serve_on_their_ports_and_switch_faults(tmp_path):
    one = Served(
        _toy("one"), DemoState(tmp_path / "one", faults=["slow"]), "127.0.0.1", _free_port()
    )
    two = Served(_toy("two"), DemoState(tmp_path / "two"), "127.0.0.1", _free_port())
    heard: list[frozenset[str]] = []
    two.state.on_faults(heard.append)  # a demo's files follow a switch through this
    with serving([one, two]):
        assert _get(one.url + "/health") == (200, {"slow": True})
        assert _get(two.url + "/health") == (200, {"slow": False})
        status, body = _get(two.url + "/_demo/faults", "PUT", b'["slow"]')
        assert status == 200 and body["faults"] == ["slow"]
        assert _get(two.url + "/health") == (200, {"slow": True})
        status, body = _get(two.url + "/_demo/faults", "PUT", b'["fast"]')
        assert status == 400 and "no fault fast" in body["error"]
        status, body = _get(two.url + "/_demo/faults", "PUT", b"not json")
        assert status == 400
        assert two.state.faults == {"slow"}
        assert heard == [frozenset({"slow"})]  # once: refused switches change nothing
    with pytest.raises(OSError):  # stopped: nothing listens any more
        urllib.request.urlopen(one.url + "/health", timeout=2)


def test_an_address_taken_is_a_clear_error_and_stops_the_others(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        first = Served(_toy("one"), DemoState(tmp_path), "127.0.0.1", _free_port())
        second = Served(_toy("two"), DemoState(tmp_path), "127.0.0.1", port)
        refused = f"the two demo could not listen on 127.0.0.1:{port}"
        with pytest.raises(ConfigError, match=refused), serving([first, second]):
            pass
    with pytest.raises(OSError):
        urllib.request.urlopen(first.url + "/health", timeout=2)


def test_runbook_demo_serve_starts_each_system_and_stops_on_ctrl_c(tmp_path):
    """The command itself, as an operator starts it: it says where each demo listens,
    answers there with the fault asked for, and Ctrl-C ends it with exit 0."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "runner.yaml").write_text("state: var/runner.db\n", encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    command = [sys.executable, "-m", "runner", "demo", "serve", "returns"]
    process = subprocess.Popen(
        [*command, "--listen", f"127.0.0.1:{port}", "--fault", "slow"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once it listens
        assert line.startswith(
            f"demo returns: Shopify returns service (seed 004) on "
            f"http://127.0.0.1:{port} (faults: slow; files in "
        )
        assert _get(f"http://127.0.0.1:{port}/_demo/faults")[1]["faults"] == ["slow"]
        status, body = _get(f"http://127.0.0.1:{port}/api/health")
        assert status == 200 and body
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "the demos stopped" in err
    assert "Traceback" not in err


def test_several_systems_take_no_listen_address_and_unknown_faults_are_refused(tmp_path):
    from runner.cli import main

    (tmp_path / "runner.yaml").write_text("state: var/runner.db\n", encoding="utf-8")
    config = str(tmp_path / "runner.yaml")
    assert main(["--config", config, "demo", "serve", "all", "--listen", "127.0.0.1:1"]) == 3
    assert main(["--config", config, "demo", "serve", "returns", "--fault", "slwo"]) == 3
