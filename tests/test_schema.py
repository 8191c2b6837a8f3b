"""The JSON Schemas and the messages of runner.schema: real fixture files, exact messages."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from runner.base import durations
from runner.language import schema, yamlload

FIXTURES = Path(__file__).parent / "fixtures" / "schema"
REPO = Path(__file__).resolve().parent.parent


def problems_of(relative: str, kind: str) -> list[str]:
    document = yamlload.load_file(FIXTURES / relative, relative)
    return [problem.format() for problem in schema.validate_document(document, kind, relative)]


def problems_of_text(text: str, kind: str = "runbook") -> list[str]:
    document = yamlload.load_text(text, "inline.yaml")
    return [problem.format() for problem in schema.validate_document(document, kind, "inline.yaml")]


# -- the schemas themselves --------------------------------------------------------------


@pytest.mark.parametrize("kind", schema.KINDS)
def test_schema_is_valid_draft_2020_12(kind: str) -> None:
    Draft202012Validator.check_schema(json.loads(schema.schema_text(kind)))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


@pytest.mark.parametrize("kind", schema.KINDS)
def test_every_ref_resolves_offline_against_the_schema_files_own_location(kind: str) -> None:
    # No `$id`: editors and check-jsonschema resolve the relative
    # `runbook.schema.json#/$defs/...` refs against the file they read, so the sibling
    # file is found without the network (an https `$id` made them fetch a web address).
    loaded = json.loads(schema.schema_text(kind))
    assert "$id" not in loaded
    assert schema.schema_path(kind).parent == schema.schemas_dir()
    refs = _refs(loaded)
    assert refs
    for ref in refs:
        file, _, pointer = ref.partition("#")
        assert "/" not in file and ":" not in file, ref
        target: Any = json.loads((schema.schemas_dir() / file).read_text()) if file else loaded
        for part in filter(None, pointer.split("/")):
            target = target[part]
        assert isinstance(target, dict), ref


def test_unknown_schema_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown schema 'workflow'"):
        schema.schema_path("workflow")


def test_duration_pattern_is_the_one_the_model_parses() -> None:
    defs = schema.load_schema("runbook")["$defs"]
    assert defs["duration"]["pattern"] == durations.PATTERN


def _descriptions_missing(node: Any, where: str) -> list[str]:
    """Every property schema without a description (editors show it as help)."""
    missing = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if isinstance(sub, dict) and "description" not in sub and "$ref" not in sub:
                missing.append(f"{where}.{name}")
        for key, value in node.items():
            if key == "properties":
                for name, sub in value.items():
                    missing += _descriptions_missing(sub, f"{where}.{name}")
            elif isinstance(value, dict | list):
                missing += _descriptions_missing(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            missing += _descriptions_missing(item, f"{where}[{index}]")
    return missing


@pytest.mark.parametrize("kind", schema.KINDS)
def test_every_property_has_a_description(kind: str) -> None:
    # A property that is only a $ref takes the description of its definition.
    loaded = schema.load_schema(kind)
    assert _descriptions_missing(loaded, kind) == []
    for name, definition in loaded.get("$defs", {}).items():
        assert "description" in definition, name


# -- valid documents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        ("valid/full.runbook.yaml", "runbook"),
        ("valid/rollback.runbook.yaml", "runbook"),
        ("valid/last-run.check.yaml", "check"),
        ("valid/runner.yaml", "runner"),
    ],
    ids=["full-runbook", "on-failure-runbook", "check", "runner"],
)
def test_valid_fixture_has_no_problems(relative: str, kind: str) -> None:
    assert problems_of(relative, kind) == []


def _steps(steps: list[Any]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        out.append(step)
        out += _steps(step.get("steps", []))
    return out


def test_full_runbook_fixture_uses_every_key() -> None:
    """Keeps the "every key" fixture honest as the language grows."""
    document = yamlload.load_file(FIXTURES / "valid/full.runbook.yaml")
    root = schema.load_schema("runbook")
    defs = root["$defs"]
    steps = _steps(document["steps"] + document["on_failure"] + document["finally"])

    def keys(mappings: list[Any]) -> set[str]:
        return {key for mapping in mappings if isinstance(mapping, dict) for key in mapping}

    used = {
        "runbook": set(document),
        "step": keys(steps),
        "http": keys([step.get("http") for step in steps]),
        "step_notify": keys([step.get("notify") for step in steps]),
        "files": keys([step.get("files") for step in steps]),
        "tcp": keys([step.get("tcp") for step in steps]),
        "backup": keys([step.get("backup") for step in steps]),
        "prometheus": keys([step.get("prometheus") for step in steps]),
        "prometheus_selector": keys(
            [
                entry
                for step in steps
                for entry in step.get("prometheus", {}).get("metrics", {}).values()
            ]
        ),
        "system": keys([step.get("system") for step in steps]),
        "retry": keys([step.get("retry") for step in steps] + [document["defaults"]["retry"]]),
        "threshold": keys([t for step in steps for t in step.get("thresholds", {}).values()]),
        "assertion": keys([a for step in steps for a in step.get("assert", [])]),
        "input": keys(list(document["inputs"].values())),
        "defaults": set(document["defaults"]),
        "notify": set(document["notify"]),
    }
    declared = {name: set(defs[name]["properties"]) for name in used if name != "runbook"}
    declared["runbook"] = set(root["properties"])
    for name, keys_used in used.items():
        assert keys_used == declared[name], name


def test_shipped_examples_pass_the_schema() -> None:
    """runner.yaml, runbooks/ and checks/ of the repository: the schema's real users."""
    files = [(REPO / "runner.yaml", "runner")]
    for folder in ("runbooks", "checks"):
        for path in sorted((REPO / folder).rglob("*.y*ml")):
            document = yamlload.load_file(path)
            is_check = isinstance(document, dict) and "check" in document
            is_check = is_check and "runbook" not in document
            files.append((path, "check" if is_check else "runbook"))
    found = []
    for path, kind in files:
        display = str(path.relative_to(REPO))
        document = yamlload.load_file(path, display)
        found += [p.format() for p in schema.validate_document(document, kind, display)]
    assert found == []


# -- invalid documents and their exact messages -----------------------------------------

INVALID = [
    (
        "top-level-typo",
        "invalid/top_level_typo.yaml",
        "runbook",
        [
            "invalid/top_level_typo.yaml:2:1: error: unknown key 'descripton' "
            "(did you mean 'description'?)",
        ],
    ),
    (
        "step-key-typo",
        "invalid/step_key_typo.yaml",
        "runbook",
        [
            "invalid/step_key_typo.yaml:5:5: error: steps[0]: unknown key 'tresholds' "
            "(did you mean 'thresholds'?)",
        ],
    ),
    (
        "unknown-key-lists-allowed-keys",
        "invalid/unknown_key_far_from_any.yaml",
        "runbook",
        [
            "invalid/unknown_key_far_from_any.yaml:4:5: error: steps[0]: unknown key 'query' "
            "(allowed keys: id, title, description, when, sql, http, command, shell, env, cwd, "
            "check, runbook, with, notify, wait, files, tcp, backup, prometheus, system, steps, for_each, as, concurrency, "
            "on_item_error, record, transaction, connection, timeout, retry, until, thresholds, "
            "assert, hint, confirm, on_error, alert)",
            "invalid/unknown_key_far_from_any.yaml:5:26: error: steps[0].retry: unknown key "
            "'jitter' (allowed keys: attempts, backoff, delay, max_delay)",
        ],
    ),
    (
        "wrong-type",
        "invalid/wrong_type.yaml",
        "runbook",
        [
            "invalid/wrong_type.yaml:3:35: error: inputs.limit.minimum: "
            "expected a number, got 'ten' (string)",
        ],
    ),
    (
        "bad-enum",
        "invalid/bad_enum.yaml",
        "runbook",
        [
            "invalid/bad_enum.yaml:3:13: error: defaults.on_error: "
            "'sometimes' is not one of: stop, continue, warning",
            "invalid/bad_enum.yaml:6:15: error: steps[0].on_error: "
            "'contineu' is not one of: stop, continue, warning (did you mean 'continue'?)",
        ],
    ),
    (
        "missing-runbook",
        "invalid/missing_runbook.yaml",
        "runbook",
        ["invalid/missing_runbook.yaml:1:1: error: missing required key 'runbook'"],
    ),
    (
        "bad-duration",
        "invalid/bad_duration.yaml",
        "runbook",
        [
            "invalid/bad_duration.yaml:4:14: error: steps[0].timeout: "
            "'5 minutes' is not a duration: write 30s, 5m, 1h30m or 2d",
            "invalid/bad_duration.yaml:5:11: error: steps[1].wait: "
            "-10 is negative: a duration must be 0 or more",
        ],
    ),
    (
        "threshold-without-limits",
        "invalid/threshold_without_limits.yaml",
        "runbook",
        [
            "invalid/threshold_without_limits.yaml:5:22: error: "
            "steps[0].thresholds.pending_count: missing required key 'warning' or 'critical' "
            "(set at least one of them)",
        ],
    ),
    (
        "two-errors-both-reported",
        "invalid/two_errors.yaml",
        "runbook",
        [
            "invalid/two_errors.yaml:2:7: error: kind: 'healthcheck' is not one of: "
            "processing, health-check, maintenance, rollback, troubleshooting "
            "(did you mean 'health-check'?)",
            "invalid/two_errors.yaml:4:11: error: steps[0].http: missing required key 'url'",
        ],
    ),
    (
        "bad-names",
        "invalid/bad_names.yaml",
        "runbook",
        [
            "invalid/bad_names.yaml:1:10: error: runbook: 'Order Health' is not a valid name: "
            "use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit "
            "(did you mean 'order-health'?)",
            "invalid/bad_names.yaml:3:3: error: inputs: 'stale-minutes' is not a valid "
            "identifier: use letters, digits and '_', starting with a letter or '_' "
            "(did you mean 'stale_minutes'?)",
            "invalid/bad_names.yaml:5:9: error: steps[0].id: '1st-step' is not a valid step id: "
            "use letters, digits, '_' and '-', starting with a letter or '_'",
            "invalid/bad_names.yaml:6:12: error: steps[0].check: 'Last_Run' is not a valid name: "
            "use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit "
            "(did you mean 'last_run'?)",
        ],
    ),
    (
        "on-failure-typo-reported-once",
        "invalid/on_failure_typo.yaml",
        "runbook",
        [
            "invalid/on_failure_typo.yaml:5:3: error: on_failure: unknown key 'runbok' "
            "(did you mean 'runbook'?)",
        ],
    ),
    (
        "shapes",
        "invalid/shapes.yaml",
        "runbook",
        [
            "invalid/shapes.yaml:2:23: error: tags[2]: 'orders' is listed more than once "
            "(remove the repeat)",
            "invalid/shapes.yaml:4:10: error: notify.after: '3 out of 5' is not a count of runs: "
            "write a number such as 3, or '3 of 5'",
            "invalid/shapes.yaml:5:13: error: notify.escalate: missing required key 'after'",
            "invalid/shapes.yaml:7:5: error: steps[0]: expected a mapping, "
            "got 'just a string' (string)",
            "invalid/shapes.yaml:9:12: error: steps[1].steps: the list is empty: "
            "add at least one step",
            "invalid/shapes.yaml:10:14: error: steps[2].command: the list is empty: "
            "add at least one item",
            "invalid/shapes.yaml:11:20: error: steps[2].env.RETRIES: expected a string, "
            "got 3 (integer) (quote it to keep it as text: '3')",
            "invalid/shapes.yaml:11:30: error: steps[2].env.DEBUG: expected a string, "
            "got true (boolean) (quote it: YAML reads unquoted yes, no, on, off, true and "
            "false as booleans)",
            "invalid/shapes.yaml:13:9: error: steps[2].assert[0]: missing required key 'that'",
        ],
    ),
    (
        "empty-steps-and-wrong-on-failure",
        "invalid/empty_steps.yaml",
        "runbook",
        [
            "invalid/empty_steps.yaml:2:8: error: steps: the list is empty: add at least one step",
            "invalid/empty_steps.yaml:3:13: error: on_failure: expected a list or a mapping, "
            "got 'rollback-orders' (string)",
        ],
    ),
    (
        "not-a-mapping",
        "invalid/not_a_mapping.yaml",
        "runbook",
        [
            "invalid/not_a_mapping.yaml:1:1: error: expected a mapping, got a list "
            "(a runbook is a mapping that starts with `runbook: NAME` and lists `steps:`)",
        ],
    ),
    (
        "check-problems",
        "invalid/check_problems.yaml",
        "check",
        [
            "invalid/check_problems.yaml:1:1: error: missing required key 'steps'",
            "invalid/check_problems.yaml:2:1: error: unknown key 'kind' "
            "(allowed keys: check, title, description, inputs, vars, defaults, steps)",
            "invalid/check_problems.yaml:4:50: error: inputs.max_age.secret: "
            "expected true or false, got 'maybe' (string)",
        ],
    ),
    (
        "check-step-typo-through-shared-defs",
        "invalid/check_step_typo.yaml",
        "check",
        [
            "invalid/check_step_typo.yaml:7:17: error: steps[0].thresholds.minutes: "
            "unknown key 'critcal' (did you mean 'critical'?)",
        ],
    ),
    (
        "runner-connection-both-sqlite-and-odbc",
        "invalid/runner_both_sqlite_and_odbc.yaml",
        "runner",
        [
            "invalid/runner_both_sqlite_and_odbc.yaml:3:5: error: connections.orders: "
            "'sqlite' and 'odbc' cannot be used together "
            "(keep one: sqlite (a SQLite file) or odbc (an ODBC data source))",
        ],
    ),
    (
        "runner-connection-key-typo",
        "invalid/runner_connection_typo.yaml",
        "runner",
        [
            "invalid/runner_connection_typo.yaml:2:12: error: connections.orders: "
            "unknown key 'odbx' (did you mean 'odbc'?)",
            "invalid/runner_connection_typo.yaml:3:10: error: connections.demo: "
            "unknown key 'sqlit' (did you mean 'sqlite'?)",
        ],
    ),
    (
        "runner-problems",
        "invalid/runner_problems.yaml",
        "runner",
        [
            "invalid/runner_problems.yaml:4:5: error: connections.demo: unknown key 'dialect' "
            "(allowed keys: sqlite, demo, timeout)",
            "invalid/runner_problems.yaml:6:5: error: connections.counterpoint: missing required "
            "key 'sqlite' or 'odbc' (choose one: sqlite (a SQLite file) or odbc "
            "(an ODBC data source))",
            "invalid/runner_problems.yaml:9:14: error: connections.warehouse.dialect: 'mssql' is "
            "not one of: tsql, postgres, mysql, sqlite (did you mean 'tsql'?)",
            "invalid/runner_problems.yaml:11:15: error: notifications.urls.ops: expected a list, "
            "got 'mailto://127.0.0.1' (string)",
            "invalid/runner_problems.yaml:12:13: error: notifications.attempts: "
            "0 is too small: the minimum is 1",
            "invalid/runner_problems.yaml:14:1: error: unknown key 'runbook' "
            "(did you mean 'runbooks'?)",
        ],
    ),
    (
        "runner-shared-defaults-and-policy",
        "invalid/runner_defaults.yaml",
        "runner",
        [
            "invalid/runner_defaults.yaml:2:12: error: defaults.timeout: "
            "'1 hour' is not a duration: write 30s, 5m, 1h30m or 2d",
            "invalid/runner_defaults.yaml:3:33: error: defaults.retry.backoff: "
            "'linear' is not one of: exponential, fixed",
            "invalid/runner_defaults.yaml:5:63: error: notifications.policy.escalate: "
            "unknown key 'when' (allowed keys: after, to)",
        ],
    ),
]


@pytest.mark.parametrize(
    ("relative", "kind", "expected"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_fixture_messages(relative: str, kind: str, expected: list[str]) -> None:
    assert problems_of(relative, kind) == expected


def test_every_invalid_fixture_is_in_the_table() -> None:
    listed = {case[1] for case in INVALID}
    on_disk = {f"invalid/{path.name}" for path in (FIXTURES / "invalid").glob("*.yaml")}
    assert on_disk == listed


# -- values at the edges -------------------------------------------------------------------


def waiting(duration: Any) -> dict[str, Any]:
    return {"runbook": "x", "steps": [{"wait": duration}]}


@pytest.mark.parametrize(
    "value",
    ["30s", "5m", "1h30m", "2d", "250ms", "1w", "1h 30m", "1.5h", 0, 90, 2.5],
    ids=str,
)
def test_durations_people_write_are_accepted(value: Any) -> None:
    assert schema.validate_document(waiting(value), "runbook", "f") == []
    durations.parse_duration(value)  # and the model reads every one of them


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5 minutes", "'5 minutes' is not a duration: write 30s, 5m, 1h30m or 2d"),
        ("", "'' is not a duration: write 30s, 5m, 1h30m or 2d"),
        ("10", "'10' is not a duration: write 30s, 5m, 1h30m or 2d"),
        (-1, "-1 is negative: a duration must be 0 or more"),
        (True, "expected a duration such as 30s, 5m, 1h30m or 2d, got true (boolean)"),
        (None, "expected a duration such as 30s, 5m, 1h30m or 2d, got an empty value"),
    ],
    ids=["words", "empty", "number-as-text", "negative", "boolean", "empty-value"],
)
def test_durations_that_are_refused(value: Any, message: str) -> None:
    problems = schema.validate_document(waiting(value), "runbook", "f")
    assert [p.message for p in problems] == [message]
    assert problems[0].key == "steps[0].wait"


@pytest.mark.parametrize(
    ("after", "valid"),
    [
        (1, True),
        (3, True),
        ("3 of 5", True),
        (" 2  of 10 ", True),
        (0, False),
        ("3/5", False),
        (True, False),
    ],
    ids=["one", "three", "n-of-m", "n-of-m-spaced", "zero", "slash", "boolean"],
)
def test_notify_after_accepts_a_count_or_n_of_m(after: Any, valid: bool) -> None:
    document = {"runbook": "x", "notify": {"after": after}, "steps": [{"wait": 0}]}
    assert (schema.validate_document(document, "runbook", "f") == []) is valid


def test_a_document_without_marks_still_gets_keys_and_messages() -> None:
    # Library callers may validate plain dicts; there is no line to name then.
    document = {"runbook": "x", "steps": [{"sq": "SELECT 1"}]}
    problems = schema.validate_document(document, "runbook", "f")
    assert [p.format() for p in problems] == [
        "f: error: steps[0]: unknown key 'sq' (did you mean 'sql'?)"
    ]


def test_an_empty_file_is_explained() -> None:
    assert [p.format() for p in schema.validate_document(None, "check", "empty.yaml")] == [
        "empty.yaml: error: expected a mapping, got an empty value "
        "(a check is a mapping that starts with `check: NAME` and lists `steps:`)"
    ]


def test_every_error_of_a_large_file_is_reported() -> None:
    steps = "".join(f"  - id: s{i}\n    sql: SELECT {i}\n    timeout: soon\n" for i in range(30))
    found = problems_of_text(f"runbook: many\nsteps:\n{steps}")
    assert len(found) == 30
    assert found[0] == (
        "inline.yaml:5:14: error: steps[0].timeout: 'soon' is not a duration: "
        "write 30s, 5m, 1h30m or 2d"
    )
    assert found[-1].startswith("inline.yaml:92:14: error: steps[29].timeout:")


def test_nested_steps_are_checked_at_any_depth() -> None:
    found = problems_of_text(
        textwrap.dedent(
            """
        runbook: deep
        steps:
          - steps:
              - for_each: [1, 2]
                steps:
                  - transaction: true
                    steps:
                      - sql: SELECT 1
                        retyr: {attempts: 2}
        """
        )
    )
    assert found == [
        "inline.yaml:10:17: error: steps[0].steps[0].steps[0].steps[0]: unknown key 'retyr' "
        "(did you mean 'retry'?)"
    ]


def test_schema_text_is_the_pretty_json_of_the_file() -> None:
    text = schema.schema_text("runbook")
    assert text == schema.schema_path("runbook").read_text(encoding="utf-8")
    assert "\n  " in text
    assert json.loads(text)["title"] == "Runbook"


def test_an_environment_name_yaml_reads_as_a_boolean_is_explained() -> None:
    found = problems_of_text('runbook: x\nsteps:\n  - command: [env]\n    env: {ON: "1"}\n')
    assert found == [
        "inline.yaml:4:11: error: steps[0].env: the key true must be text (quote it: YAML reads "
        "unquoted yes, no, on, off, true, false and numbers as values)"
    ]


# -- the jsonschema-rs fast path ----------------------------------------------------------

# Values put in place of every node of every fixture: other types, strings the two regex
# dialects read differently (a final newline, Arabic-Indic digits), names and durations.
_REPLACEMENTS: list[Any] = [
    None, True, False, 0, -1, 1.5, 10**20, "", "x", "abc\n", "10s\n", "1 of 2\n", "\u0661\u0660s",
    "a b", "Bad-Name", "_x", "${X}", "PT5M", [], {}, ["x"], {"x": 1},
]  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Any:
    yield path
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _paths(item, (*path, key))


#: The nodes of one shipped runbook that are mutated, at most: evenly spread over it.
#: Every node of a fixture is; a shipped runbook repeats the shapes the fixtures hold,
#: and all of each would cost minutes (a copy of the document per mutation), growing
#: with every runbook shipped.
SHIPPED_NODES = 24


def _mutations(document: Any, nodes: int | None = None) -> Any:
    """The document, and one copy per (node, change): replaced, deleted, or given an
    unknown key; at most `nodes` nodes, evenly spread, when given."""
    yield document
    paths = list(_paths(document))[1:]
    if nodes is not None and len(paths) > nodes:
        paths = [paths[index * len(paths) // nodes] for index in range(nodes)]
    for path in paths:
        *parents, last = path
        for replacement in [*_REPLACEMENTS, "delete", "unknown key"]:
            copy = _plain(document)
            parent = copy
            for segment in parents:
                parent = parent[segment]
            if replacement == "delete":
                if not isinstance(parent, dict):
                    continue
                del parent[last]
            elif replacement == "unknown key":
                if not isinstance(parent[last], dict):
                    continue
                parent[last]["zz_unknown"] = 1
            else:
                parent[last] = replacement
            yield copy


def _documents() -> list[tuple[str, str, Any, int | None]]:
    """(name, kind, document, how many of its nodes to mutate: None for all)."""
    found: list[tuple[str, str, Any, int | None]] = [
        ("runner.yaml", "runner", yamlload.load_file(REPO / "runner.yaml"), None)
    ]
    paths = sorted(FIXTURES.rglob("*.yaml")) + sorted((REPO / "runbooks").rglob("*.yaml"))
    paths += sorted((REPO / "checks").rglob("*.yaml"))
    for path in paths:
        document = yamlload.load_file(path)
        if path.name.startswith("runner"):
            kind = "runner"
        elif isinstance(document, dict) and "check" in document and "runbook" not in document:
            kind = "check"
        else:
            kind = "runbook"
        shipped = not path.is_relative_to(FIXTURES)
        found.append((path.name, kind, document, SHIPPED_NODES if shipped else None))
    return found


def test_the_fast_path_never_passes_what_jsonschema_rejects() -> None:
    """Thousands of variants of every fixture and shipped file: whenever jsonschema-rs
    says valid, jsonschema must agree, or an invalid runbook would slip through."""
    assert all(schema._fast_validator(kind) is not None for kind in schema.KINDS)
    checked = passed = 0
    slipped = []
    for name, kind, document, nodes in _documents():
        slow = schema._validator(kind)
        for variant in _mutations(_plain(document), nodes):
            checked += 1
            if schema._certainly_valid(variant, kind):
                passed += 1
                if not slow.is_valid(variant):
                    slipped.append((name, next(iter(slow.iter_errors(variant))).message))
    assert slipped == []
    assert checked > 3_000
    assert passed > 1_000  # the fast path is taken, so the comparison means something


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "runbook: x\ntags: !!omap [{a: 1}]\nsteps:\n  - sql: SELECT 1\n",
            "inline.yaml:2:7: error: tags[0]: expected a string, got ('a', 1) (tuple)",
        ),
        (
            "runbook: x\ntags: !!set {a: null}\nsteps:\n  - sql: SELECT 1\n",
            "inline.yaml:2:7: error: tags: expected a list, got {'a'} (set)",
        ),
        (
            "runbook: x\ndescription: 2026-11-24\nsteps:\n  - sql: SELECT 1\n",
            "inline.yaml:2:14: error: description: expected a string, got 2026-11-24 (date)",
        ),
    ],
    ids=["omap", "set", "date"],
)
def test_values_json_does_not_have_are_judged_by_jsonschema(text: str, expected: str) -> None:
    # jsonschema-rs reads a tuple as an array and fails on dates and sets; none of
    # that may decide: these go to jsonschema, and its message stands.
    document = yamlload.load_text(text, "inline.yaml")
    assert not schema._certainly_valid(document, "runbook")
    assert problems_of_text(text) == [expected]


@pytest.mark.parametrize(
    ("text", "shaped"),
    [
        ("a: [1, 2.5, x, true, null, {b: c}]", True),
        ("a: [0x1F, 012, 1_000, -7, 123456789012345678901234567890]", True),
        ("a: !!omap [{b: 1}]", False),
        ("a: !!set {b: null}", False),
        ("a: 2026-11-24", False),
        ("a: !!binary aGVsbG8=", False),
        ("a: .nan", False),
        ("a: -.inf", False),
        ("{1: a}", False),
    ],
)
def test_only_json_shaped_documents_take_the_fast_path(text: str, shaped: bool) -> None:
    document = yamlload.load_text(text)
    assert schema._json_shaped(document) is shaped
    assert document.json_shaped is shaped  # what the loader found on its way, as schema reads it


def test_without_jsonschema_rs_jsonschema_alone_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    # jsonschema-rs is a speed-up: where it cannot be installed, every answer is the same.
    monkeypatch.setattr(schema, "_fast_validator", lambda kind: None)
    assert problems_of("valid/full.runbook.yaml", "runbook") == []
    assert problems_of("valid/runner.yaml", "runner") == []
    assert problems_of("invalid/wrong_type.yaml", "runbook") != []


def test_a_name_or_id_with_a_trailing_newline_is_refused() -> None:
    # Python's `$` matches before a final newline; the patterns end in `$(?!\n)`.
    found = problems_of_text('runbook: "abc\\n"\nsteps:\n  - id: "s\\n"\n    sql: SELECT 1\n')
    assert found == [
        "inline.yaml:1:10: error: runbook: 'abc\\n' is not a valid name: use lowercase "
        "letters, digits, '.', '_' and '-', starting with a letter or digit (did you mean "
        "'abc'?)",
        "inline.yaml:3:9: error: steps[0].id: 's\\n' is not a valid step id: use letters, "
        "digits, '_' and '-', starting with a letter or '_' (did you mean 's'?)",
    ]


def test_building_and_checking_never_fail_on_what_the_schema_rejects(tmp_path: Path) -> None:
    """The same variants through the rest of the pipeline: the model is built from each and
    its checks of meaning run (runbook validate reports them beside the schema's). Every
    third variant, to keep the suite quick; all of them were checked when this was written."""
    from runner.language.build import build
    from runner.language.config import Config
    from runner.language.library import Library
    from runner.language.meaning import meaning
    from runner.steps import STEP_TYPES

    library = Library(Config(root=tmp_path, sql_dirs=(tmp_path,)), STEP_TYPES)
    checked = 0
    for _, kind, document, nodes in _documents():
        if kind == "runner":
            continue
        for index, variant in enumerate(_mutations(_plain(document), nodes)):
            if index % 3 or not isinstance(variant, dict):
                continue
            built = build(variant, "m.yaml", library.config, STEP_TYPES)
            meaning(built.runbook, tmp_path / "m.yaml", library, STEP_TYPES)
            checked += 1
    assert checked > 3_000
