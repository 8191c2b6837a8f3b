"""`runbook metrics` (issue 14, point 3): the Prometheus exposition of a real SQLite store
filled by real runs: statuses, durations, runs by status, the late flag, each threshold's
value and limits; parsed back by prometheus_client, checked by `promtool check metrics`
(Debian's prometheus), and written atomically for node_exporter's textfile collector."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import sleep
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
from dashboard import running_dashboard
from prometheus_client.parser import text_string_to_metric_families

from runner.cli import main
from runner.service.metrics import metrics_text

SECRET = "tok-Quetzal9137"

ORDERS = """
runbook: orders
title: Orders
schedule: "0 * * * *"
connection: main
concurrency: allow
inputs:
  count: {type: integer, default: 2}
  token: {type: string, secret: true, default: none}
steps:
  - id: pending
    sql: "SELECT {{ inputs.count }} AS pending_count, 7 AS oldest_minutes"
    thresholds:
      pending_count: {warning: 10, critical: 50}
      oldest_minutes: {critical: 240}
    hint: "token {{ inputs.token }}"
  - id: disk
    sql: SELECT 30 AS free_gb, 'n/a' AS label
    thresholds:
      free_gb: {warning: 5, critical: 2, direction: below}
"""

# never ran; its file was written a day ago and it is due every 10 minutes: LATE
FORGOTTEN = """
runbook: forgotten
schedule: "*/10 * * * *"
connection: main
steps:
  - id: one
    sql: SELECT 1 AS n
"""

# no schedule: no late flag at all
ADHOC = """
runbook: adhoc
connection: main
steps:
  - id: one
    sql: SELECT 1 AS n
    thresholds:
      n: {critical: 0}
"""


@pytest.fixture
def filled(project):
    project.runbook("orders", ORDERS)
    project.runbook("adhoc", ADHOC)
    path = project.runbook("forgotten", FORGOTTEN)
    day_ago = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    os.utime(path, (day_ago, day_ago))
    assert project.run("orders", {"count": 60, "token": SECRET}).status == "CRITICAL"
    assert project.run("orders", {"count": 2, "token": SECRET}).status == "OK"
    last = project.run("orders", {"count": 12, "token": SECRET})
    assert last.status == "WARNING"
    # a rehearsal is recorded, but it is not a real run: the metrics leave it out
    assert project.run("orders", {"count": 99}, mode="rehearse").status == "CRITICAL"
    assert project.run("adhoc").status == "CRITICAL"
    return project


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, parsed back by prometheus_client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def test_each_runbook_has_its_last_status_runs_by_status_and_late_flag(filled):
    found = samples(metrics_text(filled.library()))
    assert value(found, "runbook_last_status", runbook="orders") == 1  # WARNING
    assert value(found, "runbook_last_status", runbook="adhoc") == 2  # CRITICAL
    assert value(found, "runbook_last_status", runbook="forgotten") is None  # never ran
    for status, count in (("OK", 1), ("WARNING", 1), ("CRITICAL", 1), ("UNKNOWN", 0)):
        assert value(found, "runbook_stored_runs", runbook="orders", status=status) == count
    assert value(found, "runbook_stored_runs", runbook="forgotten", status="OK") == 0
    assert value(found, "runbook_late", runbook="forgotten") == 1
    assert value(found, "runbook_late", runbook="orders") == 0  # ran just now
    assert value(found, "runbook_late", runbook="adhoc") is None  # no schedule
    assert value(found, "runbook_last_run_duration_seconds", runbook="orders") >= 0


def test_timestamps_are_those_of_the_store(filled):
    from runner.history.store import StateStore

    with StateStore(filled.root / "var" / "runner.db") as store:
        last = store.last_run("orders")
        success = store.last_run("orders", status="OK")
    found = samples(metrics_text(filled.library()))
    started = datetime.fromisoformat(last["started"]).timestamp()
    ended = datetime.fromisoformat(success["ended"]).timestamp()
    assert value(found, "runbook_last_run_timestamp_seconds", runbook="orders") == started
    assert value(found, "runbook_last_success_timestamp_seconds", runbook="orders") == ended
    assert value(found, "runbook_last_success_timestamp_seconds", runbook="adhoc") is None


def test_each_threshold_of_the_last_run_has_its_value_and_the_limits_it_has(filled):
    found = samples(metrics_text(filled.library()))
    pending = {"runbook": "orders", "step": "pending", "threshold": "pending_count"}
    pending["direction"] = "above"
    assert value(found, "runbook_threshold_value", **pending) == 12  # the last run's
    assert value(found, "runbook_threshold_warning", **pending) == 10
    assert value(found, "runbook_threshold_critical", **pending) == 50
    assert value(found, "runbook_threshold_status", **pending) == 1
    oldest = {**pending, "threshold": "oldest_minutes"}
    assert value(found, "runbook_threshold_value", **oldest) == 7
    assert value(found, "runbook_threshold_critical", **oldest) == 240
    assert value(found, "runbook_threshold_warning", **oldest) is None  # not set
    free = {"runbook": "orders", "step": "disk", "threshold": "free_gb", "direction": "below"}
    assert value(found, "runbook_threshold_value", **free) == 30
    assert value(found, "runbook_threshold_warning", **free) == 5
    assert value(found, "runbook_threshold_critical", **free) == 2
    assert value(found, "runbook_threshold_status", **free) == 0


def test_a_threshold_without_a_number_has_its_limits_and_status_but_no_value(project):
    project.runbook(
        "text",
        """
        runbook: text
        connection: main
        steps:
          - id: probe
            sql: SELECT 'n/a' AS label
            thresholds:
              label: {critical: 1}
        """,
    )
    assert project.run("text").status == "UNKNOWN"
    found = samples(metrics_text(project.library()))
    labels = {"runbook": "text", "step": "probe", "threshold": "label", "direction": "above"}
    assert value(found, "runbook_threshold_value", **labels) is None
    assert value(found, "runbook_threshold_critical", **labels) == 1
    assert value(found, "runbook_threshold_status", **labels) == 3
    assert value(found, "runbook_last_status", runbook="text") == 3


def test_a_nested_step_is_named_by_its_path_and_for_each_items_are_left_out(project):
    project.runbook(
        "nested",
        """
        runbook: nested
        connection: main
        steps:
          - id: outer
            steps:
              - id: inner
                sql: SELECT 4 AS depth
                thresholds:
                  depth: {warning: 3}
          - id: each
            for_each: [1, 2, 3]
            steps:
              - id: probe
                sql: SELECT {{ item }} AS v
                thresholds:
                  v: {critical: 2}
        """,
    )
    assert project.run("nested").status == "CRITICAL"  # item 3
    found = samples(metrics_text(project.library()))
    inner = {"runbook": "nested", "step": "outer.inner", "threshold": "depth"}
    assert value(found, "runbook_threshold_value", **inner, direction="above") == 4
    assert value(found, "runbook_threshold_status", **inner, direction="above") == 1
    steps = {dict(labels).get("step") for _, labels in found}
    assert steps == {None, "outer.inner"}  # one series per item would have no bound


def test_the_exposition_has_help_and_type_lines_and_no_secret(filled):
    text = metrics_text(filled.library())
    assert SECRET not in text
    assert "token" not in text  # the hint is not a metric
    for name, kind in (
        ("runbook_last_status", "gauge"),
        ("runbook_last_run_duration_seconds", "gauge"),
        ("runbook_last_run_timestamp_seconds", "gauge"),
        ("runbook_last_success_timestamp_seconds", "gauge"),
        ("runbook_stored_runs", "gauge"),
        ("runbook_late", "gauge"),
        ("runbook_threshold_value", "gauge"),
        ("runbook_threshold_warning", "gauge"),
        ("runbook_threshold_critical", "gauge"),
        ("runbook_threshold_status", "gauge"),
    ):
        assert f"# HELP {name} " in text
        assert f"# TYPE {name} {kind}\n" in text


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: scripts/test installs Debian's prometheus")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_promtool_check_metrics_passes(filled):
    checked = subprocess.run(
        [promtool(), "check", "metrics"],
        input=metrics_text(filled.library()),
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""  # not even a lint warning


def test_runbook_metrics_prints_the_exposition(filled, capsys):
    assert main(["metrics"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert samples(out) == samples(metrics_text(filled.library()))


def test_textfile_is_written_whole_and_readable_by_node_exporter(filled, tmp_path, capsys):
    folder = tmp_path / "textfile"
    folder.mkdir()
    target = folder / "runbook.prom"
    target.write_text("# an older scrape\n", encoding="utf-8")
    with target.open(encoding="utf-8") as reader:  # node_exporter, reading as it is replaced
        assert main(["metrics", "--textfile", str(target)]) == 0
        assert reader.read() == "# an older scrape\n"  # a new file renamed over, not rewritten
    assert capsys.readouterr().out == ""
    assert samples(target.read_text(encoding="utf-8")) == samples(metrics_text(filled.library()))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(path.name for path in folder.iterdir()) == ["runbook.prom"]  # no temp left


def test_textfile_in_a_folder_that_cannot_be_written_is_an_error_naming_it(
    filled, tmp_path, capsys
):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):  # root writes anywhere: a missing folder instead
            folder = tmp_path / "missing"
        target = folder / "runbook.prom"
        assert main(["metrics", "--textfile", str(target)]) == 3
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"runbook: --textfile {target}: cannot write it: ")
        assert "Traceback" not in err
        assert not target.exists()
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_textfile_that_cannot_replace_its_path_leaves_no_temporary_file(filled, tmp_path, capsys):
    folder = tmp_path / "textfile"
    target = folder / "runbook.prom"
    target.mkdir(parents=True)  # a folder in the way: the rename fails, not the write
    assert main(["metrics", "--textfile", str(target)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"runbook: --textfile {target}: cannot write it: ")
    assert [path.name for path in folder.iterdir()] == ["runbook.prom"]
    assert target.is_dir()


def test_textfile_must_be_a_prom_file(filled, tmp_path, capsys):
    target = tmp_path / "runbook.txt"
    assert main(["metrics", "--textfile", str(target)]) == 3
    err = capsys.readouterr().err
    assert "name it *.prom" in err and str(target) in err
    assert not target.exists()


def test_help_lists_the_metrics_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "metrics" in capsys.readouterr().out


def test_the_readme_alerting_rules_pass_promtool_and_name_metrics_that_exist(filled, tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Metrics") : readme.index("## Scheduling")]
    (rules,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    path = tmp_path / "runbook.rules.yml"
    path.write_text(rules, encoding="utf-8")
    checked = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout
    text = metrics_text(filled.library())
    for name in set(re.findall(r"\b(runbook_[a-z_]+)", rules)):
        assert f"# TYPE {name} gauge\n" in text


# -- a real Prometheus scrapes the exposition and answers the README's rules ---------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_real_prometheus_scrapes_it_and_the_readme_rules_find_what_they_should(filled, tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is missing: scripts/test installs Debian's prometheus")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    dashboard = running_dashboard(filled.root)  # `runbook serve`, whose /metrics it scrapes
    port = int(dashboard.__enter__().rsplit(":", 1)[1])
    web = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: runbook\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n",
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )

    def query(expression: str) -> list[dict]:
        url = f"http://127.0.0.1:{web}/api/v1/query?" + urlencode({"query": expression})
        with urlopen(url, timeout=5) as answer:
            return json.load(answer)["data"]["result"]

    try:
        scraped: list[dict] = []
        for _ in range(600):  # a bound on a loaded machine, not an assertion on time
            with suppress(OSError):
                scraped = query('up{job="runbook"} == 1 and on() runbook_stored_runs')
            if scraped or server.poll() is not None:
                break
            sleep(0.1)
        log = (tmp_path / "prometheus.log").read_text(encoding="utf-8", errors="replace")
        assert scraped, f"Prometheus never scraped the exposition: {log[-2000:]}"

        def runbooks(expression: str) -> list[tuple[str, ...]]:
            found = query(expression)
            return sorted(
                tuple(row["metric"].get(key, "") for key in ("runbook", "threshold"))
                for row in found
            )

        assert runbooks("runbook_last_status == 2") == [("adhoc", "")]
        assert runbooks("runbook_late == 1") == [("forgotten", "")]
        near = 'runbook_threshold_value{direction="above"} > 0.8 * runbook_threshold_warning'
        assert runbooks(near) == [("orders", "pending_count")]  # 12 > 0.8 * 10
        assert runbooks("time() - runbook_last_success_timestamp_seconds > 86400") == []
    finally:
        server.terminate()
        server.wait(timeout=30)
        dashboard.__exit__(None, None, None)
