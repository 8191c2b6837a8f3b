"""The `tcp` step: can a TCP connection to host:port be opened within a timeout ("is port
1433 open")?

    - id: sql-port
      tcp: {host: db01, port: 1433, timeout: 3s}

Result: `host`, `port`, `reachable` (true or false), `elapsed_ms` (how long the attempt
took) and `error` (why it could not connect: connection refused, no answer in time, a
name that does not resolve). A port that cannot be reached is CRITICAL unless the step
has asserts (`assert: [reachable == false]` checks that a port is closed); thresholds
apply to `elapsed_ms` as to any value. An unreachable port is a result, not a failure,
so it is not retried: to wait for a port, poll with `until: reachable` and `retry`.

The connection is closed at once; nothing is sent. A rehearsal connects too (it changes
nothing), a dry run does not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.base.durations import format_duration, parse_duration
from runner.base.errors import StepError
from runner.base.status import Status
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import BuildScope, StepChecks, StepConfig
from runner.language.templates import is_template
from runner.steps.base import StepType

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext


class TcpConfig(StepConfig, frozen=True):
    """Where to connect, as written (templates unrendered)."""

    host: Any  # a host name or address; None when not given
    port: Any  # a port number, or a template of one
    origin: Origin  # of the `tcp:` mapping
    timeout: float | None = None  # seconds; None: the step's timeout
    host_origin: Origin | None = None


class TcpStep(StepType):
    name = "tcp"
    schema = {"tcp": {"$ref": "#/$defs/tcp"}}
    definitions = {
        "tcp": {
            "title": "TCP port",
            "type": "object",
            "additionalProperties": False,
            "required": ["host", "port"],
            "description": "Can a TCP connection to host:port be opened, such as a database's "
            "port 1433? Result: reachable, elapsed_ms, error. Unreachable is CRITICAL unless "
            "the step has asserts.",
            "properties": {
                "host": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Host name or IP address (a template), such as db01.",
                },
                "port": {
                    "type": ["integer", "string"],
                    "minimum": 1,
                    "maximum": 65535,
                    "description": "Port number, or a template that gives one.",
                },
                "timeout": {
                    "$ref": "#/$defs/duration",
                    "description": "Longest wait for the connection. Default: the step's timeout.",
                },
            },
        }
    }

    # -- loading ------------------------------------------------------------------------

    def build(self, node: Node, scope: BuildScope) -> TcpConfig:
        tcp = node.child("tcp")
        try:
            timeout = parse_duration(tcp.get("timeout")) if "timeout" in tcp else None
        except ValueError:  # the schema says what is wrong with it
            timeout = None
        host = tcp.at("host")
        return TcpConfig(
            freeze(tcp.get("host")),
            freeze(tcp.get("port")),
            tcp.origin,
            timeout,
            host.origin if host is not None else None,
        )

    def check(self, config: TcpConfig, checks: StepChecks) -> None:
        host = config.host
        if isinstance(host, str) and not is_template(host) and config.host_origin:
            name, colon, port = host.rpartition(":")
            if colon and port.isdigit() and ":" not in name:  # not an IPv6 address
                checks.add(
                    config.host_origin,
                    f"the host {host!r} holds a port",
                    f"write host: {name} and port: {port}",
                )

    # -- running ------------------------------------------------------------------------

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        host, port, timeout = _target(step.config, ctx)
        if ctx.mode == "dry-run":
            return {"skipped": True, "reason": "dry-run: no connection is opened"}
        ctx.log(f"connect to {host}:{port}")
        return connect(host, port, timeout)

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        host, port, timeout = _target(step.config, ctx)
        return {"host": host, "port": port, "timeout": format_duration(timeout)}

    def verdict(self, step: Step, values: Mapping[str, Any]) -> tuple[Status, str] | None:
        if values.get("reachable") is not False or step.asserts:
            return None
        where = f"{values.get('host')}:{values.get('port')}"
        return Status.CRITICAL, f"cannot connect to {where}: {values.get('error')}"

    def summary(self, values: Mapping[str, Any]) -> str | None:
        if "reachable" not in values:
            return None
        where = f"{values.get('host')}:{values.get('port')}"
        if values["reachable"]:
            return f"{where} reachable in {float(values.get('elapsed_ms') or 0):.0f} ms"
        return f"{where} not reachable: {values.get('error')}"

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        if "host" not in rendered or "port" not in rendered:
            return None
        return f"would connect to {rendered['host']}:{rendered['port']}"


def _target(config: TcpConfig, ctx: StepContext) -> tuple[str, int, float]:
    """Host, port and timeout, rendered and checked."""
    host = ctx.render(config.host)
    if not isinstance(host, str) or not host.strip():
        raise StepError("tcp needs a host, such as {host: db01, port: 1433}")
    port = ctx.render(config.port)
    try:
        number = int(str(port).strip())
    except ValueError:
        number = 0
    if isinstance(port, bool) or not 1 <= number <= 65535:
        raise StepError(f"tcp port {port!r} is not a port number (1 to 65535)")
    timeout = ctx.timeout if config.timeout is None else min(config.timeout, ctx.timeout)
    return host.strip(), number, timeout


def connect(host: str, port: int, timeout: float) -> dict[str, Any]:
    """Open a TCP connection to host:port and close it; what happened, as values."""
    import socket

    started = time.perf_counter()
    error = None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except TimeoutError:
        error = f"no answer within {format_duration(timeout)}"
    except ConnectionRefusedError:
        error = "connection refused"
    except socket.gaierror:
        error = "the host name does not resolve (DNS)"
    except OSError as failure:
        error = failure.strerror or str(failure)
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return {
        "host": host,
        "port": port,
        "reachable": error is None,
        "elapsed_ms": elapsed_ms,
        "error": error,
    }
