"""The tcp step against a real listening socket on 127.0.0.1, and a port nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from runner.base.errors import StepError
from runner.base.status import Status
from runner.language.build import build_step
from runner.language.model import Step
from runner.reports.summary import rendered_summary, value_summary
from runner.steps import STEP_TYPES, executor
from runner.steps.context import StepContext
from runner.steps.tcp import TcpStep


@pytest.fixture
def listening() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def closed() -> int:
    """A port that was free a moment ago and that nobody listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def step(**tcp: Any) -> Step:
    return build_step({"id": "port", "tcp": tcp}, STEP_TYPES)


def run(config: Step, mode: str = "run", **scope: Any) -> dict[str, Any]:
    return TcpStep().run(config, StepContext(scope=scope, timeout=5.0, mode=mode))


def test_registered_under_its_name() -> None:
    assert isinstance(executor("tcp"), TcpStep)


def test_a_listening_port_is_reachable(listening: int) -> None:
    values = run(step(host="127.0.0.1", port=listening))
    assert values == {**values, "host": "127.0.0.1", "port": listening, "reachable": True}
    assert values["error"] is None and values["elapsed_ms"] >= 0


def test_a_closed_port_is_refused(closed: int) -> None:
    values = run(step(host="127.0.0.1", port=closed, timeout="2s"))
    assert (values["reachable"], values["error"]) == (False, "connection refused")


def test_host_and_port_may_be_templates(listening: int) -> None:
    values = run(
        step(host="{{ inputs.host }}", port="{{ inputs.port }}"),
        inputs={"host": "127.0.0.1", "port": listening},
    )
    assert values["reachable"] is True and values["port"] == listening


@pytest.mark.parametrize(
    ("tcp", "message"),
    [
        ({"port": 1}, "tcp needs a host"),
        ({"host": "h", "port": "http"}, "tcp port 'http' is not a port number"),
        ({"host": "h", "port": 70000}, "tcp port 70000 is not a port number"),
    ],
    ids=["no-host", "port-name", "port-too-large"],
)
def test_what_cannot_be_a_target_is_an_error(tcp: dict[str, Any], message: str) -> None:
    with pytest.raises(StepError, match=message):
        run(step(**tcp))


def test_dry_run_opens_no_connection(closed: int) -> None:
    config = step(host="127.0.0.1", port=closed, timeout="3s")
    ctx = StepContext(scope={}, timeout=60.0, mode="dry-run")
    assert TcpStep().describe(config, ctx) == {"host": "127.0.0.1", "port": closed, "timeout": "3s"}
    assert run(config, mode="dry-run")["skipped"] is True


def test_unreachable_is_critical_unless_asserts_judge() -> None:
    values = {"host": "db", "port": 1433, "reachable": False, "error": "connection refused"}
    assert TcpStep().verdict(step(host="db", port=1433), values) == (
        Status.CRITICAL,
        "cannot connect to db:1433: connection refused",
    )
    judged = build_step(
        {"tcp": {"host": "db", "port": 1433}, "assert": ["reachable == false"]}, STEP_TYPES
    )
    assert TcpStep().verdict(judged, values) is None
    assert TcpStep().verdict(step(host="db", port=1433), {**values, "reachable": True}) is None


# -- through a runbook -----------------------------------------------------------------------


def test_in_a_runbook_statuses_asserts_and_thresholds(project, listening: int, closed: int) -> None:
    project.runbook(
        "ports",
        f"""
        runbook: ports
        steps:
          - id: open
            tcp: {{host: 127.0.0.1, port: {listening}}}
            thresholds:
              elapsed_ms: {{warning: 5000, critical: 10000}}
          - id: shut
            tcp: {{host: 127.0.0.1, port: {closed}, timeout: 2s}}
          - id: must_be_shut
            tcp: {{host: 127.0.0.1, port: {closed}}}
            assert: [reachable == false]
        """,
    )
    result = project.run("ports")
    statuses = {step.id: str(step.status) for step in result.steps}
    assert statuses == {"open": "OK", "shut": "CRITICAL", "must_be_shut": "OK"}
    shut = result.steps[1]
    assert (shut.outcome, shut.error) == (
        "failed",
        f"cannot connect to 127.0.0.1:{closed}: connection refused",
    )
    assert value_summary(shut) == f"127.0.0.1:{closed} not reachable: connection refused"
    assert value_summary(result.steps[0]).startswith(f"127.0.0.1:{listening} reachable in ")
    assert result.steps[0].evaluations[0].text.startswith("elapsed_ms = ")
    dry = project.run("ports", mode="dry-run")
    assert rendered_summary(dry.steps[0], "dry-run") == f"would connect to 127.0.0.1:{listening}"


def test_validation_says_when_the_port_is_in_the_host(project) -> None:
    project.runbook(
        "ports",
        """
        runbook: ports
        steps:
          - tcp: {host: "db01:1433", port: 1433}
          - tcp: {host: "::1", port: 5432}
          - tcp: {host: db01}
        """,
    )
    found = project.library().problems(project.root / "runbooks" / "ports.yaml")
    assert [p.format() for p in sorted(found, key=lambda p: (p.line, p.col))] == [
        "runbooks/ports.yaml:3:17: error: steps[0].tcp.host: the host 'db01:1433' holds a port "
        "(write host: db01 and port: 1433)",
        "runbooks/ports.yaml:5:10: error: steps[2].tcp: missing required key 'port'",
    ]
