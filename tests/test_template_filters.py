"""The filters `hmac_sha256` (a webhook's signature, masked as a secret) and
`minutes_since` (the age of an API's timestamp), in templates and in a run."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from runner.base.errors import TemplateError
from runner.base.status import Status
from runner.language.templates import render, render_value

KEY = "shpss_not-a-real-secret-1234"
BODY = '{"test": true}'
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _signature(body: str, key: str) -> str:
    digest = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_hmac_sha256_is_shopifys_base64_signature_of_the_text() -> None:
    scope = {"env": {"SECRET": KEY}, "body": BODY}
    assert render("{{ body | hmac_sha256(env.SECRET) }}", scope) == _signature(BODY, KEY)
    # The seed's own debug example, as openssl computes it:
    # printf '{"test": true}' | openssl dgst -sha256 -hmac your_shopify_secret -binary | base64
    expected = "zAVJKihSPJBJozcexye/iQhTgbNkJq9YpMNwaX86Q8w="
    assert _signature(BODY, "your_shopify_secret") == expected
    assert render("{{ '{\"test\": true}' | hmac_sha256('your_shopify_secret') }}", {}) == expected


def test_hmac_sha256_registers_the_key_and_the_signature_as_secrets() -> None:
    found: list[str] = []
    scope = {"__on_secret__": found.append, "body": BODY}
    signature = render_value("{{ body | hmac_sha256('" + KEY + "') }}", scope)
    assert found == [KEY, signature]


@pytest.mark.parametrize("key", ["''", "none", "42"], ids=["empty", "none", "number"])
def test_hmac_sha256_without_a_usable_key_says_how_to_call_it(key: str) -> None:
    with pytest.raises(TemplateError, match=r"hmac_sha256 needs a key: text \| hmac_sha256"):
        render("{{ 'x' | hmac_sha256(" + key + ") }}", {})


@pytest.mark.parametrize(
    "moment, minutes",
    [
        ("2026-03-01T11:00:00Z", 60),
        ("2026-03-01T11:59:30+00:00", 0.5),
        ("2026-03-01T13:00:00+02:00", 60),
        ("2026-03-01T10:30:00", 90),  # no offset: UTC
        ("2026-03-01 12:06:00Z", -6),  # later than now: negative
    ],
    ids=["zulu", "offset-zero", "offset", "naive-utc", "future"],
)
def test_minutes_since_counts_from_the_runs_now(moment: str, minutes: float) -> None:
    assert render_value("{{ t | minutes_since }}", {"now": NOW, "t": moment}) == minutes


def test_minutes_since_keeps_none_and_takes_datetimes() -> None:
    assert render_value("{{ none | minutes_since }}", {"now": NOW}) is None
    earlier = datetime(2026, 3, 1, 11, 45, tzinfo=UTC)
    assert render_value("{{ t | minutes_since }}", {"now": NOW, "t": earlier}) == 15


def test_minutes_since_refuses_what_is_not_a_timestamp() -> None:
    with pytest.raises(TemplateError, match="minutes_since needs an ISO 8601 timestamp"):
        render_value("{{ 'yesterday' | minutes_since }}", {"now": NOW})


# --- in a run: a signed request to a real server, the key nowhere in the record ---------


class _Verifier(BaseHTTPRequestHandler):
    """Answers 200 to a body signed with KEY, 401 to anything else."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        given = self.headers.get("X-Shopify-Hmac-Sha256") or ""
        good = hmac.compare_digest(_signature(body.decode(), KEY), given)
        answer = json.dumps({"verified": good}).encode()
        self.send_response(200 if good else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def verifier() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Verifier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_signed_webhook_is_accepted_and_its_key_and_signature_are_masked(
    project, verifier
) -> None:
    # The key comes from a name that does not look secret, so only the filter masks it.
    project.runbook(
        "sign",
        f"""
        runbook: sign
        kind: troubleshooting
        vars: {{body: '{BODY}'}}
        steps:
          - id: signed
            http:
              method: POST
              url: {verifier}/webhook
              headers:
                X-Shopify-Hmac-Sha256: "{{{{ vars.body | hmac_sha256(env.WEBHOOK_KEY) }}}}"
              body: "{{{{ vars.body }}}}"
            assert:
              - status == 200
          - id: unsigned
            http:
              method: POST
              url: {verifier}/webhook
              headers: {{X-Shopify-Hmac-Sha256: "{{{{ 'x' | hmac_sha256('wrong-key') }}}}"}}
              body: "{{{{ vars.body }}}}"
            assert:
              - {{that: status == 401, message: "a bad signature was accepted: {KEY}"}}
        """,
    )
    run = project.run("sign", environ={"WEBHOOK_KEY": KEY}, mode="dry-run")
    assert KEY not in repr(run.steps) and _signature(BODY, KEY) not in repr(run.steps)
    run = project.run("sign", environ={"WEBHOOK_KEY": KEY})
    assert run.status is Status.OK, run.steps
    assert run.steps[0].values["json"] == {"verified": True}
    assert run.steps[1].values["status"] == 401
    stored = (project.root / "var" / "runner.db").read_bytes()
    assert KEY.encode() not in stored and _signature(BODY, KEY).encode() not in stored


def test_a_signature_made_in_vars_titles_and_questions_is_masked(project, verifier) -> None:
    """hmac_sha256 registers its key and signature wherever the run renders it: in a var
    (rendered as the run starts, before any step), a title, a confirm question."""
    project.runbook(
        "sig",
        f"""
        runbook: sig
        kind: troubleshooting
        title: "sig {{{{ vars.sig }}}}"
        vars:
          sig: "{{{{ 'payload' | hmac_sha256(env.WEBHOOK_KEY) }}}}"
        steps:
          - id: signed
            title: "signed {{{{ vars.sig }}}}"
            confirm: "Send {{{{ 'payload' | hmac_sha256(env.WEBHOOK_KEY) }}}}?"
            http:
              method: POST
              url: {verifier}/webhook
              headers: {{X-Shopify-Hmac-Sha256: "{{{{ vars.sig }}}}"}}
              body: payload
            assert:
              - status == 200
        """,
    )
    signature = _signature("payload", KEY)
    run = project.run("sig", environ={"WEBHOOK_KEY": KEY}, mode="dry-run")
    shown = repr(run.steps) + run.title
    assert "***" in run.title and signature not in shown and KEY not in shown
    asked: list[str] = []
    run = project.run(
        "sig",
        environ={"WEBHOOK_KEY": KEY},
        interactive=True,
        ask=lambda question: asked.append(question) or "y",
    )
    assert run.status is Status.OK, run.steps
    assert asked == ["Send ***? [y/N] "]
    assert signature not in repr(run.steps) + run.title
    stored = (project.root / "var" / "runner.db").read_bytes()
    assert signature.encode() not in stored and KEY.encode() not in stored
