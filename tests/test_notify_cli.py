"""Notifications on the command line: run, notify-test, validate, and failing fast on bad config."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_announce import Webhook

from runner.cli import main

RUNBOOK = """
runbook: gauge
connection: main
notify:
  critical: [ops]
  recovered: [ops]
steps:
  - id: gauge
    sql: SELECT 70 AS level
    thresholds:
      level: {warning: 10, critical: 50}
"""


@pytest.fixture
def webhook() -> Any:
    hook = Webhook()
    yield hook
    hook.close()


def configure(project: Any, notifications: str) -> None:
    project.config(
        "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n"
        f"notifications:\n{notifications}"
    )


def cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_announces_after_recording_and_shows_the_deliveries(
    project: Any, webhook: Webhook, capsys: Any
) -> None:
    configure(
        project, f"  urls:\n    ops: [{webhook.url('ok')}]\n    dead: [{webhook.url('fail')}]\n"
    )
    project.runbook("gauge", RUNBOOK.replace("critical: [ops]", "critical: [ops, dead]"))
    code, out, err = cli(capsys, "run", "gauge")
    assert code == 2, err  # the run's status, though one service failed
    assert "Notifications:" in out
    assert f"sent    new CRITICAL to ops: json://127.0.0.1:{webhook.port}/ok" in out
    assert f"FAILED  new CRITICAL to dead: json://127.0.0.1:{webhook.port}/fail: " in out
    assert "error=500" in out
    code, out, _ = cli(capsys, "run", "gauge", "--format", "json")
    data = json.loads(out)
    assert code == 2 and data["notifications"] == []  # unchanged: nothing new to say
    code, out, _ = cli(capsys, "history", "--run", data["run_id"][:-1], "--format", "json")
    assert json.loads(out)["notifications"] == []


def test_json_output_lists_each_delivery(project: Any, webhook: Webhook, capsys: Any) -> None:
    configure(project, f"  urls:\n    ops: [{webhook.url('ok')}]\n")
    project.runbook("gauge", RUNBOOK)
    code, out, _ = cli(capsys, "run", "gauge", "--format", "json")
    [delivery] = json.loads(out)["notifications"]
    assert code == 2
    assert delivery == {
        **delivery,
        "kind": "new",
        "subject": "",
        "status": "CRITICAL",
        "tags": ["ops"],
        "url": f"json://127.0.0.1:{webhook.port}/ok",
        "ok": True,
        "error": None,
        "attempts": 1,
    }
    assert set(delivery) == {
        "kind", "subject", "status", "tags", "url", "ok", "error", "attempts", "title", "at",
        "duration",
    }  # fmt: skip


def test_notify_test_reports_each_service(project: Any, webhook: Webhook, capsys: Any) -> None:
    configure(
        project,
        f"  urls:\n    ops: [{webhook.url('ok')}, {webhook.url('fail')}]\n  attempts: 1\n",
    )
    code, out, err = cli(capsys, "notify-test", "ops")
    assert code == 1, err
    lines = out.strip().splitlines()
    assert f"sent    test to ops: json://127.0.0.1:{webhook.port}/ok" in lines
    assert any(
        line.startswith(f"FAILED  test to ops: json://127.0.0.1:{webhook.port}/fail: ")
        and "error=500" in line
        for line in lines
    )
    assert lines[-1] == "1 of 2 services accepted the message"
    [title] = webhook.titles("ok")
    assert title.startswith("[TEST] runbook notify-test ops from ")


def test_notify_test_of_an_unknown_tag_names_the_known_ones(
    project: Any, webhook: Webhook, capsys: Any
) -> None:
    configure(project, f"  urls:\n    ops: [{webhook.url('ok')}]\n")
    code, _, err = cli(capsys, "notify-test", "opps")
    assert code == 3
    assert "no notification service is tagged opps; known tags: ops" in err
    assert webhook.posts == []


def test_apprise_files_route_by_their_tags(project: Any, webhook: Webhook, capsys: Any) -> None:
    project.write("notify.txt", f"# Apprise TEXT format\nops,oncall={webhook.url('ok')}\n")
    project.write(
        "notify.yml",
        f"urls:\n  - {webhook.url('yaml')}:\n      - tag: dba\n",
    )
    configure(project, "  apprise: [notify.txt, notify.yml]\n")
    code, out, _ = cli(capsys, "notify-test", "oncall,dba", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert sorted(d["url"].rsplit("/", 1)[1] for d in data["notifications"]) == ["ok", "yaml"]


@pytest.mark.parametrize(
    ("notifications", "files", "expected"),
    [
        (
            "  urls:\n    ops: ['nosuch://x']\n",
            {},
            "runner.yaml:6:11: error: notifications.urls.ops[0]: Apprise cannot load 'nosuch://x'",
        ),
        (
            "  urls:\n    ops: ['json://${NOTIFY_HOST_UNSET}/x']\n",
            {},
            "runner.yaml:6:11: error: notifications.urls.ops[0]: environment variable "
            "NOTIFY_HOST_UNSET is not set",
        ),
        (
            "  apprise: missing.yml\n",
            {},
            "runner.yaml:5:12: error: notifications.apprise: cannot read the Apprise "
            "configuration missing.yml: No such file or directory",
        ),
        (
            "  apprise: notify.txt\n",
            {"notify.txt": "ops=json://127.0.0.1/x\nops=nosuch://y\n"},
            "notify.txt:2: error: Unparseable URL nosuch://y",
        ),
        (
            "  apprise: notify.txt\n",
            {"notify.txt": "ops = json://127.0.0.1/x\n"},
            "notify.txt:1: error: Undetectable Apprise configuration found based on line 1.",
        ),
        (
            "  urls:\n    ops: ['json://127.0.0.1/x']\n  policy: {critical: [opps]}\n",
            {},
            "runner.yaml:7:22: error: notifications.policy.critical: unknown notification tag 'opps'",
        ),
    ],
    ids=[
        "invalid-url",
        "unset-variable",
        "unreadable-file",
        "bad-line-in-file",
        "not-apprise-format",
        "unknown-policy-tag",
    ],
)
def test_bad_configuration_refuses_the_run_before_it_starts(
    project: Any, capsys: Any, monkeypatch: Any, notifications: str, files: dict, expected: str
) -> None:
    monkeypatch.delenv("NOTIFY_HOST_UNSET", raising=False)
    for name, text in files.items():
        project.write(name, text)
    configure(project, notifications)
    project.runbook("gauge", RUNBOOK)
    code, out, err = cli(capsys, "run", "gauge")
    assert code == 3
    assert expected in err
    # Nothing ran, and stdout says so in one line, as a monitor reads it (issue 10).
    reason = err.removeprefix("runbook: ").splitlines()[0]
    assert out == f"gauge: UNKNOWN - invalid: {reason}\n" and expected in out
    assert not (project.root / "var" / "runner.db").exists() or "gauge" not in json.dumps(
        cli(capsys, "history", "--format", "json")[1]
    )


def test_validate_reports_unknown_tags_with_line_and_hint(project: Any, capsys: Any) -> None:
    configure(
        project, "  urls:\n    ops: ['json://127.0.0.1/x']\n    oncall: ['json://127.0.0.1/y']\n"
    )
    project.runbook(
        "gauge",
        RUNBOOK.replace("critical: [ops]", "critical: [ops, oncal]")
        + "  - id: tell\n    notify: {to: pager, title: hi}\n"
        + "  - id: db\n    sql: SELECT 1\n    alert: {critical: [dba], after: 5 of 3}\n",
    )
    code, out, _ = cli(capsys, "validate", "runbooks")
    assert code == 1
    assert out.replace(str(project.root), "{root}").splitlines() == [
        "runbooks/gauge.yaml:4:13: error: notify.critical: unknown notification tag 'oncal' (did you mean 'oncall'?)",
        "runbooks/gauge.yaml:12:18: error: steps[1].notify.to: unknown notification tag 'pager' (known tags: oncall, ops (in {root}/runner.yaml))",
        "runbooks/gauge.yaml:15:23: error: steps[2].alert.critical: unknown notification tag 'dba' (known tags: oncall, ops (in {root}/runner.yaml))",
        "runbooks/gauge.yaml:15:37: error: steps[2].alert.after: after: '5 of 3' must be N of M with 1 <= N <= M <= 50, such as '3 of 5'",
        "4 errors, 0 warnings in 1 file",
    ]


def test_validate_without_notifications_configured_checks_no_tags(
    project: Any, capsys: Any
) -> None:
    project.runbook("gauge", RUNBOOK)
    code, out, _ = cli(capsys, "validate", "runbooks")
    assert (code, out.strip()) == (0, "1 file valid")


def test_rehearsal_and_dry_run_send_nothing(project: Any, webhook: Webhook, capsys: Any) -> None:
    configure(project, f"  urls:\n    ops: [{webhook.url('ok')}]\n")
    project.runbook("gauge", RUNBOOK + "  - id: tell\n    notify: {to: ops, title: hi}\n")
    for mode in ("--rehearse", "--dry-run"):
        code, out, _ = cli(capsys, "run", "gauge", mode)
        assert "Notifications:" not in out
    assert webhook.posts == []
