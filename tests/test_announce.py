"""Announcing real runs to real receivers: an SMTP server (aiosmtpd) and an HTTP server.

Each scenario runs a real runbook on a real SQLite file through the engine (which
records it), then announces it on a controlled clock, and looks at what the
receivers got and what the state store recorded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.history.store import StateStore
from runner.service.runs import RunRequest

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent


# -- receivers ---------------------------------------------------------------------------------


class Webhook:
    """A real HTTP server on 127.0.0.1: /ok answers 200, /fail 500, /hang never answers;
    while `down` is set, every path answers 500."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.release = threading.Event()
        self.down = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                hook.posts.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
                if self.path.startswith("/hang"):
                    hook.release.wait(30)
                status = 500 if hook.down or self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def titles(self, path: str) -> list[str]:
        return [post["title"] for where, post in self.posts if where == f"/{path}"]

    def messages(self, path: str) -> list[str]:
        return [post["message"] for where, post in self.posts if where == f"/{path}"]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, keeping every message it accepts."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        box = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                box.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self, *to: str) -> str:
        # mailto:// (not mailtos://) to a host without a known provider template is plain
        # SMTP without TLS or login: what a local relay on port 25 speaks.
        return f"mailto://127.0.0.1:{self.port}?from=runbook@example.com&to={','.join(to)}"

    def close(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def webhook() -> Any:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def mailbox() -> Any:
    pytest.importorskip("aiosmtpd")
    box = Mailbox()
    yield box
    box.close()


# -- a runbook with a gauge the test turns ----------------------------------------------------

RUNBOOK = """
runbook: gauge
title: The gauge check
connection: main
concurrency: allow
notify:
{notify}
steps:
  - id: gauge
    title: Gauge level
    sql: SELECT level AS level FROM gauge
    thresholds:
      level: {{warning: 10, critical: 50}}
    hint: |
      Lower the gauge:
        UPDATE gauge SET level = 0
"""


class Pipeline:
    """Run the gauge runbook at a level, then announce it at a chosen time."""

    def __init__(self, project: Any, urls: dict[str, list[str]], notify: str, **extra: Any) -> None:
        self.project = project
        settings = {"urls": urls, "timeout": "1s", "attempts": 1, **extra}
        project.config(
            "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n"
            f"notifications: {json.dumps(settings)}\n"
        )
        project.sql("CREATE TABLE gauge (level INTEGER)", "INSERT INTO gauge VALUES (0)")
        project.runbook("gauge", RUNBOOK.format(notify=textwrap.indent(notify.strip(), "  ")))
        self.library = project.library()
        self.runbook = self.library.runbook("gauge")

    def run(self, level: int, minutes: float = 0) -> tuple[Any, list[dict[str, Any]]]:
        """Run the gauge at `level`, announced `minutes` after T0; the alert deliveries."""
        self.project.sql(f"UPDATE gauge SET level = {level}")
        service = self.project.service(clock=lambda: T0 + timedelta(minutes=minutes))
        result = service.run(RunRequest("gauge"))
        return result, [d for d in result.notifications if d["kind"] != "message"]

    def store(self) -> StateStore:
        return StateStore(self.library.config.state)


def kinds(sent: list[dict[str, Any]]) -> list[str]:
    return [
        f"{d['kind']} {d['status']} {','.join(d['tags'])} {'ok' if d['ok'] else 'FAILED'}"
        for d in sent
    ]


# -- scenarios ---------------------------------------------------------------------------------


def test_email_reaches_the_smtp_server_with_recipients_subject_and_body(
    project: Any, mailbox: Mailbox
) -> None:
    pipeline = Pipeline(
        project,
        {"ops": [mailbox.url("ops@example.com", "lead@example.com")]},
        "critical: [ops]",
    )
    result, sent = pipeline.run(level=70)
    assert kinds(sent) == ["new CRITICAL ops ok"]
    assert {tuple(m.rcpt_tos) for m in mailbox.messages} == {
        ("ops@example.com",),
        ("lead@example.com",),
    }
    mail = message_from_bytes(mailbox.messages[0].content, policy=policy.default)
    assert mail["Subject"] == f"[CRITICAL] gauge: 1 check failing on {socket.gethostname()}"
    assert mail["From"] == "runbook@example.com"
    text = mail.get_body(("plain",)).get_content()
    assert "level = 70 > critical 50" in text
    assert "UPDATE gauge SET level = 0" in text  # the hint
    assert f"runbook history --run {result.run_id}" in text
    html = mail.get_body(("html",)).get_content()
    assert "<strong>gauge</strong>" in html  # markdown became HTML for email


def test_first_alert_only_after_n_bad_runs_then_silence(project: Any, webhook: Webhook) -> None:
    pipeline = Pipeline(project, {"ops": [webhook.url("ops")]}, "critical: [ops]\nafter: 3")
    said = [kinds(pipeline.run(level=70, minutes=m)[1]) for m in (0, 60, 120, 180)]
    assert said == [[], [], ["new CRITICAL ops ok"], []]
    assert len(webhook.titles("ops")) == 1


def test_repeat_is_suppressed_until_the_interval_has_passed(project: Any, webhook: Webhook) -> None:
    pipeline = Pipeline(project, {"ops": [webhook.url("ops")]}, "warning: [ops]\nrepeat: 4h")
    said = [kinds(pipeline.run(level=20, minutes=m)[1]) for m in (0, 60, 239, 240)]
    assert said == [["new WARNING ops ok"], [], [], ["repeat WARNING ops ok"]]
    host = socket.gethostname()
    assert webhook.titles("ops") == [
        f"[WARNING] gauge: 1 check failing on {host}",
        f"[WARNING] gauge: still 1 check failing on {host} (for 4h)",
    ]


def test_escalation_goes_to_its_tags_once(project: Any, webhook: Webhook) -> None:
    pipeline = Pipeline(
        project,
        {"ops": [webhook.url("ops")], "manager": [webhook.url("manager")]},
        "critical: [ops]\nescalate: {after: 30m, to: [manager]}",
    )
    said = [kinds(pipeline.run(level=90, minutes=m)[1]) for m in (0, 20, 31, 120)]
    assert said == [["new CRITICAL ops ok"], [], ["escalation CRITICAL manager ok"], []]
    [title] = webhook.titles("manager")
    assert title.startswith("[ESCALATED] [CRITICAL] gauge: 1 check failing") and "for 31m" in title


def test_an_escalation_ladder_tells_each_stage_once_and_a_lost_stage_again(
    project: Any, webhook: Webhook
) -> None:
    """Seed 002's ladder: the developers after 30 minutes, management after 2 hours. A
    stage whose message reached nobody is sent again by the next run (that stage, not the
    one before it, which was heard)."""
    dead = f"json://127.0.0.1:{free_port()}/management"
    pipeline = Pipeline(
        project,
        {"ops": [webhook.url("ops")], "dev": [webhook.url("dev")], "management": [dead]},
        "critical: [ops]\nescalate:\n  - {after: 30m, to: [dev]}\n  - {after: 2h, to: [management]}",
    )
    said = [kinds(pipeline.run(level=90, minutes=m)[1]) for m in (0, 31, 60, 121)]
    assert said[:3] == [["new CRITICAL ops ok"], ["escalation CRITICAL dev ok"], []]
    assert [kind.rsplit(" ", 1)[0] for kind in said[3]] == ["escalation CRITICAL management"]
    assert not said[3][0].endswith(" ok")  # nobody took it
    again = kinds(pipeline.run(level=90, minutes=150)[1])
    assert [kind.rsplit(" ", 1)[0] for kind in again] == ["escalation CRITICAL management"]
    assert len(webhook.titles("dev")) == 1  # the developers heard once


def test_recovery_is_announced_once_naming_how_long_it_was_bad(
    project: Any, webhook: Webhook
) -> None:
    pipeline = Pipeline(project, {"ops": [webhook.url("ops")]}, "critical: [ops]\nrecovered: [ops]")
    said = [
        kinds(pipeline.run(level, minutes=m)[1])
        for level, m in ((90, 0), (90, 60), (0, 125), (0, 185))
    ]
    assert said == [["new CRITICAL ops ok"], [], ["recovered OK ops ok"], []]
    recovered = [post for path, post in webhook.posts if post["type"] == "success"]
    assert len(recovered) == 1
    assert recovered[0]["title"].endswith("(was CRITICAL for 2h5m)")
    assert "It was CRITICAL for 2h5m since 2026-11-24 09:00 UTC." in recovered[0]["message"]


def test_downgrade_tells_both_severities(project: Any, webhook: Webhook) -> None:
    pipeline = Pipeline(
        project,
        {"ops": [webhook.url("ops")], "oncall": [webhook.url("oncall")]},
        "warning: [ops]\ncritical: [oncall]",
    )
    said = [kinds(pipeline.run(level, minutes=m)[1]) for level, m in ((90, 0), (20, 10))]
    assert said == [
        ["new CRITICAL oncall ok"],
        ["better WARNING ops ok", "better WARNING oncall ok"],
    ]
    assert webhook.titles("oncall")[-1].endswith("(was CRITICAL)")


def test_smtp_down_is_recorded_and_the_next_run_tries_again(project: Any, webhook: Webhook) -> None:
    dead = f"mailto://127.0.0.1:{free_port()}?from=runbook@example.com&to=ops@example.com"
    pipeline = Pipeline(project, {"ops": [dead]}, "critical: [ops]")
    result, sent = pipeline.run(level=70)
    assert result.exit_code == 2  # the run's status, not the notifier's
    [delivery] = sent
    assert delivery["ok"] is False and delivery["url"].startswith("mailto://127.0.0.1:")
    assert delivery["error"]
    with pipeline.store() as store:
        recorded = store.get_run(result.run_id)
        assert recorded["status"] == "CRITICAL"
        assert [(d["kind"], d["ok"], d["error"]) for d in recorded["notifications"]] == [
            ("new", False, delivery["error"])
        ]
        [state] = store.alert_states("gauge")
        assert state["announced"] == "CRITICAL" and state["last_sent"] is None
    _, again = pipeline.run(level=70, minutes=10)
    assert kinds(again) == ["repeat CRITICAL ops FAILED"]


def test_webhook_answering_500_is_retried_then_recorded(project: Any, webhook: Webhook) -> None:
    pipeline = Pipeline(project, {"ops": [webhook.url("fail")]}, "critical: [ops]", attempts=2)
    _, sent = pipeline.run(level=70)
    [delivery] = sent
    assert (delivery["ok"], delivery["attempts"]) == (False, 2)
    assert "500" in delivery["error"]
    assert len(webhook.titles("fail")) == 2


def test_a_hanging_webhook_cannot_hold_the_run(project: Any, webhook: Webhook) -> None:
    pipeline = Pipeline(
        project,
        {"ops": [webhook.url("hang"), webhook.url("ok")]},
        "critical: [ops]",
        timeout="300ms",
        attempts=2,
    )
    result, sent = pipeline.run(level=70)
    by_url = {d["url"].rsplit("/", 1)[1]: d for d in sent}
    assert by_url["ok"]["ok"] is True
    hung = by_url["hang"]
    assert hung["ok"] is False and hung["attempts"] == 2
    assert "error occurred" in hung["error"] or "did not finish" in hung["error"]
    # Both attempts ended on their own timeout (the error says so), not on the
    # server, which would have answered only when the test released it.
    assert not webhook.release.is_set()
    with pipeline.store() as store:
        assert store.get_run(result.run_id)["outcome"] == "completed"


def test_secrets_in_urls_and_messages_are_masked(
    project: Any, webhook: Webhook, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-t0ken")
    pipeline = Pipeline(
        project,
        {"ops": [f"json://bot:${{HOOK_TOKEN}}@127.0.0.1:{webhook.port}/fail"]},
        "critical: [ops]",
    )
    _, sent = pipeline.run(level=70)
    [delivery] = sent
    assert "s3cr3t" not in json.dumps(sent)
    assert delivery["url"] == f"json://bot:***@127.0.0.1:{webhook.port}/fail"


def test_step_alert_routes_its_own_problems(project: Any, webhook: Webhook) -> None:
    project.config("connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n")
    urls = {"ops": [webhook.url("ops")], "dba": [webhook.url("dba")]}
    pipeline = Pipeline(project, urls, "critical: [ops]")
    project.runbook(
        "gauge",
        RUNBOOK.format(notify="  critical: [ops]")
        + "\n  - id: db\n    sql: SELECT 99 AS level\n    thresholds:\n      level: {critical: 50}\n"
        "    alert: {critical: [dba], title: '{{ alert.status }} db {{ run.id }}'}\n",
    )
    pipeline.library = project.library()
    pipeline.runbook = pipeline.library.runbook("gauge")
    result, sent = pipeline.run(level=0)
    assert kinds(sent) == ["new CRITICAL dba ok"]
    assert webhook.titles("dba") == [f"CRITICAL db {result.run_id}"]
    assert webhook.titles("ops") == []


def test_notify_step_sends_through_the_same_path_and_is_recorded(
    project: Any, webhook: Webhook
) -> None:
    pipeline = Pipeline(project, {"ops": [webhook.url("ops")], "dead": [webhook.url("fail")]}, "{}")
    project.runbook(
        "told",
        """
        runbook: told
        steps:
          - id: tell
            notify: {to: [ops, dead], title: "Batch {{ run.id }} applied", body: "**3** orders"}
        """,
    )
    result = project.run("told")
    assert result.exit_code == 0  # a failing notifier does not fail the step
    assert result.steps[0].values["sent"] is True and result.steps[0].values["failed"] == 1
    assert webhook.titles("ops") == [f"Batch {result.run_id} applied"]
    with pipeline.store() as store:
        recorded = store.deliveries(result.run_id)
    # The two services are sent to at once, so their order is not fixed.
    assert sorted(
        (d["kind"], d["subject"], d["url"].rsplit("/", 1)[1], d["ok"]) for d in recorded
    ) == [
        ("message", "tell", "fail", False),
        ("message", "tell", "ops", True),
    ]


def test_dry_runs_and_rehearsals_change_no_alert_state(project: Any, webhook: Webhook) -> None:
    pipeline = Pipeline(project, {"ops": [webhook.url("ops")]}, "critical: [ops]")
    project.sql("UPDATE gauge SET level = 70")
    result = project.run("gauge", mode="rehearse", clock=lambda: T0)
    assert result.notifications == []
    with pipeline.store() as state:
        assert state.alert_states("gauge") == []
    assert webhook.posts == []


# -- per failing step: a new problem inside an open incident --------------------------------

BACKLOG_STEP = """
  - id: backlog
    title: Order backlog
    sql: SELECT depth AS depth FROM backlog
    thresholds:
      depth: {critical: 100}
"""


def two_checks(project: Any, webhook: Webhook, notify: str) -> Pipeline:
    """The gauge runbook with a second check, `backlog`, whose depth the test sets."""
    pipeline = Pipeline(project, {"ops": [webhook.url("ops")]}, notify)
    project.sql("CREATE TABLE backlog (depth INTEGER)", "INSERT INTO backlog VALUES (0)")
    indented = textwrap.indent(notify.strip(), "  ")
    project.runbook("gauge", RUNBOOK.format(notify=indented) + BACKLOG_STEP)
    pipeline.library = project.library()
    pipeline.runbook = pipeline.library.runbook("gauge")
    return pipeline


def test_a_check_failing_inside_an_open_incident_is_told_once_and_partial_recovery_is_not(
    project: Any, webhook: Webhook
) -> None:
    pipeline = two_checks(project, webhook, "critical: [ops]\nrecovered: [ops]\nrepeat: 4h")
    said = []
    for level, depth, minutes in (
        (90, 0, 0),
        (90, 500, 10),
        (90, 500, 20),
        (0, 500, 30),
        (0, 0, 40),
    ):
        project.sql(f"UPDATE backlog SET depth = {depth}")
        said.append(kinds(pipeline.run(level, minutes=minutes)[1]))
    assert said == [
        ["new CRITICAL ops ok"],
        ["spread CRITICAL ops ok"],
        [],
        [],  # gauge is fine again, backlog is not: the runbook is still CRITICAL
        ["recovered OK ops ok"],
    ]
    host = socket.gethostname()
    assert webhook.titles("ops") == [
        f"[CRITICAL] gauge: 1 check failing on {host}",
        f"[CRITICAL] gauge: 1 more check failing (backlog) on {host}",
        f"[RECOVERED] gauge: OK again on {host} (was CRITICAL for 40m)",
    ]
    spread = webhook.messages("ops")[1]
    assert "and now 1 more check is failing: **backlog**." in spread
    assert "**backlog** (Order backlog): CRITICAL, newly failing" in spread
    assert "depth = 500 > critical 100" in spread
    assert "**gauge** (Gauge level): CRITICAL\n" in spread  # listed, not marked new
    with pipeline.store() as store:
        [state] = store.alert_states("gauge")
    assert (state["announced"], state["failing"]) == (None, [])


def test_a_spread_that_reached_nobody_is_sent_again_as_a_spread(
    project: Any, webhook: Webhook
) -> None:
    pipeline = two_checks(project, webhook, "critical: [ops]")
    _, first = pipeline.run(level=90, minutes=0)
    project.sql("UPDATE backlog SET depth = 500")
    webhook.down = True
    _, lost = pipeline.run(level=90, minutes=10)
    webhook.down = False
    _, again = pipeline.run(level=90, minutes=20)
    _, quiet = pipeline.run(level=90, minutes=30)
    assert [kinds(first), kinds(lost), kinds(again), kinds(quiet)] == [
        ["new CRITICAL ops ok"],
        ["spread CRITICAL ops FAILED"],
        ["spread CRITICAL ops ok"],
        [],
    ]
    assert webhook.titles("ops")[-1].endswith(
        "1 more check failing (backlog) on " + socket.gethostname()
    )
    with pipeline.store() as store:
        [state] = store.alert_states("gauge")
    assert state["failing"] == ["gauge", "backlog"]


# -- two processes finishing at once ---------------------------------------------------------

RACER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from runner.language.config import load_config
from runner.service.runs import RunRequest, RunService

root, go = Path(sys.argv[1]), Path(sys.argv[2])


def when_both_are_ready():
    # the run service asks the time as it announces: hold until the other process is here too
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    return datetime.now(UTC)


service = RunService(
    load_config(root / "runner.yaml"), sleep=lambda s: None, interactive=False,
    clock=when_both_are_ready,
)
result = service.run(RunRequest("gauge"))
print(len([d for d in result.notifications if d["kind"] != "message"]), flush=True)
"""


def test_two_processes_finishing_at_once_send_one_alert(project: Any, webhook: Webhook) -> None:
    Pipeline(project, {"ops": [webhook.url("ops")]}, "critical: [ops]")
    project.sql("UPDATE gauge SET level = 70")
    go = project.root / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(project.root), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for racer in racers:
        assert racer.stdout.readline() == "ready\n", racer.stderr.read()
    go.touch()  # both runs are recorded; now both announce at the same moment
    counts = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        counts.append(int(out.strip()))
    assert sorted(counts) == [0, 1]
    assert len(webhook.titles("ops")) == 1
    with StateStore(project.root / "var" / "runner.db") as store:
        assert len(store.history("gauge")) == 2
        [state] = store.alert_states("gauge")
        assert state["streak"] == 2 and state["announced"] == "CRITICAL"
