"""Secret masking: registered values, URL and ODBC passwords, environment names, and
the names that mark a secret in a request a step shows."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

import pytest

from runner.base.masking import (
    MASK,
    Masker,
    looks_secret,
    mask_env,
    mask_mapping,
    mask_url,
    secret_env_names,
)


@pytest.mark.parametrize(
    ("secrets", "text", "expected"),
    [
        (["hunter2-pw"], "login with hunter2-pw failed", "login with *** failed"),
        (["hunter2-pw"], "hunter2-pw/hunter2-pw", "***/***"),
        (["abc"], "abc is too short to be a secret", "abc is too short to be a secret"),
        ([""], "nothing to mask", "nothing to mask"),
        (["true"], "verify=true", "verify=true"),
        (["token-1234", "token-1234-extra"], "key token-1234-extra", "key ***"),
        (["abcd1234", "1234wxyz"], "x abcd1234wxyz y", "x *** y"),
        (["p@ss w/rd"], "https://u:p%40ss%20w%2Frd@host", "https://u:***@host"),
        (["p@ss w/rd"], "form body pw=p%40ss+w%2Frd", "form body pw=***"),
        (['say "hi"\\now'], '{"pw": "say \\"hi\\"\\\\now"}', '{"pw": "***"}'),
    ],
    ids=[
        "registered",
        "every-occurrence",
        "too-short",
        "empty",
        "boolean-word",
        "longest-first",
        "overlapping",
        "url-encoded",
        "form-encoded",
        "json-escaped",
    ],
)
def test_mask_text_registered(secrets: list[str], text: str, expected: str) -> None:
    assert Masker(secrets).mask_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgresql://app:s3cr3t@db.local:5432/orders",
            "postgresql://app:***@db.local:5432/orders",
        ),
        (
            "mailto://ops:pa55word@mail.example.com?to=a@b.c",
            "mailto://ops:***@mail.example.com?to=a@b.c",
        ),
        (
            "connect to https://host:8080/path@v2 failed",
            "connect to https://host:8080/path@v2 failed",
        ),
        ("git clone ssh://git@example.com/repo", "git clone ssh://git@example.com/repo"),
        (
            "DRIVER={ODBC Driver 18};SERVER=db;UID=sa;PWD=Str0ng!;Encrypt=yes",
            "DRIVER={ODBC Driver 18};SERVER=db;UID=sa;PWD=***;Encrypt=yes",
        ),
        ("Server=db;Password={a;b}}c};Database=x", "Server=db;Password=***;Database=x"),
        ("uid=sa;pwd=lower-case", "uid=sa;pwd=***"),
        ("UID=sa;PWD=;", "UID=sa;PWD=;"),
        ("SQLPWD=not-a-key-we-know", "SQLPWD=not-a-key-we-know"),
        ("plain text with = signs", "plain text with = signs"),
    ],
    ids=[
        "url-password",
        "url-query-at",
        "port-is-not-password",
        "user-only",
        "odbc-pwd",
        "odbc-braced",
        "odbc-lower-case",
        "odbc-empty",
        "odbc-other-key",
        "no-credentials",
    ],
)
def test_mask_text_recognises_credentials_without_registration(text: str, expected: str) -> None:
    assert Masker().mask_text(text) == expected


def test_mask_is_a_deep_copy_of_nested_data() -> None:
    masker = Masker(["s3cr3t-token"])
    moment = datetime(2026, 11, 24, 9, 15)
    data = {
        "inputs": {"token": "s3cr3t-token", "count": 3, "when": moment},
        "rows": [("id", "s3cr3t-token"), ["s3cr3t-token"]],
        "tags": {"s3cr3t-token"},
        "s3cr3t-token": "as a key",
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Accept": "application/json"},
    }
    masked = masker.mask(data)

    assert masked == {
        "inputs": {"token": MASK, "count": 3, "when": moment},
        "rows": [("id", MASK), [MASK]],
        "tags": {MASK},
        MASK: "as a key",
        "headers": {"Authorization": MASK, "Accept": "application/json"},
    }
    assert data["inputs"]["token"] == "s3cr3t-token"  # the original is untouched


def test_secrets_added_later_are_masked() -> None:
    masker = Masker()
    assert masker.mask_text("password is Tr0ub4dor") == "password is Tr0ub4dor"
    masker.add("Tr0ub4dor")
    assert masker.mask_text("password is Tr0ub4dor") == "password is ***"


def test_add_env_registers_values_of_secret_looking_variables() -> None:
    masker = Masker()
    masker.add_env({"CP_PASSWORD": "cp-pass-1", "CP_HOST": "sql01.local", "PWD": "/work/main"})
    assert masker.mask_text("sql01.local cp-pass-1 /work/main") == "sql01.local *** /work/main"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("CP_PASSWORD", True),
        ("mysql_root_password", True),
        ("DBPASSWD", True),
        ("CLIENT_SECRET", True),
        ("GITHUB_TOKEN", True),
        ("SLACK_APITOKEN", True),
        ("ACCESS_TOKENS", True),
        ("SHOP_API_KEY", True),
        ("shopApiKey", True),
        ("SSH_PRIVATE_KEY", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("DB_PWD", True),
        ("PWD", False),
        ("OLDPWD", False),
        ("TOKENIZERS_PARALLELISM", False),
        ("CP_HOST", False),
        ("HOME", False),
    ],
    ids=lambda value: str(value),
)
def test_secret_env_names(name: str, secret: bool) -> None:
    assert (name in secret_env_names({name: "value-1234"})) is secret


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/health?page=2", "http://127.0.0.1:8080/health?page=2"),
        ("https://u:p@ss@host/x", "https://u:***@host/x"),
        (
            "https://host/x?api_key=k-123&page=2&Token=t",
            "https://host/x?api_key=***&page=2&Token=***",
        ),
    ],
    ids=["plain", "password-with-at", "secret-query-values"],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("X-Api-Key", True),
        ("access_token", True),
        ("client_secret", True),
        ("Password", True),
        ("Accept", False),
        ("order", False),
    ],
)
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_mask_mapping_hides_secret_looking_keys_at_any_depth() -> None:
    shown = mask_mapping({"user": "ops", "auth": {"password": "pw-1234"}, "list": [{"token": 1}]})
    assert shown == {"user": "ops", "auth": MASK, "list": [{"token": MASK}]}


def test_mask_env_hides_the_values_of_secret_variables() -> None:
    assert mask_env({"PGPASSWORD": "pw-1234", "PGHOST": "db1"}) == {
        "PGPASSWORD": MASK,
        "PGHOST": "db1",
    }


def test_rows_of_numbers_are_copied_whole_and_any_other_rows_masked_row_by_row() -> None:
    """The rows of a query masked in one go (Masker._mask_rows) when they hold only
    numbers and None under keys that need no masking; a secret in a key, a credential
    key, a string value or rows of other keys are masked row by row as before."""
    masker = Masker(["hunter22"])
    rows = [{"id": i, "ratio": i / 2, "ok": True, "gone": None} for i in range(3)]
    masked = masker.mask({"rows": rows})["rows"]
    assert masked == rows and all(a is not b for a, b in zip(masked, rows, strict=True))
    cases = [
        ([{"hunter22": 1}, {"hunter22": 2}], [{"***": 1}, {"***": 2}]),
        (
            [{"id": 1, "cookie": 5}, {"id": 2, "cookie": 0}],
            [{"id": 1, "cookie": "***"}, {"id": 2, "cookie": 0}],
        ),
        ([{"id": 1}, {"id": "x hunter22"}], [{"id": 1}, {"id": "x ***"}]),
        ([{"id": 1}, {"hunter22": 2}], [{"id": 1}, {"***": 2}]),
        ([{"id": 1}, {"id": ["hunter22"]}], [{"id": 1}, {"id": ["***"]}]),
        ([{"id": 1}, "hunter22"], [{"id": 1}, "***"]),
    ]
    for given, expected in cases:
        assert masker.mask(given) == expected


def test_a_number_equal_to_a_secret_number_is_masked_whole() -> None:
    """A secret input of type integer comes back from `SELECT {{ inputs.pin }} AS pin`
    as a number, never as text: it is masked by value (not True for 1, not other numbers)."""
    masker = Masker(["73310466", "2.75e3"])
    rows = [{"pin": 73310466, "n": 1, "ok": True}, {"pin": 5, "n": 2750.0, "ok": False}]
    assert masker.mask(rows) == [
        {"pin": "***", "n": 1, "ok": True},
        {"pin": 5, "n": "***", "ok": False},
    ]
    assert masker.mask({"value": 73310466, "nested": [73310466, 73310467]}) == {
        "value": "***",
        "nested": ["***", 73310467],
    }
    assert masker.mask(73310466) == "***"
    assert Masker(["word-Tapir"]).mask([{"pin": 73310466}]) == [{"pin": 73310466}]


PIN = 97531864  # a secret integer input: comes back from SQL as a number

PIN_RUNBOOK = """
runbook: pin2
title: Pin
connection: main
concurrency: allow
inputs:
  pin: {type: integer, secret: true}
steps:
  - id: lookup
    sql: "SELECT {{ inputs.pin }} AS pin_num, 3 AS three, 5 AS five"
    thresholds:
      pin_num: {warning: 1}
      three: {warning: "{{ inputs.pin }}"}
      five: {warning: 10, critical: "{{ inputs.pin }}"}
"""


def test_a_secret_number_never_reaches_an_evaluation_perfdata_or_the_store(
    project: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret integer selected back is a threshold's value, and templated into a limit
    it is the limit: neither reaches text, json, nagios perfdata or evaluations_json
    (reviewer's item 1). A masked value leaves its perfdata datum out; a masked limit
    leaves its field of the datum empty, as Nagios reads a limit that is not set."""
    from test_output_schema import check

    from runner.cli.main import main

    project.runbook("pin2", PIN_RUNBOOK)
    outputs = {}
    for fmt in ("text", "json", "nagios"):
        code = main(["run", "pin2", "--param", f"pin={PIN}", "--format", fmt, "--verbose"])
        outputs[fmt] = capsys.readouterr()
        assert code == 1, outputs[fmt]  # pin_num = *** > warning 1
    for fmt, (out, err) in outputs.items():
        assert str(PIN) not in out + err, fmt
    first = outputs["nagios"].out.splitlines()[0]
    assert first.startswith("PIN2 WARNING - pin_num = *** > warning 1 | ")
    assert first.split(" | ", 1)[1] == "three=3 five=5;~:10"
    document = json.loads(outputs["json"].out)
    (step,) = document["steps"]
    by_name = {e["name"]: e for e in step["evaluations"]}
    assert by_name["pin_num"]["value"] == MASK and by_name["pin_num"]["warning"] == 1
    assert by_name["three"]["value"] == 3 and by_name["three"]["warning"] == MASK
    assert by_name["five"]["critical"] == MASK and by_name["five"]["warning"] == 10
    check(document, "run")  # schemas/run-result.schema.json: a limit or value may be ***
    with sqlite3.connect(project.root / "var" / "runner.db") as db:
        stored = db.execute("SELECT evaluations_json, values_json FROM step_results").fetchall()
    assert len(stored) == 3 and all(str(PIN) not in "".join(row) for row in stored)
    assert str(PIN).encode() not in (project.root / "var" / "runner.db").read_bytes()


@pytest.mark.parametrize(
    ("secret", "value", "masked"),
    [
        ("0001", 1, False),  # 4 characters of text, but the number is 1
        (" 12 ", 12, False),
        ("1.00", 1, False),
        ("1.00", 1.0, False),
        ("-123", -123, True),
        ("12.5", 12.5, True),
        ("4711", 4711, True),
        ("4711", 4711.0, True),
        ("04711", 4711, True),  # the number 4711 is 4 characters: masked as any 4711
    ],
    ids=[
        "leading-zeros",
        "spaces",
        "1.00-int",
        "1.00-float",
        "neg",
        "float",
        "int",
        "as-float",
        "0-4711",
    ],
)
def test_a_secret_masks_a_number_only_when_the_number_is_long_enough(
    secret: str, value: float, masked: bool
) -> None:
    """The 4-character minimum applies to the number a secret spells as Python writes it
    (str of an int, repr of a float), not to the text: "0001" never masks every 1
    (reviewer's item 3)."""
    assert Masker([secret]).mask({"count": value}) == {"count": MASK if masked else value}


def test_a_decimal_equal_to_a_secret_number_is_masked() -> None:
    """NUMERIC columns come back through pyodbc as decimal.Decimal (reviewer's item 3)."""
    from decimal import Decimal

    masker = Masker(["4711", "12.5"])
    assert masker.mask(Decimal("4711")) == MASK
    assert masker.mask({"pin": Decimal("4711.00"), "n": Decimal("12.50")}) == {
        "pin": MASK,
        "n": MASK,
    }
    assert masker.mask([{"pin": Decimal("4712")}]) == [{"pin": Decimal("4712")}]
    assert masker.mask({"pin": Decimal("NaN")})["pin"].is_nan()
    assert masker.mask(Decimal("sNaN")).is_snan()  # unhashable: left as it is
    assert Masker(["word-Tapir"]).mask(Decimal("4711")) == Decimal("4711")


def test_a_secret_number_is_masked_in_the_folded_ok_items_of_a_loop(
    project: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long for_each folds its OK items into count/min/max/avg per threshold value
    (engine/items.py): a secret number is masked there too, its count is not."""
    from test_output_schema import check

    from runner.cli.main import main

    project.runbook(
        "loop",
        """
        runbook: loop
        connection: main
        inputs:
          pin: {type: integer, secret: true}
        steps:
          - id: each
            for_each: "{{ range(30) | list }}"
            as: n
            steps:
              - id: probe
                sql: "SELECT {{ inputs.pin }} AS v, {{ n }} AS k"
                thresholds:
                  v: {warning: 1000000000}
                  k: {warning: 28}
        """,
    )
    outputs = {}
    for fmt in ("text", "json"):
        assert main(["run", "loop", "--param", f"pin={PIN}", "--format", fmt]) == 1
        outputs[fmt] = capsys.readouterr().out
    assert "OK items: probe.v count 29, min ***, max ***, avg ***" in " ".join(
        outputs["text"].split()
    )
    assert "OK items: probe.k count 29, min 0, max 28, avg 14" in " ".join(outputs["text"].split())
    check(json.loads(outputs["json"]), "run")  # schemas/run-result.schema.json allows ***
    summary = json.loads(outputs["json"])["steps"][0]["items_summary"]
    assert summary["ok_values"]["probe.v"] == {"count": 29, "min": MASK, "max": MASK, "avg": MASK}
    for fmt, out in outputs.items():
        assert str(PIN) not in out, fmt
    assert str(PIN).encode() not in (project.root / "var" / "runner.db").read_bytes()
