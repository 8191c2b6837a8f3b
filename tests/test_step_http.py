"""The http step against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from runner.base.errors import StepError, StepTimeout, TransientError
from runner.language.build import build_step
from runner.language.model import Step
from runner.steps import STEP_TYPES, executor
from runner.steps.context import StepContext
from runner.steps.http import MAX_TEXT, HttpStep

RELEASE = threading.Event()  # lets the slow route end at teardown instead of sleeping on


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path == "/health":
            self._send(200, b'{"status": "up", "pending": 3}', extra={"X-Served-By": "test"})
        elif path == "/missing":
            self._send(404, b"no such page", "text/plain")
        elif path == "/broken":
            self._send(500, b'{"error": "boom"}')
        elif path == "/busy":
            self._send(503, b'{"error": "try later"}', extra={"Retry-After": "1"})
        elif path == "/throttled":
            self._send(429, b"slow down", "text/plain")
        elif path == "/slow":
            RELEASE.wait(10)
            self._send(200, b"{}")
        elif path == "/stall":  # headers at once, then the body never completes
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"{")
            self.wfile.flush()
            RELEASE.wait(10)
        elif path == "/big":
            self._send(200, b"x" * (MAX_TEXT + 10), "text/plain")
        elif path == "/moved":
            self._send(302, b"", "text/plain", {"Location": "/health"})
        elif path == "/echo":
            echo = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(),
            }
            self._send(200, json.dumps(echo).encode())
        else:
            self._send(404, b"")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    RELEASE.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    RELEASE.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port() -> int:
    # bind, note the port, close: nothing listens there afterwards
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step(config: Any) -> Step:
    return build_step({"id": "api", "http": config}, STEP_TYPES)


def context(mode: str = "run", timeout: float = 10.0, **scope: Any) -> StepContext:
    return StepContext(scope={"env": {}, **scope}, timeout=timeout, mode=mode)


def run(config: Any, **kwargs: Any) -> dict[str, Any]:
    return HttpStep().run(step(config), context(**kwargs))


def test_registered_under_its_name() -> None:
    assert isinstance(executor("http"), HttpStep)
    assert executor("http").name == "http"


def test_get_json(server: str) -> None:
    result = run({"url": f"{server}/health"})
    assert result["status"] == 200
    assert result["json"] == {"status": "up", "pending": 3}
    assert json.loads(result["text"]) == result["json"]
    assert isinstance(result["elapsed_ms"], float) and result["elapsed_ms"] >= 0
    assert result["url"] == f"{server}/health"
    assert result["headers"]["content-type"] == "application/json"


def test_headers_found_in_any_case(server: str) -> None:
    headers = run({"url": f"{server}/health"})["headers"]
    assert headers["X-Served-By"] == headers["x-served-by"] == "test"
    assert "X-SERVED-BY" in headers
    assert headers.get("Content-Type") == "application/json"


@pytest.mark.parametrize(
    ("path", "status", "parsed"),
    [("/missing", 404, None), ("/broken", 500, {"error": "boom"})],
    ids=["404", "500"],
)
def test_error_statuses_are_results_for_asserts(
    server: str, path: str, status: int, parsed: Any
) -> None:
    result = run({"url": server + path})
    assert result["status"] == status
    assert result["json"] == parsed


def test_non_json_body_gives_text_and_no_json(server: str) -> None:
    result = run({"url": f"{server}/missing"})
    assert result["json"] is None
    assert result["text"] == "no such page"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/busy", "HTTP 503 Service Unavailable from "), ("/throttled", "HTTP 429 Too Many Requests")],
    ids=["503", "429"],
)
def test_overloaded_statuses_are_transient_and_keep_the_response(
    server: str, path: str, expected: str
) -> None:
    with pytest.raises(TransientError) as caught:
        run({"url": server + path})
    assert expected in str(caught.value)
    assert server + path in str(caught.value)
    assert not isinstance(caught.value, StepTimeout)
    assert caught.value.result["status"] in (503, 429)
    assert caught.value.result["text"]


def test_connection_refused_is_transient(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/health"
    with pytest.raises(TransientError) as caught:
        run({"url": url})
    assert str(caught.value) == f"cannot connect to {url}: connection refused"
    assert not isinstance(caught.value, StepTimeout)


def test_no_answer_in_time_is_a_step_timeout(server: str) -> None:
    with pytest.raises(StepTimeout) as caught:
        run({"url": f"{server}/slow", "timeout": "300ms"})
    assert str(caught.value) == f"no answer from {server}/slow within 300ms"
    assert caught.value.transient


def test_body_that_stops_coming_is_a_step_timeout(server: str) -> None:
    with pytest.raises(StepTimeout) as caught:
        run({"url": f"{server}/stall", "timeout": "300ms"})
    assert str(caught.value) == f"no answer from {server}/stall within 300ms"


def test_step_timeout_bounds_the_request_timeout(server: str) -> None:
    # the request asks for 30s but the attempt may only take 300ms: the smaller wins
    with pytest.raises(StepTimeout, match="within 300ms"):
        run({"url": f"{server}/slow", "timeout": "30s"}, timeout=0.3)


def test_bad_url_is_final() -> None:
    with pytest.raises(StepError) as caught:
        run({"url": "shop.example/health"})
    assert not caught.value.transient
    assert "http(s)://host/path" in str(caught.value)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An HTTPS server with a self-signed certificate for 127.0.0.1, and that certificate."""
    cert_file, key_file = _self_signed(tmp_path_factory.mktemp("tls"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", cert_file
    httpd.shutdown()
    httpd.server_close()


def _self_signed(folder: Any) -> tuple[str, str]:
    pytest.importorskip("cryptography")  # present with most Python installs; not our dependency
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_untrusted_certificate_is_final_with_a_hint_about_verify(
    tls_server: tuple[str, str],
) -> None:
    url, _ = tls_server
    with pytest.raises(StepError) as caught:
        run({"url": f"{url}/health"})
    assert not caught.value.transient
    assert "certificate verify failed" in str(caught.value)
    assert "verify:" in str(caught.value)


@pytest.mark.parametrize("verify", ["bundle", False, "false"], ids=["ca-bundle", "off", "off-text"])
def test_verify_accepts_a_ca_bundle_or_off(tls_server: tuple[str, str], verify: Any) -> None:
    url, cert_file = tls_server
    result = run({"url": f"{url}/health", "verify": cert_file if verify == "bundle" else verify})
    assert result["status"] == 200


def test_missing_ca_bundle_is_final(server: str, tmp_path: Any) -> None:
    with pytest.raises(StepError) as caught:
        run({"url": server.replace("http://", "https://"), "verify": str(tmp_path / "none.pem")})
    assert not caught.value.transient
    assert "verify:" in str(caught.value)


def test_post_sends_json_headers_and_params(server: str) -> None:
    result = run(
        {
            "method": "post",
            "url": f"{server}/echo",
            "params": {"order": 42},
            "headers": {"X-Request": "abc"},
            "json": {"ids": [1, 2]},
        }
    )
    echo = result["json"]
    assert echo["method"] == "POST"
    assert echo["path"] == "/echo?order=42"
    assert echo["headers"]["x-request"] == "abc"
    assert json.loads(echo["body"]) == {"ids": [1, 2]}


def test_body_is_sent_as_is(server: str) -> None:
    echo = run({"method": "POST", "url": f"{server}/echo", "body": "plain words"})["json"]
    assert echo["body"] == "plain words"


def test_templates_are_rendered_with_native_types(server: str) -> None:
    config = {
        "method": "POST",
        "url": "{{ env.SHOP_URL }}/echo",
        "json": {"staging_id": "{{ inputs.staging_id }}", "note": "id {{ inputs.staging_id }}"},
    }
    ctx = StepContext(
        scope={"env": {"SHOP_URL": server}, "inputs": {"staging_id": 7}}, timeout=10.0
    )
    echo = HttpStep().run(step(config), ctx)["json"]
    assert json.loads(echo["body"]) == {"staging_id": 7, "note": "id 7"}


def test_redirects_followed_and_final_url_reported(server: str) -> None:
    result = run({"url": f"{server}/moved"})
    assert result["status"] == 200
    assert result["url"] == f"{server}/health"


def test_redirects_not_followed_when_asked(server: str) -> None:
    result = run({"url": f"{server}/moved", "allow_redirects": False})
    assert result["status"] == 302
    assert result["url"] == f"{server}/moved"


def test_long_body_text_is_capped_and_says_so(server: str) -> None:
    result = run({"url": f"{server}/big"})
    assert result["text"].startswith("x" * MAX_TEXT + "\n[truncated:")
    assert f"{MAX_TEXT + 10} bytes" in result["text"]


def test_session_reused_across_steps(server: str) -> None:
    http = HttpStep()
    http.run(step({"url": f"{server}/health"}), context())
    session = http._session()
    http.run(step({"url": f"{server}/health"}), context())
    assert http._session() is session


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_rehearse_does_not_send_changes(server: str, method: str, closed_port: int) -> None:
    # a closed port proves nothing was sent: sending would raise "connection refused"
    result = run({"method": method, "url": f"http://127.0.0.1:{closed_port}/x"}, mode="rehearse")
    assert result == {"skipped": True, "reason": f"rehearse: {method} not sent"}


def test_rehearse_sends_get(server: str) -> None:
    assert run({"url": f"{server}/health"}, mode="rehearse")["status"] == 200


def test_dry_run_sends_nothing(closed_port: int) -> None:
    result = run({"url": f"http://127.0.0.1:{closed_port}/x"}, mode="dry-run")
    assert result["skipped"] is True


def test_describe_masks_secrets() -> None:
    config = {
        "method": "post",
        "url": "https://user:hunter2@shop.example/api?api_key={{ env.KEY }}&page=2",
        "headers": {
            "Authorization": "Bearer {{ env.KEY }}",
            "Cookie": "session=abc",
            "X-Auth-Token": "t0k",
            "X-Api-Key": "k3y",
            "Accept": "application/json",
        },
        "params": {"access_token": "t0k", "status": "failed"},
        "json": {"password": "p", "order": 1},
        "timeout": "5s",
    }
    ctx = StepContext(scope={"env": {"KEY": "s3cret"}}, timeout=60)
    shown = HttpStep().describe(step(config), ctx)
    assert shown == {
        "method": "POST",
        "url": "https://user:***@shop.example/api?api_key=***&page=2",
        "params": {"access_token": "***", "status": "failed"},
        "headers": {
            "Authorization": "***",
            "Cookie": "***",
            "X-Auth-Token": "***",
            "X-Api-Key": "***",
            "Accept": "application/json",
        },
        "json": {"password": "***", "order": 1},
        "timeout": "5s",
    }
    assert "s3cret" not in json.dumps(shown)
    assert "hunter2" not in json.dumps(shown)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("http://x", "http needs a mapping"),
        ({"method": "GET"}, "http needs a url"),
        ({"url": "http://x", "methd": "GET"}, "http does not know methd; it takes: method, url"),
        ({"url": "http://x", "method": "GET /"}, "is not an HTTP method"),
        ({"url": "http://x", "json": {}, "body": ""}, "http takes json or body, not both"),
        ({"url": "http://x", "headers": ["a"]}, "http headers must be a mapping"),
        ({"url": "http://x", "timeout": "soon"}, "http timeout: 'soon' is not a duration"),
        ({"url": "http://x", "verify": 3}, "http verify must be true, false or the path"),
    ],
    ids=[
        "not-mapping",
        "no-url",
        "unknown-key",
        "bad-method",
        "json-and-body",
        "headers-list",
        "bad-timeout",
        "bad-verify",
    ],
)
def test_bad_config_is_final_with_an_instruction(config: Any, message: str) -> None:
    with pytest.raises(StepError) as caught:
        HttpStep().describe(step(config), context())
    assert message in str(caught.value)
    assert not caught.value.transient
