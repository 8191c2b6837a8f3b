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
