"""`runbook serve` (issue 14): the dashboard under real uvicorn on 127.0.0.1, over a
state store filled by real runs: the overview page and its filter, `/api/runbooks`, the
vendored htmx, the security headers on every response, no secret on any page, and the
command itself started, answering and stopped by SIGTERM and Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from dashboard import running_dashboard
from integration.conftest import postgres  # noqa: F401 - the session's PostgreSQL database
from test_state import START, order_health_run, where  # noqa: F401 - where: SQLite and PostgreSQL

from runner.cli.arguments import listen_address
from runner.cli.main import main
from runner.cli.parser import parser_for

SECRET_INPUT = "input-Wombat6621"
SECRET_ENV = "env-Capybara3307"
SECRET_PIN = 73310466  # a secret input of type integer: bound into SQL as a number

HEALTHY = """
runbook: healthy
title: Everything is fine
kind: health-check
tags: [orders, daily]
steps:
  - id: one
    sql: SELECT 1 AS n
"""

BROKEN = """
runbook: broken
title: Too many pending
kind: maintenance
tags: [cleanup]
steps:
  - id: pending
    sql: SELECT 12 AS pending_count
    thresholds:
      pending_count: {warning: 5, critical: 10}
    hint: Look at the pending queue first.
notify: {critical: [ops]}
"""

NIGHTLY = """
runbook: nightly
title: Runs every ten minutes
kind: health-check
tags: [orders]
schedule: "*/10 * * * *"
steps:
  - id: one
    sql: SELECT 1 AS n
"""

LEAKY = """
runbook: leaky
title: Holds secrets
kind: troubleshooting
tags: [secrets]
concurrency: allow
inputs:
  password: {type: string, secret: true}
  pin: {type: integer, secret: true, default: 73310466}
steps:
  - id: lookup
    sql: >-
      SELECT 1 AS n, {{ inputs.pin }} AS pin WHERE {{ inputs.pin }} > 0
      AND {{ inputs.password }} <> {{ env.WEB_TOKEN }} AND {{ inputs.password | length }} > 2
    thresholds:
      pin: {warning: 1}
      n: {warning: "{{ inputs.pin }}"}
  - id: shell
    command: [sh, -c, "exit 1", "{{ inputs.password }}", "{{ env.WEB_TOKEN }}"]
    hint: "pw {{ inputs.password }} token {{ env.WEB_TOKEN }}"
"""

#: the headers every response must carry (runner/web/app.py SECURITY_HEADERS)
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@pytest.fixture
def filled(project, monkeypatch):
    """A project whose store has real runs: `healthy` OK three times, `broken` CRITICAL
    twice, `leaky` with a secret input and a secret environment variable; `nightly` is
    scheduled every ten minutes, never ran, and its file was written a day ago: LATE."""
    monkeypatch.setenv("WEB_TOKEN", SECRET_ENV)
    project.config(
        """
        connections:
          main: {sqlite: data.db}
          pg: {odbc: "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;UID=postgres;PWD=${WEB_TOKEN}"}
        state: var/runner.db
        notifications:
          urls:
            ops: ["json://bot:${WEB_TOKEN}@127.0.0.1:9/ops"]
          attempts: 1
        """
    )
    for name, text in (
        ("healthy", HEALTHY),
        ("broken", BROKEN),
        ("nightly", NIGHTLY),
        ("leaky", LEAKY),
    ):
        project.runbook(name, text.replace("steps:", "connection: main\nsteps:", 1))
    day_ago = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    os.utime(project.root / "runbooks" / "nightly.yaml", (day_ago, day_ago))
    for _ in range(3):
        assert project.run("healthy").status.value == "OK"
    for _ in range(2):
        assert project.run("broken").status.value == "CRITICAL"
    assert project.run("leaky", {"password": SECRET_INPUT}).status.value == "CRITICAL"
    return project


@pytest.fixture
def dashboard(filled) -> Iterator[str]:
    """The dashboard of `filled` under real uvicorn, on an ephemeral port of 127.0.0.1:
    its base URL."""
    with running_dashboard(filled.root) as url:
        yield url


def _has_security_headers(response: requests.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def _rows(html: str) -> dict[str, str]:
    """The overview table's rows by runbook name."""
    rows = re.findall(
        r"<tr>\s*<th scope=\"row\"><a class=\"name\" href=\"/runbooks/[^\"]+\">"
        r"([^<]+)</a>(.*?)</tr>",
        html,
        re.S,
    )
    return {name: body for name, body in rows}


def test_the_overview_shows_every_runbook_worst_first_with_its_strip(dashboard):
    response = requests.get(dashboard + "/", timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    _has_security_headers(response)
    html = response.text
    rows = _rows(html)
    # late ranks as CRITICAL (as `runbook status`), then by name
    assert list(rows) == ["broken", "leaky", "nightly", "healthy"]
    assert '<span class="status s-critical">CRITICAL</span>' in rows["broken"]
    assert '<span class="status s-ok">OK</span>' in rows["healthy"]
    assert '<span class="status s-none">never ran</span>' in rows["nightly"]
    assert '<span class="late"' in rows["nightly"] and ">LATE</span>" in rows["nightly"]
    assert "never ran, slot " in rows["nightly"]
    assert "LATE" not in rows["healthy"] + rows["broken"]
    # the next run of the scheduled one, none for the others
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d0:00\.000Z">', rows["nightly"])
    # the strip: one cell per run, oldest first, each with its status as text
    assert rows["healthy"].count('<li class="cell s-ok"') == 3
    assert rows["broken"].count('<li class="cell s-critical"') == 2
    assert '<span class="vh">CRITICAL</span>' in rows["broken"]
    assert 'aria-label="last 3 runs, oldest first"' in rows["healthy"]
    # the title, tags and the filter's choices
    assert "Everything is fine" in rows["healthy"] and "orders, daily" in rows["healthy"]
    assert '<option value="cleanup">cleanup</option>' in html
    assert '<option value="maintenance">maintenance</option>' in html
    # no inline script or style: the CSP would refuse them (htmx's own is switched off)
    assert "<style" not in html and " style=" not in html
    assert '"includeIndicatorStyles": false' in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/htmx.min.js" defer>']
    # htmx asks for the table again, and without JavaScript the page is whole
    assert 'hx-get="/" hx-trigger="every 15s"' in html
    assert "</html>" in html


TITLED = """
runbook: {name}
title: {title}
connection: main
inputs:
  limit: {{type: integer, default: 10}}
  who: {{type: string}}
  token: {{type: string, secret: true, default: tok-Marmot5150}}
vars: {{site: north}}
steps:
  - id: one
    sql: SELECT 1 AS n
"""


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("Pending below {{ inputs.limit }} at {{ vars.site }}", "Pending below 10 at north"),
        ("Orders of {{ vars.region }}", "Orders of east"),  # runner.yaml's vars
        ("Stuck for {{ inputs.who }}", "Stuck for {{ inputs.who }}"),  # no default: as written
        ("Token {{ inputs.token }}", "Token {{ inputs.token }}"),  # secret: never rendered
        ("Host {{ env.HOME }}", "Host {{ env.HOME }}"),  # env is a run's, not a listing's
    ],
    ids=["defaults-and-vars", "config-vars", "required-input", "secret-input", "env"],
)
def test_a_templated_title_is_rendered_as_runbook_list_shows_it(project, capsys, title, shown):
    project.config(
        """
        connections:
          main: {sqlite: data.db}
        state: var/runner.db
        vars: {region: east}
        """
    )
    project.runbook("titled", TITLED.format(name="titled", title=json.dumps(title)))
    with running_dashboard(project.root) as url:
        page = requests.get(url + "/", timeout=30).text
        api = requests.get(url + "/api/runbooks", timeout=30).json()
        book = requests.get(url + "/api/runbooks/titled", timeout=30).json()

    assert f'<span class="title">{shown}</span>' in _rows(page)["titled"]
    assert [row["title"] for row in api] == [shown] and book["title"] == shown
    assert main(["list", "--format", "json"]) == 0
    assert [row["title"] for row in json.loads(capsys.readouterr().out)] == [shown]
    assert "tok-Marmot5150" not in page + json.dumps(api) + json.dumps(book)


def test_htmx_gets_the_table_alone(dashboard):
    response = requests.get(
        dashboard + "/?kind=maintenance", headers={"HX-Request": "true"}, timeout=30
    )

    assert response.status_code == 200
    _has_security_headers(response)
    assert response.text.lstrip().startswith('<table id="runbooks">')
    assert "<html" not in response.text
    assert list(_rows(response.text)) == ["broken"]


def test_the_filter_by_tag_and_kind_is_a_plain_get(dashboard):
    by_tag = _rows(requests.get(dashboard + "/?tag=orders", timeout=30).text)
    by_kind = _rows(requests.get(dashboard + "/?kind=health-check", timeout=30).text)
    both = requests.get(dashboard + "/?tag=daily&kind=health-check", timeout=30).text
    none = requests.get(dashboard + "/?tag=orders&kind=maintenance", timeout=30).text

    assert list(by_tag) == ["nightly", "healthy"]
    assert list(by_kind) == ["nightly", "healthy"]
    assert list(_rows(both)) == ["healthy"]
    assert '<option value="daily" selected>' in both  # the form shows the filter it applied
    assert 'hx-get="/?tag=daily&amp;kind=health-check"' in both  # and refreshes with it
    assert _rows(none) == {} and "No runbook matches this filter." in none


def test_the_api_answers_the_same_rows_as_status_json(dashboard, capsys):
    response = requests.get(dashboard + "/api/runbooks", timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    _has_security_headers(response)
    rows = response.json()
    assert main(["status", "--format", "json"]) == 2
    status = json.loads(capsys.readouterr().out)
    assert [row["runbook"] for row in rows] == [row["runbook"] for row in status]
    for mine, theirs in zip(rows, status, strict=True):
        assert {key: mine[key] for key in theirs} == theirs  # status's shape, and more
    by_name = {row["runbook"]: row for row in rows}
    assert by_name["broken"]["status"] == "CRITICAL" and by_name["healthy"]["status"] == "OK"
    assert by_name["nightly"]["late"]["never_ran"] is True
    assert by_name["nightly"]["next_run"].endswith("0:00.000Z")
    assert by_name["healthy"]["next_run"] is None
    assert by_name["healthy"]["kind"] == "health-check"
    assert by_name["healthy"]["tags"] == ["orders", "daily"]
    assert [run["status"] for run in by_name["healthy"]["recent"]] == ["OK"] * 3
    started = [run["started"] for run in by_name["healthy"]["recent"]]
    assert started == sorted(started) and started[-1] == by_name["healthy"]["started"]
    assert by_name["nightly"]["recent"] == []
    filtered = requests.get(dashboard + "/api/runbooks?tag=cleanup", timeout=30).json()
    assert [row["runbook"] for row in filtered] == ["broken"]


def test_the_vendored_htmx_is_served_with_its_licence(dashboard):
    script = requests.get(dashboard + "/static/htmx.min.js", timeout=30)
    licence = requests.get(dashboard + "/static/htmx.LICENSE", timeout=30)
    style = requests.get(dashboard + "/static/dashboard.css", timeout=30)

    assert script.status_code == 200 and script.text.startswith("var htmx=function()")
    assert "javascript" in script.headers["content-type"]
    _has_security_headers(script)
    assert licence.status_code == 200 and "Zero-Clause BSD" in licence.text
    assert style.status_code == 200 and ".strip" in style.text


def test_no_secret_on_any_page(dashboard):
    pages = [
        "/",
        "/?tag=secrets",
        "/?kind=troubleshooting",
        "/api/runbooks",
        "/api/runbooks?tag=secrets",
        "/metrics",
        *(f"/runs/{run_id}" for run_id in _run_ids(dashboard, "leaky")),
        *(f"/api/runs/{run_id}" for run_id in _run_ids(dashboard, "leaky")),
        "/runbooks/leaky",
        "/api/runbooks/leaky",
        "/history",
        "/history?runbook=leaky",
        "/api/history",
        "/api/history?runbook=leaky",
    ]
    for page in pages:
        response = requests.get(dashboard + page, timeout=30)
        assert response.status_code == 200
        assert "leaky" in response.text, page  # the runbook is there, its secrets are not
        for secret in (SECRET_INPUT, SECRET_ENV, str(SECRET_PIN)):
            assert secret not in response.text, page
    # the secrets did reach the pages' sources: the SQL that bound them is shown
    (run_id,) = _run_ids(dashboard, "leaky")
    assert "&lt;&gt; ?" in requests.get(f"{dashboard}/runs/{run_id}", timeout=30).text
    # the threshold on the secret number and the limit templated from it: shown, masked
    (lookup, _) = requests.get(f"{dashboard}/api/runs/{run_id}", timeout=30).json()["steps"]
    checks = {check["name"]: check for check in lookup["evaluations"]}
    assert (checks["pin"]["value"], checks["pin"]["warning"]) == ("***", 1)
    assert (checks["n"]["value"], checks["n"]["warning"]) == (1, "***")


def test_metrics_are_served_for_prometheus_with_the_headers(dashboard, filled):
    from prometheus_client import CONTENT_TYPE_LATEST
    from prometheus_client.parser import text_string_to_metric_families
    from test_metrics import promtool

    from runner.service.metrics import metrics_text

    response = requests.get(dashboard + "/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST  # the text format
    _has_security_headers(response)

    def samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
        return {
            (sample.name, tuple(sorted(sample.labels.items())), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if not sample.name.endswith("_timestamp_seconds")  # a run may end meanwhile
        }

    assert samples(response.text) == samples(metrics_text(filled.library()))
    statuses = {s[1]: s[2] for s in samples(response.text) if s[0] == "runbook_last_status"}
    assert statuses[(("runbook", "broken"),)] == 2.0
    checked = subprocess.run(
        [promtool(), "check", "metrics"],
        input=response.text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_damaged_store_is_said_with_503_not_a_traceback(dashboard, filled):
    (run_id,) = _run_ids(dashboard, "leaky")
    store = filled.root / "var" / "runner.db"
    for leftover in store.parent.glob("runner.db-*"):  # its WAL and shared memory
        leftover.unlink()
    store.write_bytes(b"not a database, " * 512)

    page = requests.get(dashboard + "/", timeout=30)
    api = requests.get(dashboard + "/api/runbooks", timeout=30)

    assert page.status_code == 503 and api.status_code == 503
    _has_security_headers(page)
    _has_security_headers(api)
    assert "the state store is damaged (file is not a database)" in page.text
    assert "</html>" in page.text
    assert "the state store is damaged (file is not a database)" in api.json()["error"]
    run_page = requests.get(f"{dashboard}/runs/{run_id}", timeout=30)
    run_api = requests.get(f"{dashboard}/api/runs/{run_id}", timeout=30)
    assert run_page.status_code == 503 and run_api.status_code == 503
    _has_security_headers(run_page)
    assert "the state store is damaged (file is not a database)" in run_page.text
    assert "the state store is damaged (file is not a database)" in run_api.json()["error"]


def test_an_unknown_page_is_404_with_the_headers(dashboard):
    response = requests.get(dashboard + "/nothing-here", timeout=30)

    assert response.status_code == 404
    _has_security_headers(response)


# -- the run page ------------------------------------------------------------------------


def _run_ids(dashboard: str, name: str) -> list[str]:
    """The ids of the runs of `name`, newest first, as the overview's strip has them."""
    rows = requests.get(dashboard + "/api/runbooks", timeout=30).json()
    recent = next(row["recent"] for row in rows if row["runbook"] == name)
    return [run["run_id"] for run in reversed(recent)]


def test_the_overview_links_each_last_run_to_its_page(dashboard):
    html = requests.get(dashboard + "/", timeout=30).text
    newest = _run_ids(dashboard, "broken")[0]

    assert f'run <a href="/runs/{newest}">{newest}</a>' in _rows(html)["broken"]
    assert "/runs/" not in _rows(html)["nightly"]  # it never ran


def test_the_run_page_shows_each_step_against_its_thresholds(dashboard):
    newest, first = _run_ids(dashboard, "broken")

    response = requests.get(f"{dashboard}/runs/{newest}", timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    _has_security_headers(response)
    html = response.text
    assert f'<span class="name">{newest}</span>' in html
    assert '<span class="status s-critical">CRITICAL</span>' in html
    # the value against its warning and critical limits, and which way is bad
    assert re.search(
        r'<th scope="row"><span class="name">pending_count</span></th><td class="value">12</td>'
        r"<td>5</td><td>10</td><td>above</td>",
        html,
    )
    assert '<p class="hint"><strong>Hint:</strong> Look at the pending queue first.</p>' in html
    assert '<ol class="attempts">' in html
    assert "Notifications sent" in html
    # the previous run of the same runbook, and the way back; none before the first
    assert f'<a href="/runs/{first}" rel="prev">Previous run of broken</a>' in html
    assert '<a href="/">Overview</a>' in html
    first_page = requests.get(f"{dashboard}/runs/{first}", timeout=30).text
    assert 'rel="prev"' not in first_page and "first run of broken" in first_page
    # whole without JavaScript, nothing inline for the CSP to refuse
    assert "</html>" in html
    assert "<style" not in html and " style=" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/htmx.min.js" defer>']


def test_the_run_page_lists_the_notifications_sent_with_their_urls_masked(dashboard):
    newest, first = _run_ids(dashboard, "broken")

    told = requests.get(f"{dashboard}/runs/{first}", timeout=30).text
    again = requests.get(f"{dashboard}/runs/{newest}", timeout=30).text
    quiet = requests.get(f"{dashboard}/runs/{_run_ids(dashboard, 'healthy')[0]}", timeout=30)

    (row,) = re.findall(r'<table id="notifications">.*?<tbody>(.*?)</tbody>', told, re.S)
    assert "<td>new</td>" in row and '<span class="status s-critical">CRITICAL</span>' in row
    assert "<td>json://bot:***@127.0.0.1:9/ops</td>" in row
    assert "<td>no: " in row  # nothing listens there: the delivery failed, and says why
    assert "<td>repeat</td>" in again  # so the next run tried again
    assert 'id="notifications"' not in quiet.text
    assert "<h2>Notifications sent</h2>\n<p>None.</p>" in quiet.text


def test_the_run_page_shows_the_sql_each_step_sent_its_secrets_masked(dashboard, capsys):
    from test_output_schema import check

    (run_id,) = _run_ids(dashboard, "leaky")

    html = requests.get(f"{dashboard}/runs/{run_id}", timeout=30).text
    api = requests.get(f"{dashboard}/api/runs/{run_id}", timeout=30).json()

    (sent,) = re.findall(r'<figure class="statement">(.*?)</figure>', html, re.S)
    assert '<figcaption>SQL on <span class="name">main</span></figcaption>' in sent
    sql = "SELECT 1 AS n, ? AS pin WHERE ? &gt; 0 AND ? &lt;&gt; ? AND ? &gt; 2"
    assert f'<pre class="sql">{sql}</pre>' in sent
    # beside it, the values bound to the placeholders in order: the secrets masked whole,
    # the integer one too; a value made from a secret (its length) is not a secret
    bound = re.findall(r"<li><code>(.*?)</code></li>", sent)
    assert bound == ["&#34;***&#34;"] * 4 + ["16"]
    (lookup, shell) = api["steps"]
    assert lookup["statement"] == {
        "connection": "main",
        "sql": "SELECT 1 AS n, ? AS pin WHERE ? > 0 AND ? <> ? AND ? > 2",
        "params": ["***", "***", "***", "***", 16],
        "file": None,
    }
    assert "statement" not in shell  # a command: nothing of the kind
    check(api, "recorded_run")
    # `history --run ID --format json` reads the same record
    assert main(["history", "--run", run_id, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"][0]["statement"] == lookup["statement"]


def test_the_run_page_shows_a_failed_steps_error_and_hint_masked(dashboard):
    (run_id,) = _run_ids(dashboard, "leaky")

    html = requests.get(f"{dashboard}/runs/{run_id}", timeout=30).text

    assert '<p class="error">exit code 1</p>' in html
    assert '<p class="hint"><strong>Hint:</strong> pw *** token ***</p>' in html
    assert '<span class="name">password</span>=***' in html


NESTED = """
runbook: nested
connection: main
steps:
  - id: group
    steps:
      - id: inner
        sql: SELECT 3 AS n
        assert: ["row.n < 2"]
        hint: The inner check failed.
  - id: each
    for_each: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22]
    as: x
    steps:
      - id: probe
        sql: SELECT {{ x }} AS v
        thresholds:
          v: {warning: 20, critical: 21}
"""


def test_the_run_page_indents_nested_steps_and_lists_a_loops_bad_items(project):
    project.sql("CREATE TABLE t (x INTEGER)")
    project.runbook("nested", NESTED)
    run_id = project.run("nested").run_id

    with running_dashboard(project.root) as url:
        response = requests.get(f"{url}/runs/{run_id}", timeout=30)

    assert response.status_code == 200
    html = response.text
    depths = re.findall(
        r'<tr class="step depth-(\d)">\s*<th scope="row"><span class="name">(\w+)', html
    )
    # group > inner; each > its two bad items of 22 > each item's probe
    assert [name for _, name in depths][:2] == ["group", "inner"]
    assert [int(depth) for depth, _ in depths] == [0, 1, 0, 1, 2, 1, 2]
    assert '<p class="hint"><strong>Hint:</strong> The inner check failed.</p>' in html
    assert '<span class="name">row.n &lt; 2</span>' in html and "<td>assert</td>" in html
    # an assertion's value as results read it: false, not Python's False
    assert re.search(
        r'<span class="name">row.n &lt; 2</span></th><td class="value">false</td>'
        r"<td>-</td><td>-</td><td>assert</td>",
        html,
    )
    assert not re.search(r">(True|False|None)<", html)
    assert "2 items listed, 20 more not listed" in html
    assert re.search(r'<td class="value">22</td><td>20</td><td>21</td><td>above</td>', html)


def test_the_run_api_is_the_recorded_run_json_and_its_previous_run(dashboard, filled, capsys):
    from test_output_schema import check

    newest, first = _run_ids(dashboard, "broken")

    response = requests.get(f"{dashboard}/api/runs/{newest}", timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    _has_security_headers(response)
    document = response.json()
    check(document, "recorded_run")  # the schema of `history --run ID --format json`
    assert document.pop("previous_run_id") == first
    assert main(["history", "--run", newest, "--format", "json"]) == 0
    assert document == json.loads(capsys.readouterr().out)
    (step,) = document["steps"]
    (evaluation,) = step["evaluations"]
    assert (evaluation["value"], evaluation["warning"], evaluation["critical"]) == (12, 5, 10)
    assert evaluation["direction"] == "above" and evaluation["status"] == "CRITICAL"
    earlier = requests.get(f"{dashboard}/api/runs/{first}", timeout=30).json()
    check(earlier, "recorded_run")
    assert earlier.pop("previous_run_id") is None
    (sent,) = earlier["notifications"]
    assert sent["url"] == "json://bot:***@127.0.0.1:9/ops" and sent["ok"] is False


@pytest.mark.parametrize(
    "run_id",
    ["20991231T235959Z-000000000000", "2", "nope", "%00%27%22", "x" * 3000],
    ids=["unknown", "a-prefix-of-several", "malformed", "quotes", "long"],
)
def test_a_run_that_is_not_there_is_404_with_the_headers(dashboard, run_id):
    page = requests.get(f"{dashboard}/runs/{run_id}", timeout=30)
    api = requests.get(f"{dashboard}/api/runs/{run_id}", timeout=30)

    assert page.status_code == 404 and api.status_code == 404
    _has_security_headers(page)
    _has_security_headers(api)
    assert "<h1>Not found</h1>" in page.text and "</html>" in page.text
    assert api.json()["error"].startswith("no run with id ")
    assert "Traceback" not in page.text + api.text


def test_a_prefix_of_one_run_is_not_its_page(dashboard):
    (run_id,) = _run_ids(dashboard, "leaky")

    assert requests.get(f"{dashboard}/runs/{run_id[:-1]}", timeout=30).status_code == 404


# -- the command --------------------------------------------------------------------------


def test_serve_listens_on_loopback_8080_unless_told():
    assert parser_for(["serve"]).parse_args(["serve"]).listen == ("127.0.0.1", 8080)
    given = parser_for(["serve"]).parse_args(["serve", "--listen", "0.0.0.0:9000"])
    assert given.listen == ("0.0.0.0", 9000)


def test_the_scheduler_serves_no_http_unless_told():
    def http(*args: str):
        return parser_for(["scheduler"]).parse_args(["scheduler", *args]).http

    assert http() is None
    assert http("--http") == ("127.0.0.1", 8080)
    assert http("--http", "0.0.0.0:9000") == ("0.0.0.0", 9000)


def test_a_scheduler_whose_address_is_taken_says_so_and_schedules_nothing(filled):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "runner", "scheduler", "--http", f"127.0.0.1:{port}"],
            cwd=filled.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3
    assert f"runbook: the dashboard could not listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr and "runbook scheduler:" not in done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:8081", ("::1", 8081)),
        ("localhost:0", ("localhost", 0)),
    ],
    ids=["ipv4", "ipv6", "ephemeral"],
)
def test_listen_addresses(text, expected):
    assert listen_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8080", "expected ADDR:PORT such as 127.0.0.1:8080, got '8080'"),
        ("host:http", "expected a port number after the colon, got 'host:http'"),
        ("host:70000", "the port must be from 0 to 65535, got 70000"),
    ],
    ids=["no-address", "no-number", "too-big"],
)
def test_a_bad_listen_address_is_a_usage_error(text, message, capsys):
    assert main(["serve", "--listen", text]) == 3
    assert message in capsys.readouterr().err


def test_help_lists_serve(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert re.search(
        r"^\s+serve\s+serve the read-only web dashboard", capsys.readouterr().out, re.M
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_runbook_serve_answers_and_stops_cleanly(filled, stop):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "runner", "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=filled.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        lines = []
        for line in server.stderr:  # uvicorn logs on stderr; it listens once it says so
            lines.append(line)
            if "Uvicorn running on" in line:
                break
        assert f"http://127.0.0.1:{port}" in "".join(lines), "".join(lines)
        rows = requests.get(f"http://127.0.0.1:{port}/api/runbooks", timeout=30).json()
        assert {row["runbook"] for row in rows} == {"healthy", "broken", "nightly", "leaky"}
        server.send_signal(stop)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert out == ""  # the access log is on stderr too
    assert '"GET /api/runbooks HTTP/1.1" 200' in err
    assert "runbook: the dashboard stopped" in err


def test_an_address_in_use_is_said_without_a_traceback(filled):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "runner", "serve", "--listen", f"127.0.0.1:{port}"],
            cwd=filled.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3
    assert f"runbook: the dashboard could not listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def _old_strip(store, name: str) -> list[dict]:
    """The strip as the overview read it before StateStore.recent_runs: the last 30 runs
    of one runbook (one query each), oldest first, finished real runs only."""
    return [
        {key: run[key] for key in ("run_id", "started", "status")}
        for run in reversed(store.history(name, limit=30))
        if run["status"] and run["mode"] == "run"
    ]


def test_the_strips_of_every_runbook_are_read_in_one_query(where):  # noqa: F811 - test_state's
    from runner.base.status import Status
    from runner.history.store import new_run_id

    with where.open() as store:
        for place in range(35):  # more than a strip holds
            store.finish_run(
                order_health_run(
                    runbook="busy",
                    started=START + timedelta(minutes=place),
                    status=(Status.OK, Status.WARNING, Status.CRITICAL)[place % 3],
                )
            )
        for place in range(3):
            store.finish_run(
                order_health_run(runbook="calm", started=START + timedelta(hours=place))
            )
        # a dry run and a run still going are not in a strip
        mixed = [
            order_health_run(runbook="mixed", started=START + timedelta(minutes=m))
            for m in range(4)
        ]
        mixed[1] = order_health_run(
            runbook="mixed", started=START + timedelta(minutes=1), mode="dry-run"
        )
        for run in mixed:
            store.finish_run(run)
        store.start_run(
            order_health_run(new_run_id(), runbook="mixed", started=START + timedelta(hours=1))
        )
        store.finish_run(order_health_run(runbook="elsewhere"))  # not asked for

        queries = []
        query = store._backend.query
        store._backend.query = lambda sql, params=(): queries.append(sql) or query(sql, params)
        recent = store.recent_runs(["busy", "calm", "mixed", "never-ran"], 30)
        store._backend.query = query

        assert len(queries) == 1
        assert set(recent) == {"busy", "calm", "mixed"}
        for name in ("busy", "calm"):
            assert recent[name] == _old_strip(store, name)
        assert len(recent["busy"]) == 30
        assert recent["busy"][-1]["started"] > recent["busy"][0]["started"]  # oldest first
        assert [run["run_id"] for run in recent["mixed"]] == [
            run.run_id for run in mixed if run.mode == "run"
        ]
        kept = {(run["mode"], run["outcome"]) for run in store.history("mixed")}
        assert {("dry-run", "completed"), ("run", "running")} <= kept  # but in the store
        assert store.recent_runs([], 30) == {}


# -- the runbook page --------------------------------------------------------------------

TREND = """
runbook: trend
title: Pending over time
kind: health-check
tags: [orders]
description: Counts the orders still pending.
schedule: "0 6 * * *"
timezone: Europe/Paris
connection: main
inputs:
  n: {type: integer, default: 1, description: How many are pending}
  token: {type: string, secret: true, default: tok-Quokka4410}
steps:
  - id: pending
    title: Pending orders
    sql: SELECT {{ inputs.n }} AS pending_count, 3 AS free_slots
    thresholds:
      pending_count: {warning: 5, critical: 10}
      free_slots: {warning: 2, critical: 1, direction: below}
"""


@pytest.fixture
def trending(project) -> Iterator[tuple[str, list[str]]]:
    """The dashboard of a project whose runbook `trend` ran with 2, 7 and 12 pending
    (OK, WARNING, CRITICAL) and once as a dry run: its base URL and the real runs' ids,
    oldest first."""
    project.config("connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n")
    project.runbook("trend", TREND)
    statuses = [project.run("trend", {"n": n}).status.value for n in (2, 7, 12)]
    assert statuses == ["OK", "WARNING", "CRITICAL"]
    project.run("trend", {"n": 50}, mode="dry-run")
    with running_dashboard(project.root) as url:
        rows = requests.get(url + "/api/runbooks", timeout=30).json()
        (recent,) = [row["recent"] for row in rows if row["runbook"] == "trend"]
        yield url, [run["run_id"] for run in recent]


def test_the_runbook_page_describes_it_and_tables_its_thresholds_values(trending):
    url, run_ids = trending
    response = requests.get(url + "/runbooks/trend", timeout=30)

    assert response.status_code == 200
    _has_security_headers(response)
    html = response.text
    assert "Pending over time" in html and "health-check" in html and "orders" in html
    assert "Counts the orders still pending." in html and "trend.yaml" in html
    # inputs: the secret one marked, its default never shown
    assert '<span class="name">n</span></th><td>integer</td><td>1</td>' in html
    assert '<span class="name">token</span> <span class="secret">secret</span>' in html
    assert "tok-Quokka4410" not in html
    # the schedule with its next run times (06:00 in Paris is 05:00 or 04:00 UTC)
    assert '<span class="name">0 6 * * *</span>, time zone Europe/Paris' in html
    assert len(re.findall(r'<li><time datetime="[\d-]+T0[45]:00:00\.000Z">', html)) == 5
    # the steps' thresholds
    assert '<span class="name">pending_count</span></th><td>5</td><td>10</td><td>above</td>' in html
    assert '<span class="name">free_slots</span></th><td>2</td><td>1</td><td>below</td>' in html
    # without JavaScript: the recent values, newest first, each linked to its run
    values = re.findall(
        r'<td><a href="/runs/([^"]+)">[^<]+</a></td><td><time[^>]*>[^<]+</time></td>'
        r'<td class="value">(\d+)</td><td>5</td><td>10</td>',
        html,
    )
    assert values == [(run_ids[2], "12"), (run_ids[1], "7"), (run_ids[0], "2")]
    # the charts: empty holders the vendored uPlot fills from the embedded JSON
    assert html.count('<div class="chart" data-series=') == 3
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/htmx.min.js" defer>',
        '<script src="/static/uPlot.iife.min.js" defer>',
        '<script src="/static/charts.js" defer>',
        '<script type="application/json" id="chart-data">',
    ]
    assert "<style" not in html and " style=" not in html
    embedded = re.search(r'id="chart-data">(.*?)</script>', html, re.S)
    assert embedded is not None
    data = json.loads(embedded.group(1))
    assert data["series"] == requests.get(url + "/api/runbooks/trend", timeout=30).json()["series"]


def test_the_runbook_api_has_each_thresholds_series_in_run_order(trending):
    url, run_ids = trending
    response = requests.get(url + "/api/runbooks/trend", timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    _has_security_headers(response)
    document = response.json()
    assert document["runbook"] == "trend" and document["invalid"] == 0
    assert document["schedule"]["cron"] == "0 6 * * *"
    assert len(document["schedule"]["next"]) == 5
    (token,) = [spec for spec in document["inputs"] if spec["name"] == "token"]
    assert token["secret"] is True and token["default"] is None
    assert "tok-Quokka4410" not in response.text
    (step,) = document["steps"]
    assert step["path"] == "pending" and [t["name"] for t in step["thresholds"]] == [
        "pending_count",
        "free_slots",
    ]
    # the dry run is not charted: the three real runs, oldest first
    assert [run["run_id"] for run in document["runs"]] == run_ids
    assert [run["status"] for run in document["runs"]] == ["OK", "WARNING", "CRITICAL"]
    assert all(run["duration"] >= 0 for run in document["runs"])
    pending, free = document["series"]
    assert (pending["step"], pending["threshold"], pending["direction"]) == (
        "pending",
        "pending_count",
        "above",
    )
    assert [
        (p["run_id"], p["value"], p["warning"], p["critical"], p["status"])
        for p in pending["points"]
    ] == [
        (run_ids[0], 2, 5, 10, "OK"),
        (run_ids[1], 7, 5, 10, "WARNING"),
        (run_ids[2], 12, 5, 10, "CRITICAL"),
    ]
    assert [p["started"] for p in pending["points"]] == [run["started"] for run in document["runs"]]
    assert free["direction"] == "below"
    assert [(p["value"], p["evaluation"]) for p in free["points"]] == [(3, "OK")] * 3


def test_the_runbook_page_of_one_that_never_ran_has_no_chart_data(dashboard):
    document = requests.get(dashboard + "/api/runbooks/nightly", timeout=30).json()
    html = requests.get(dashboard + "/runbooks/nightly", timeout=30).text

    assert document["runs"] == [] and document["series"] == []
    assert "It has no finished run yet." in html
    assert "No threshold: none declared, none recorded." in html


def test_the_overview_and_the_run_page_link_to_the_runbook_page(dashboard):
    html = requests.get(dashboard + "/", timeout=30).text
    (run_id,) = _run_ids(dashboard, "leaky")
    run_page = requests.get(f"{dashboard}/runs/{run_id}", timeout=30).text

    for name in ("broken", "leaky", "nightly", "healthy"):
        assert f'<a class="name" href="/runbooks/{name}">{name}</a>' in html
    assert '<a class="name" href="/runbooks/leaky">leaky</a>' in run_page


@pytest.mark.parametrize("name", ["nothing-here", "%00%27%22", "x" * 3000])
def test_a_runbook_that_is_not_there_is_404_with_the_headers(dashboard, name):
    page = requests.get(f"{dashboard}/runbooks/{name}", timeout=30)
    api = requests.get(f"{dashboard}/api/runbooks/{name}", timeout=30)

    assert page.status_code == 404 and api.status_code == 404
    _has_security_headers(page)
    _has_security_headers(api)
    assert "<h1>Not found</h1>" in page.text and "</html>" in page.text
    assert api.json()["error"].startswith("no runbook named ")
    assert "Traceback" not in page.text + api.text


def test_the_vendored_uplot_is_served_with_its_licence(dashboard):
    script = requests.get(dashboard + "/static/uPlot.iife.min.js", timeout=30)
    style = requests.get(dashboard + "/static/uPlot.min.css", timeout=30)
    licence = requests.get(dashboard + "/static/uPlot.LICENSE", timeout=30)
    ours = requests.get(dashboard + "/static/charts.js", timeout=30)

    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "uPlot" in script.text
    assert style.status_code == 200 and ".uplot" in style.text
    assert licence.status_code == 200 and "MIT License" in licence.text
    assert "Leon Sorokin" in licence.text
    assert ours.status_code == 200 and "new uPlot(" in ours.text
    for response in (script, style, licence, ours):
        _has_security_headers(response)


def test_a_runbooks_last_runs_are_read_in_one_query(where):  # noqa: F811 - test_state's
    from runner.base.status import Status
    from runner.history.store import new_run_id

    statuses = (Status.OK, Status.WARNING, Status.CRITICAL)
    with where.open() as store:
        finished = []
        for place in range(105):  # more than the page charts
            run = order_health_run(
                runbook="busy",
                started=START + timedelta(minutes=place),
                status=statuses[place % 3],
            )
            store.finish_run(run)
            finished.append(run)
        # a dry run, a run still going and another runbook's run are not in it
        store.finish_run(
            order_health_run(runbook="busy", started=START + timedelta(days=1), mode="dry-run")
        )
        store.start_run(
            order_health_run(new_run_id(), runbook="busy", started=START + timedelta(days=2))
        )
        store.finish_run(order_health_run(runbook="calm", started=START + timedelta(days=3)))

        queries = []
        query = store._backend.query
        store._backend.query = lambda sql, params=(): queries.append(sql) or query(sql, params)
        runs = store.finished_runs("busy", 100)
        store._backend.query = query

        assert len(queries) == 1
        assert [run["run_id"] for run in runs] == [run.run_id for run in finished[5:]]
        assert [run["status"] for run in runs] == [run.status.value for run in finished[5:]]
        assert all(isinstance(run["duration"], float) for run in runs)
        assert store.finished_runs("never-ran", 100) == []


def test_an_invalid_runbook_still_shows_its_recorded_series(dashboard, filled):
    (filled.root / "runbooks" / "broken.yaml").write_text(
        "runbook: broken\nsteps:\n  - id: pending\n    sql: SELECT 1\n    wrong_key: 1\n",
        encoding="utf-8",
    )

    response = requests.get(dashboard + "/api/runbooks/broken", timeout=30)
    html = requests.get(dashboard + "/runbooks/broken", timeout=30).text

    assert response.status_code == 200
    document = response.json()
    assert document["invalid"] >= 1 and document["steps"] == [] and document["title"] is None
    (series,) = document["series"]
    assert (series["step"], series["threshold"], series["declared"]) == (
        "pending",
        "pending_count",
        False,
    )
    assert [(p["value"], p["status"]) for p in series["points"]] == [(12, "CRITICAL")] * 2
    assert "INVALID: " in html and "(runbook validate)" in html
    assert "no longer in the runbook" in html


# -- the history page --------------------------------------------------------------------


def _history_rows(html: str) -> list[tuple[str, str]]:
    """The history table's rows as (run id, runbook), in the page's order."""
    return re.findall(
        r'<th scope="row"><a class="name" href="/runs/([^"]+)">[^<]+</a></th>\s*'
        r'<td><a class="name" href="/runbooks/([^"]+)">',
        html,
    )


def test_the_history_lists_every_run_newest_first_with_links(dashboard):
    api = requests.get(dashboard + "/api/history", timeout=30)
    assert api.status_code == 200
    _has_security_headers(api)
    assert api.headers["Cache-Control"] == "no-store"
    found = api.json()
    assert found["next"] is None and found["next_url"] is None  # 6 runs: one page
    runs = found["runs"]
    assert [run["runbook"] for run in runs] == ["leaky", *["broken"] * 2, *["healthy"] * 3]
    assert [run["started"] for run in runs] == sorted(
        (run["started"] for run in runs), reverse=True
    )
    assert runs[0]["inputs"] == {"password": "***", "pin": "***"}
    assert runs[0]["status"] == "CRITICAL"

    page = requests.get(dashboard + "/history", timeout=30)
    assert page.status_code == 200
    _has_security_headers(page)
    assert _history_rows(page.text) == [(run["run_id"], run["runbook"]) for run in runs]
    assert '<form method="get" action="/history" class="filters">' in page.text
    assert 'rel="next"' not in page.text and 'href="/api/history"' in page.text
    # the overview's header links to it
    assert '<a href="/history">History</a>' in requests.get(dashboard + "/", timeout=30).text


def test_the_history_filters_by_runbook_status_trigger_and_time(dashboard):
    def ids(query: str) -> list[str]:
        response = requests.get(f"{dashboard}/api/history?{query}", timeout=30)
        assert response.status_code == 200, response.text
        page = requests.get(f"{dashboard}/history?{query}", timeout=30)
        assert page.status_code == 200
        found = [run["run_id"] for run in response.json()["runs"]]
        assert [run_id for run_id, _ in _history_rows(page.text)] == found  # the same rows
        return found

    every = requests.get(dashboard + "/api/history", timeout=30).json()["runs"]
    assert ids("runbook=healthy") == [run["run_id"] for run in every if run["runbook"] == "healthy"]
    critical = [run["run_id"] for run in every if run["status"] == "CRITICAL"]
    assert len(critical) == 3
    assert ids("status=critical") == critical  # any case
    assert ids("status=CRITICAL&runbook=broken") == critical[1:]
    assert ids("status=WARNING") == []
    assert ids("trigger=manual") == [run["run_id"] for run in every]
    assert ids("trigger=schedule") == []
    # started from (inclusive) and before (exclusive), the stored times as the API shows them
    broken = [run for run in every if run["runbook"] == "broken"]
    oldest, newest = broken[-1]["started"], broken[0]["started"]
    assert ids(f"from={oldest}&to={newest}&runbook=broken") == [broken[-1]["run_id"]]
    assert ids("from=2000-01-01&to=2001-01-01") == []
    assert ids("from=2000-01-01T00:00%2B02:00&runbook=leaky") == [every[0]["run_id"]]
    # the form keeps what was asked
    html = requests.get(dashboard + "/history?status=ok&runbook=healthy", timeout=30).text
    assert '<option value="OK" selected>OK</option>' in html
    assert 'name="runbook" value="healthy"' in html and 'href="/history">clear</a>' in html
    assert (
        "No run matches this filter."
        in requests.get(dashboard + "/history?runbook=nothing-like-it", timeout=30).text
    )


def test_the_history_pages_by_a_cursor_of_the_last_run(dashboard, monkeypatch):
    import runner.web.history

    monkeypatch.setattr(runner.web.history, "PAGE", 6)
    every = requests.get(dashboard + "/api/history", timeout=30).json()["runs"]
    monkeypatch.setattr(runner.web.history, "PAGE", 2)
    seen: list[str] = []
    url = "/api/history?trigger=manual"
    while url:
        found = requests.get(dashboard + url, timeout=30).json()
        assert len(found["runs"]) == 2
        seen.extend(run["run_id"] for run in found["runs"])
        url = found["next_url"]
        if url:
            assert "trigger=manual" in url  # the filters go on
            assert found["next"]["after_run"] == found["runs"][-1]["run_id"]
    assert seen == [run["run_id"] for run in every]
    # the page's "next page" link is a plain link to the same
    html = requests.get(dashboard + "/history?trigger=manual", timeout=30).text
    assert len(_history_rows(html)) == 2
    link = re.search(r'<a href="(/history\?[^"]+)" rel="next">', html)
    assert link and "after_started=" in link.group(1) and "trigger=manual" in link.group(1)
    second = requests.get(dashboard + link.group(1).replace("&amp;", "&"), timeout=30).text
    assert [run_id for run_id, _ in _history_rows(second)] == seen[2:4]
    assert 'rel="first"' in second


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bad", "status='bad' is not a status: give one of OK, SKIPPED"),
        ("from=yesterday", "from='yesterday' is not a time: give ISO 8601"),
        ("to=2026-13-01", "to='2026-13-01' is not a time"),
        ("after_run=x", "a next-page cursor needs both after_started and after_run"),
        ("after_started=soon&after_run=x", "after_started='soon' is not a time"),
    ],
)
def test_a_bad_history_filter_is_400_with_a_clear_message(dashboard, query, message):
    api = requests.get(f"{dashboard}/api/history?{query}", timeout=30)
    assert api.status_code == 400
    _has_security_headers(api)
    assert api.headers["Content-Type"].startswith("application/json")
    assert api.json()["error"].startswith(message)
    page = requests.get(f"{dashboard}/history?{query}", timeout=30)
    assert page.status_code == 400
    _has_security_headers(page)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>Bad request</h1>" in page.text and "Traceback" not in page.text
    assert message.replace("'", "&#39;") in page.text


def test_history_pages_filter_and_follow_cursors_in_one_query_each(where):  # noqa: F811
    from runner.base.status import Status

    with where.open() as store:
        made = []
        for place in range(12):
            run = order_health_run(
                runbook=("a", "b")[place % 2],
                started=START + timedelta(minutes=place // 2),  # pairs start together
                status=(Status.OK, Status.WARNING, Status.CRITICAL)[place % 3],
                mode="dry-run" if place == 5 else "run",
            )
            store.finish_run(run)
            made.append(run)
        newest_first = sorted(made, key=lambda run: (run.started, run.run_id), reverse=True)

        queries: list[str] = []
        query = store._backend.query
        store._backend.query = lambda sql, p=(): queries.append(sql) or query(sql, p)

        def pages(limit: int, **filters) -> list[str]:
            found, after = [], None
            while True:
                queries.clear()
                rows = store.history_page(**filters, after=after, limit=limit)
                assert len(queries) == 1
                found.extend(row["run_id"] for row in rows)
                if len(rows) < limit:
                    return found
                after = (rows[-1]["started"], rows[-1]["run_id"])

        everything = [run.run_id for run in newest_first]
        assert pages(5) == pages(2) == pages(12) == everything  # ties broken by run id
        assert pages(3, runbook="a") == [run.run_id for run in newest_first if run.runbook == "a"]
        assert pages(2, status="WARNING") == [
            run.run_id for run in newest_first if run.status == Status.WARNING
        ]
        assert pages(2, trigger="schedule") == everything
        assert pages(2, trigger="manual") == []
        start = (START + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        end = (START + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert pages(3, started_from=start, started_to=end) == [
            run.run_id
            for run in newest_first
            if START + timedelta(minutes=2) <= run.started < START + timedelta(minutes=4)
        ]
        assert store.history_page(limit=1)[0]["mode"] == "run"  # dry runs are there too
        assert "dry-run" in {row["mode"] for row in store.history_page(limit=12)}
        store._backend.query = query


def test_the_history_of_100000_runs_is_paged_through_an_index(tmp_path):
    import sqlite3

    from runner.history.store import StateStore

    path = tmp_path / "runner.db"
    StateStore(path).close()  # the schema, migrated
    books, statuses = ("orders", "billing", "stock", "mail"), ("OK", "WARNING", "CRITICAL")
    rows = []
    for place in range(100_000):
        started = (START + timedelta(seconds=place // 2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rows.append(
            (
                f"{started[:19].replace('-', '').replace(':', '')}Z-{place:012x}",
                books[place % 4],
                statuses[place % 3],
                "completed",
                "run",
                ("manual", "schedule")[place % 2],
                started,
                started,
                0.5,
            )
        )
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO runs (run_id, runbook, status, outcome, mode, trigger, started, "
            "ended, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    newest_first = sorted(rows, key=lambda row: (row[6], row[0]), reverse=True)

    with StateStore(path) as store:
        plans: list[list[str]] = []
        query = store._backend.query

        def explained(sql, params=()):
            plan = query(f"EXPLAIN QUERY PLAN {sql}", params)
            plans.append([row["detail"] for row in plan])
            return query(sql, params)

        store._backend.query = explained
        first = store.history_page(limit=50)
        assert [row["run_id"] for row in first] == [row[0] for row in newest_first[:50]]
        # 40 pages on by their cursors: page 41, runs 2001 to 2050
        page = first
        for _ in range(40):
            page = store.history_page(after=(page[-1]["started"], page[-1]["run_id"]), limit=50)
        assert [row["run_id"] for row in page] == [row[0] for row in newest_first[2000:2050]]
        # the last page, from the last run but 3
        near_end = newest_first[-4]
        last = store.history_page(after=(near_end[6], near_end[0]), limit=50)
        assert [row["run_id"] for row in last] == [row[0] for row in newest_first[-3:]]
        store._backend.query = query

    assert len(plans) == 42
    for plan in plans:  # read in index order, never a scan of the table or a sort
        assert all("USING INDEX idx_runs_started_id" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
