"""The `http` step: one HTTP request, its answer as values for asserts and thresholds.

Transport failures are classified for the engine's retry policy: an endpoint that
cannot be reached, or answers 429/502/503/504, is transient; a bad URL or a TLS
certificate that does not verify is not, since another attempt changes nothing.
Other statuses (404, 500) are ordinary results that asserts judge.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runner.base.durations import format_duration, parse_duration
from runner.base.errors import StepError, StepTimeout, TransientError
from runner.base.masking import mask_mapping, mask_url
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import BuildScope, StepConfig
from runner.steps.base import StepType

if TYPE_CHECKING:
    import requests

    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

#: `text` keeps this much of the body; longer bodies are cut and say so.
MAX_TEXT = 1024 * 1024
#: Bodies are read (and parsed as JSON) up to this size; past it reading stops.
MAX_BODY = 16 * 1024 * 1024
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
#: Methods that do not change anything on a well-behaved server: sent in rehearse mode.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONFIG_KEYS = (
    "method",
    "url",
    "headers",
    "params",
    "json",
    "body",
    "timeout",
    "verify",
    "allow_redirects",
)
_METHOD = re.compile(r"^[A-Z]+$")
_CHUNK = 64 * 1024


class HttpConfig(StepConfig, frozen=True):
    """An HTTP request as written: the `http:` mapping (read-only), templates unrendered.

    Its keys are the JSON Schema's (`HttpStep.definitions`); they are read, and checked
    again, once rendered (`Request.from_config`), since a template may render to any
    value."""

    request: Any  # a read-only mapping of plain values (anything else the schema refused)
    origin: Origin


_REQUEST_SCHEMA = {
    "title": "HTTP request",
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "description": "An HTTP request. Result: status, json, text, headers, elapsed_ms.",
    "properties": {
        "method": {
            "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            "description": "HTTP method. Default: GET.",
        },
        "url": {
            "type": "string",
            "description": 'The URL (a template), such as "{{ env.SHOP_URL }}/health".',
        },
        "headers": {
            "type": "object",
            "propertyNames": {"type": "string"},
            "additionalProperties": {"type": "string"},
            "description": "Request headers; values are templates, secrets from `env.NAME` "
            "are masked.",
        },
        "params": {"type": "object", "description": "Query string parameters."},
        "json": {"description": "A JSON request body (any YAML value; strings are templates)."},
        "body": {
            "type": "string",
            "description": "A raw request body (a template). Use `json` for JSON.",
        },
        "timeout": {
            "$ref": "#/$defs/duration",
            "description": "Longest time the request may take. Default: the step's timeout.",
        },
        "verify": {
            "type": ["boolean", "string"],
            "description": "TLS certificate verification: true (default), false (never in "
            "production), or the path of a CA bundle file.",
        },
        "allow_redirects": {"type": "boolean", "description": "Follow redirects. Default: true."},
    },
}


class HttpStep(StepType):
    name = "http"
    schema = {"http": {"$ref": "#/$defs/http"}}
    definitions = {"http": _REQUEST_SCHEMA}

    def __init__(self) -> None:
        # One session per thread: connection pooling across steps, and no shared
        # mutable session state between for_each workers.
        self._local = threading.local()

    def build(self, node: Node, scope: BuildScope) -> HttpConfig:
        http = node.child("http")
        return HttpConfig(freeze(http.value), http.origin)

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        request = Request.from_config(ctx.render(step.config.request), ctx.timeout)
        if ctx.mode == "dry-run":
            return {"skipped": True, "reason": f"dry-run: {request.method} not sent"}
        if ctx.mode == "rehearse" and request.method not in SAFE_METHODS:
            return {"skipped": True, "reason": f"rehearse: {request.method} not sent"}
        ctx.log(f"{request.method} {mask_url(request.url)}")
        return request.send(self._session())

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        return Request.from_config(ctx.render(step.config.request), ctx.timeout).describe()

    def summary(self, values: Mapping[str, Any]) -> str | None:
        if "status" in values and "elapsed_ms" in values:
            return f"HTTP {values['status']} in {float(values['elapsed_ms']):.0f} ms"
        if "status" in values and isinstance(values.get("status"), int):
            return f"HTTP {values['status']}"
        return None

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        if "url" not in rendered:
            return None
        method = str(rendered.get("method", "GET")).upper()
        if rendered.get("skipped"):
            return f"would send {method} {rendered['url']} (skipped)"
        return f"would send {method} {rendered['url']}"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = new_session()
        return session


def new_session() -> requests.Session:
    """A requests session for steps (http, prometheus) that keeps no cookies."""
    import http.cookiejar

    import requests

    session = requests.Session()
    # Steps of unrelated runs share a session: a cookie set for one run must not ride
    # along on another. A step that needs one sends `Cookie:`.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


class Request:
    """A rendered, checked `http:` mapping."""

    def __init__(self, config: Mapping[str, Any], step_timeout: float) -> None:
        self.method = str(config.get("method") or "GET").upper()
        self.url = config["url"]
        self.headers = {
            str(k): str(v) for k, v in (config.get("headers") or {}).items() if v is not None
        }
        self.params = config.get("params")
        self.json = config.get("json")
        self.body = config.get("body")
        self.timeout = step_timeout
        if config.get("timeout") is not None:
            self.timeout = min(_duration(config["timeout"]), step_timeout)
        self.verify = _verify(config.get("verify", True))
        self.allow_redirects = bool(config.get("allow_redirects", True))

    @classmethod
    def from_config(cls, config: Any, step_timeout: float) -> Request:
        if not isinstance(config, Mapping):
            raise StepError("http needs a mapping such as {method: GET, url: https://host/health}")
        unknown = sorted(str(key) for key in config if key not in CONFIG_KEYS)
        if unknown:
            raise StepError(
                f"http does not know {', '.join(unknown)}; it takes: {', '.join(CONFIG_KEYS)}"
            )
        if not isinstance(config.get("url"), str) or not config["url"].strip():
            raise StepError("http needs a url, such as url: https://shop.example.com/health")
        method = str(config.get("method") or "GET").upper()
        if not _METHOD.match(method):
            raise StepError(f"{method!r} is not an HTTP method: use GET, POST, PUT, DELETE, ...")
        if "json" in config and "body" in config:
            raise StepError("http takes json or body, not both: json sends a JSON document")
        for key in ("headers", "params"):
            if config.get(key) is not None and not isinstance(config[key], Mapping):
                raise StepError(f"http {key} must be a mapping of names to values")
        return cls(config, step_timeout)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "url": mask_url(self.url)}
        if self.params:
            out["params"] = mask_mapping(self.params)
        if self.headers:
            out["headers"] = mask_mapping(self.headers)
        if self.json is not None:
            out["json"] = mask_mapping(self.json)
        if self.body is not None:
            out["body"] = mask_mapping(self.body) if isinstance(self.body, Mapping) else self.body
        out["timeout"] = format_duration(self.timeout)
        if self.verify is not True:
            out["verify"] = self.verify
        return out

    def send(self, session: requests.Session) -> dict[str, Any]:
        response, body, complete, elapsed_ms = self.fetch(session)
        result = _result(response, body, complete, elapsed_ms)
        if response.status_code in TRANSIENT_STATUSES:
            transient = TransientError(
                f"HTTP {response.status_code} {reason(response)} from {mask_url(response.url)}"
            )
            transient.result = result  # shown after the last retry
            raise transient
        return result

    def fetch(self, session: requests.Session) -> tuple[requests.Response, bytes, bool, float]:
        """The answer, whatever its status: the response, its body (up to MAX_BODY),
        whether that is all of it, and the milliseconds it took. A request that gets no
        answer raises the StepError (transient or not) its failure stands for."""
        import requests

        if self.verify is False:
            import urllib3

            # verify: false is a written, reviewed choice; a warning on every request is noise
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        data = self.body.encode() if isinstance(self.body, str) else self.body
        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout
        try:
            with session.request(
                self.method,
                self.url,
                params=self.params,
                headers=self.headers,
                json=self.json,
                data=data,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=self.allow_redirects,
                stream=True,
            ) as response:
                body, complete = _read(response, deadline)
                elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        except requests.RequestException as error:
            raise self._failure(error) from error
        except OSError as error:  # a CA bundle path that does not exist, and the like
            url = mask_url(self.url)
            raise StepError(f"cannot send to {url}: {error}{_VERIFY_HINT}") from error
        return response, body, complete, elapsed_ms

    def _failure(self, error: Exception) -> StepError:
        """The StepError (transient or not) a requests exception stands for."""
        import requests.exceptions as rex

        url = mask_url(self.url)
        within = format_duration(self.timeout)
        if isinstance(error, rex.SSLError):
            return StepError(f"TLS failure talking to {url}: {_deepest(error)}{_VERIFY_HINT}")
        if isinstance(error, rex.ConnectTimeout):
            return TransientError(f"cannot connect to {url}: no connection within {within}")
        if isinstance(error, rex.ReadTimeout) or _timed_out(error):
            return StepTimeout(f"no answer from {url} within {within}")
        if isinstance(error, rex.ConnectionError | rex.ChunkedEncodingError):
            return TransientError(f"cannot connect to {url}: {_connection_reason(error)}")
        if isinstance(error, rex.InvalidURL | rex.MissingSchema | rex.InvalidSchema):
            return StepError(f"{url!r} is not a usable URL: write it as http(s)://host/path")
        if isinstance(error, rex.TooManyRedirects):
            return StepError(
                f"{url} redirects too many times: check the URL, or set allow_redirects: false"
            )
        return StepError(f"request to {url} failed: {_deepest(error)}")


_VERIFY_HINT = (
    " (set verify: to the path of your CA bundle for an internal certificate authority,"
    " or verify: false to skip verification for this endpoint)"
)


def _duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise StepError(f"http timeout: {error}") from None


def _verify(value: Any) -> bool | str:
    # A template such as "{{ env.SHOP_VERIFY }}" renders to text; read true/false as booleans.
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, bool | str):
        return value
    raise StepError("http verify must be true, false or the path of a CA bundle")


def _read(response: requests.Response, deadline: float) -> tuple[bytes, bool]:
    """The body (up to MAX_BODY) and whether it is complete; the deadline bounds the total."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return b"".join(chunks)[:MAX_BODY], False
        if time.monotonic() > deadline:
            # a server trickling bytes would otherwise keep each read under the timeout forever
            raise StepTimeout(f"no complete answer from {mask_url(response.url)} in time")
    return b"".join(chunks), True


def _result(
    response: requests.Response, body: bytes, complete: bool, elapsed_ms: float
) -> dict[str, Any]:
    text = body.decode(_charset(response), errors="replace")
    parsed = None
    if complete and text.strip():
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None  # not JSON: `text` holds it
    if len(body) > MAX_TEXT or not complete:
        text = body[:MAX_TEXT].decode(_charset(response), errors="replace")
        total = f"{len(body)} bytes" if complete else f"more than {MAX_BODY} bytes"
        text += f"\n[truncated: the body has {total}; the first {MAX_TEXT} are kept]"
    return {
        "status": response.status_code,
        "json": parsed,
        "text": text,
        "headers": Headers((k.lower(), v) for k, v in response.headers.items()),
        "elapsed_ms": elapsed_ms,
        "url": response.url,
    }


class Headers(dict[str, str]):
    """Response headers, stored lower-case, found whatever case the runbook writes."""

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(key.lower() if isinstance(key, str) else key)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key.lower() if isinstance(key, str) else key, default)


def _charset(response: requests.Response) -> str:
    from email.message import Message

    message = Message()
    message["content-type"] = response.headers.get("content-type", "")
    charset = message.get_content_charset()
    if charset:
        try:
            "".encode(charset)
            return charset
        except LookupError:
            pass
    return "utf-8"  # what JSON and nearly every API sends, declared or not


def reason(response: requests.Response) -> str:
    if response.reason:
        return str(response.reason)
    try:
        from http import HTTPStatus

        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return ""


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything wrapped inside it (requests -> urllib3 -> socket)."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for inner in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)


def _timed_out(error: BaseException) -> bool:
    # A read timeout while streaming the body surfaces as a ConnectionError wrapping one.
    import socket

    from urllib3.exceptions import ReadTimeoutError

    return any(isinstance(cause, ReadTimeoutError | socket.timeout) for cause in _causes(error))


def _connection_reason(error: BaseException) -> str:
    import socket

    from urllib3.exceptions import NameResolutionError, ProtocolError

    for cause in _causes(error):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, socket.gaierror | NameResolutionError):
            return "the host name does not resolve (DNS)"
    for cause in _causes(error):
        if isinstance(cause, ProtocolError):
            return "the connection closed without a complete answer"
    return _deepest(error)


def _deepest(error: BaseException) -> str:
    last = error
    for cause in _causes(error):
        last = cause
    return str(last) or type(last).__name__
