"""No secret in any output: every place a secret comes from, every command and format,
the state store's bytes and every notification a real receiver got (issue 10, point 7).

The secrets: an ODBC password `${PG_SECRET}` in runner.yaml (the real PostgreSQL, whose
trust authentication ignores it), an Apprise URL `json://user:${HOOK_TOKEN}@...` with a
receiver on 127.0.0.1, an input declared `secret: true` and a `*_TOKEN` environment
variable. Templates render each of them into a hint, a command's argv, a notify step's
message and an alert, so that every one has a way out to be stopped on.
"""

from __future__ import annotations

import json
import socket
import subprocess
import textwrap
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from runner.cli.main import main

SECRETS = {
    "PG_SECRET": "pgpw-Quokka7731",
    "HOOK_TOKEN": "hook-Narwhal5519",
    "DEPLOY_TOKEN": "deploy-Axolotl2264",
}
INPUT_SECRET = "input-Pangolin4408"
PIN = 86420975  # a secret integer input, selected back as a number
ALL = [*SECRETS.values(), INPUT_SECRET, str(PIN)]

PG = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=postgres;UID=postgres"

LEAKS = (
    "pw {{ inputs.password }} token {{ env.DEPLOY_TOKEN }} "
    "pg {{ env.PG_SECRET }} hook {{ env.HOOK_TOKEN }}"
)

RUNBOOK = f"""
runbook: leaky
title: Leaky
connection: pg
concurrency: allow
inputs:
  password: {{type: string, secret: true}}
  pin: {{type: integer, secret: true, default: {PIN}}}
notify:
  critical: [ops]
steps:
  - id: pg
    sql: >-
      SELECT 1 AS one, {{{{ inputs.pin }}}} AS pin,
      CAST({{{{ inputs.pin }}}} AS NUMERIC(12, 2)) AS pin_decimal
      WHERE {{{{ inputs.password }}}} <> {{{{ env.DEPLOY_TOKEN }}}}
    thresholds:
      one: {{warning: "{{{{ inputs.pin }}}}", critical: 0}}
      pin: {{warning: 1}}
    hint: "{LEAKS}"
  - id: shell
    command: [echo, "{{{{ inputs.password }}}}", "{{{{ env.DEPLOY_TOKEN }}}}",
              "{{{{ env.PG_SECRET }}}}", "{{{{ env.HOOK_TOKEN }}}}"]
  - id: tell
    notify: {{to: ops, title: "title {LEAKS}", body: "body {LEAKS}"}}
"""


class Receiver:
    """A real HTTP server on 127.0.0.1 that keeps every request it gets, whole."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                # The Authorization header carries the token on purpose: it is the
                # credential, sent to the service it belongs to. Everything else counts.
                headers = "".join(
                    f"{k}: {v}\n" for k, v in self.headers.items() if k.lower() != "authorization"
                )
                receiver.requests.append(
                    f"{self.path}\n{headers}".encode() + self.rfile.read(length)
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Any:
    server = Receiver()
    yield server
    server.close()


def postgres_is_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


def leaked(text: str | bytes) -> list[str]:
    data = text if isinstance(text, bytes) else text.encode()
    return [secret for secret in ALL if secret.encode() in data]


@pytest.mark.integration
def test_no_secret_in_any_output_store_or_notification(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    receiver: Any,
) -> None:
    if not postgres_is_up():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = {
        "urls": {"ops": [f"json://user:${{HOOK_TOKEN}}@127.0.0.1:{receiver.port}/hook"]},
        "timeout": "2s",
        "attempts": 1,
    }
    (tmp_path / "runner.yaml").write_text(
        "connections:\n"
        f"  pg: {{odbc: {PG + ';PWD=${PG_SECRET}'!r}, dialect: postgres}}\n"
        "state: var/runner.db\n"
        f"notifications: {json.dumps(settings)}\n",
        encoding="utf-8",
    )
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "leaky.yaml").write_text(textwrap.dedent(RUNBOOK), encoding="utf-8")

    outputs: dict[str, str] = {}

    def run(*args: str) -> str:
        main(list(args))
        out, err = capsys.readouterr()
        outputs[" ".join(args)] = out + err
        return out

    param = ("--param", f"password={INPUT_SECRET}")
    for fmt in ("text", "json", "nagios"):
        run("run", "leaky", *param, "--format", fmt, "--verbose")
    for mode in ("--dry-run", "--rehearse"):
        for fmt in ("text", "json"):
            run("run", "leaky", *param, mode, "--format", fmt, "--verbose")
    listed = json.loads(run("history", "--format", "json"))
    run_ids = [row["run_id"] for row in (listed["runs"] if isinstance(listed, dict) else listed)]
    assert len(run_ids) == 5  # three runs and two rehearsals; dry runs are not recorded
    run("history")
    run("history", "leaky")
    for run_id in run_ids:
        for fmt in ("text", "json"):
            run("history", "--run", run_id, "--format", fmt)
    for command in ("status", "show", "list"):
        for fmt in ("text", "json"):
            run(command, *(["leaky"] if command == "show" else []), "--format", fmt)
    run("notify-test", "ops")
    run("metrics")
    run("doctor")
    run("validate")
    # A store that refuses the record: the run is kept in the spool, which is checked
    # below with the rest of var/.
    store = tmp_path / "var" / "runner.db"
    if subprocess.run(["chattr", "+i", str(store)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here: the spool is not tested")
    try:
        run("run", "leaky", *param, "--format", "json", "--verbose")
    finally:
        subprocess.run(["chattr", "-i", str(store)], check=True)
    assert list((tmp_path / "var" / "spool").glob("*.json")), "the run was not spooled"

    # The secrets did get somewhere to be stopped: the step ran, the hint rendered, the
    # notify step and the alerts reached the receiver.
    first = outputs[f"run leaky --param password={INPUT_SECRET} --format text --verbose"]
    assert "one = 1 > critical 0" in first  # the query ran on PostgreSQL
    assert "hint: pw *** token *** pg *** hook ***" in first
    assert "run echo *** *** *** ***" in first
    assert len(receiver.requests) >= 4  # notify steps, alerts, notify-test
    assert any(b"body pw *** token *** pg *** hook ***" in r for r in receiver.requests)

    found = {name: leaked(text) for name, text in outputs.items() if leaked(text)}
    stored = sorted((tmp_path / "var").rglob("*"))
    assert any(path.name == "runner.db" for path in stored)
    found |= {
        str(path): leaked(path.read_bytes())
        for path in stored
        if path.is_file() and leaked(path.read_bytes())
    }
    found |= {
        f"notification {index}": leaked(body)
        for index, body in enumerate(receiver.requests)
        if leaked(body)
    }
    assert found == {}


def test_dry_run_and_rehearsal_mask_the_vars_of_urls_and_connection_strings(
    project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names that do not look secret: only runner.yaml says they are. A dry run loads no
    notifier and opens no connection, yet must mask what a real run would."""
    monkeypatch.setenv("HOOK_PASS", "hookpass-Okapi9183")
    monkeypatch.setenv("DB_PASS", "dbpass-Tapir6627")
    project.config(
        """
        connections:
          main: {sqlite: data.db}
          far: {odbc: "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=1;PWD=${DB_PASS}"}
        state: var/runner.db
        notifications:
          urls: {ops: ["json://user:${HOOK_PASS}@127.0.0.1:9/hook"]}
        """
    )
    project.runbook(
        "tell",
        """
        runbook: tell
        steps:
          - id: tell
            notify: {to: ops, body: "{{ env.HOOK_PASS }} {{ env.DB_PASS }}"}
        """,
    )
    for mode in ("dry-run", "rehearse"):
        result = project.run("tell", mode=mode)
        text = json.dumps(result.steps[0].rendered or result.steps[0].values)
        assert "*** ***" in text and "Okapi" not in text and "Tapir" not in text
    stored = b"".join(p.read_bytes() for p in (project.root / "var").rglob("*") if p.is_file())
    assert b"Okapi" not in stored
