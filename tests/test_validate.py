"""Bad runbooks are refused with every problem, each naming file, line, key and a fix.

The tables compare the complete list of problems, in the order `runbook validate` prints
them, word for word: a check that moves, merges or changes its wording shows here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.base.errors import InvalidInput

FIXTURES = Path(__file__).parent / "fixtures" / "schema"

LAST_RUN_CHECK = """\
check: last-run
inputs:
  runbook: {type: string}
steps:
  - sql: SELECT 1
"""


def problems_of(project, text: str, name: str = "t") -> list[str]:
    """Every problem of one runbook, as `runbook validate` prints them (by file and line),
    with the project's folder written as {root}."""
    return problems_in(project, project.runbook(name, text))


def problems_in(project, path) -> list[str]:
    found = project.library().problems(path)
    ordered = sorted(found, key=lambda p: (p.file or "", p.line or 0, p.col or 0))
    return [p.format().replace(str(project.root), "{root}") for p in ordered]


CASES = [
    (
        "yaml-syntax",
        "runbook: t\nsteps: [\n  - sql: SELECT 1\n",
        [
            "runbooks/t.yaml:3:3: error: YAML syntax error: did not find expected node content (while parsing a flow node) (check the indentation and quoting around this line)"
        ],
    ),
    (
        "tab-indentation",
        "runbook: t\nsteps:\n\t- sql: SELECT 1\n",
        [
            "runbooks/t.yaml:3:1: error: YAML syntax error: a tab character is used for indentation (YAML indentation must use spaces; replace the tab with spaces)"
        ],
    ),
    (
        "duplicate-key",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:5:5: error: duplicate key 'sql' (first defined on line 4) (keep one of them: YAML would silently use the last)"
        ],
    ),
    (
        "missing-sql-file",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: orders/nope.sql\n",
        [
            "runbooks/t.yaml:5:10: error: steps[0].sql: SQL file 'orders/nope.sql' not found (looked in {root}/sql)"
        ],
    ),
    (
        "jinja-syntax",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: SELECT {{ 1 +\n",
        [
            "runbooks/t.yaml:5:10: error: steps[0].sql: template syntax error: unexpected 'end of template' (check the Jinja {{ }} / {% %} pairs)"
        ],
    ),
    (
        "duplicate-step-id",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: SELECT 1\n  - id: a\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:6:9: error: steps[1].id: duplicate step id 'a' (first used on line 4) (step ids must be unique in a runbook: results are reached as steps.<id>)"
        ],
    ),
    (
        "reference-to-later-step",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    when: steps.b.value > 0\n    sql: SELECT 1\n  - id: b\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:5:11: error: steps[0].when: step 'b' is used before it runs (a step can only read the results of steps above it)"
        ],
    ),
    (
        "reference-to-unknown-step",
        "runbook: t\nconnection: main\nsteps:\n  - id: count\n    sql: SELECT 1\n  - id: b\n    when: steps.cuont.value > 0\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:7:11: error: steps[1].when: no step with id 'cuont' (did you mean 'count'?)"
        ],
    ),
    (
        "unknown-connection",
        "runbook: t\nsteps:\n  - id: a\n    connection: mian\n    sql: SELECT 1\n",
        [
            "runbooks/t.yaml:4:17: error: steps[0].connection: unknown connection 'mian' (did you mean 'main'?)"
        ],
    ),
    (
        "unknown-input",
        "runbook: t\nconnection: main\ninputs:\n  stale: {type: integer, default: 5}\nsteps:\n  - sql: SELECT {{ inputs.stael }}\n",
        [
            "runbooks/t.yaml:6:10: error: steps[0].sql: unknown input 'stael' (did you mean 'stale'?)"
        ],
    ),
    (
        "warning-beyond-critical",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1 AS n\n    thresholds:\n      n: {warning: 50, critical: 10}\n",
        [
            "runbooks/t.yaml:6:20: error: steps[0].thresholds.n.warning: warning 50 is above critical 10, so it could never fire (with direction above (bad when high), warning must be at most critical)"
        ],
    ),
    (
        "invalid-cron",
        "runbook: t\nschedule: 61 * * * *\nconnection: main\nsteps:\n  - sql: SELECT 1\n",
        [
            "runbooks/t.yaml:2:11: error: schedule: '61 * * * *' is not a valid cron schedule (write five fields: minute hour day-of-month month day-of-week, e.g. \"0 * * * *\")"
        ],
    ),
    (
        "default-of-wrong-type",
        "runbook: t\nconnection: main\ninputs:\n  n: {type: integer, default: ten}\nsteps:\n  - sql: SELECT 1\n",
        [
            "runbooks/t.yaml:4:31: error: inputs.n.default: default of input 'n' is wrong: expected a whole number, got 'ten' (the input is declared as type integer)"
        ],
    ),
    (
        "two-actions",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1\n    wait: 5s\n",
        [
            "runbooks/t.yaml:4:5: error: steps[0]: a step does exactly one thing, but this one has sql, wait (split it into one step per action)"
        ],
    ),
    (
        "unknown-check",
        "runbook: t\nsteps:\n  - check: last-rnu\n",
        [
            "runbooks/t.yaml:3:12: error: steps[0].check: no check named 'last-rnu' in checks; did you mean 'last-run'?"
        ],
    ),
    (
        "calls-itself",
        "runbook: t\nsteps:\n  - runbook: t\n",
        [
            "runbooks/t.yaml:3:14: error: steps[0].runbook: runbook call cycle: t -> t (a runbook must not call itself, directly or through others)"
        ],
    ),
    (
        "options-of-other-step-types",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1\n    with: {a: 1}\n    shell: true\n    cwd: /tmp\n",
        [
            "runbooks/t.yaml:5:5: error: steps[0].with: 'with' only belongs to check or runbook steps",
            "runbooks/t.yaml:6:5: error: steps[0].shell: 'shell' only belongs to command steps",
            "runbooks/t.yaml:7:5: error: steps[0].cwd: 'cwd' only belongs to command steps",
        ],
    ),
    (
        "for-each-keys-without-for-each",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1\n    as: row\n    concurrency: 2\n    on_item_error: stop\n",
        [
            "runbooks/t.yaml:5:5: error: steps[0].as: 'as' only has a meaning beside for_each",
            "runbooks/t.yaml:6:5: error: steps[0].concurrency: 'concurrency' only has a meaning beside for_each",
            "runbooks/t.yaml:7:5: error: steps[0].on_item_error: 'on_item_error' only has a meaning beside for_each",
        ],
    ),
    (
        "judged-where-nothing-applies-it",
        "runbook: t\nconnection: main\nsteps:\n  - id: g\n    thresholds: {v: {warning: 1}}\n    assert: [v == 1]\n    steps:\n      - sql: SELECT 1 AS v\n",
        [
            "runbooks/t.yaml:5:5: error: steps[0].thresholds: 'thresholds' judges a step's own result, and a step of nested steps has none (put it on the nested step whose result it reads)",
            "runbooks/t.yaml:6:5: error: steps[0].assert: 'assert' judges a step's own result, and a step of nested steps has none (put it on the nested step whose result it reads)",
        ],
    ),
    (
        "judged-calls-where-nothing-applies-it",
        "runbook: t\nconnection: main\nsteps:\n  - check: last-run\n    with: {runbook: x}\n    assert: [steps]\n  - runbook: other\n    thresholds: {status: {warning: 1}}\n",
        [
            "runbooks/t.yaml:6:5: error: steps[0].assert: 'assert' is not applied to a check call (put it in the check's own steps, or override the check's thresholds here)",
            "runbooks/t.yaml:7:14: error: steps[1].runbook: no runbook named 'other' in runbooks; known: t",
            "runbooks/t.yaml:8:5: error: steps[1].thresholds: a runbook call has no values to hold thresholds, only its status (judge the call with assert: [{that: \"status == 'OK'\"}])",
        ],
    ),
    (
        "action-step-with-nested-steps",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1\n    steps:\n      - sql: SELECT 2\n",
        [
            "runbooks/t.yaml:5:5: error: steps[0].steps: a sql step cannot also hold nested steps (nested steps belong to a group, a for_each or a transaction step)"
        ],
    ),
    (
        "step-that-does-nothing",
        "runbook: t\nsteps:\n  - id: a\n    title: nothing here\n",
        [
            "runbooks/t.yaml:3:5: error: steps[0]: the step does nothing: give it one of sql, http, command, check, runbook, notify, wait, files, tcp, backup, prometheus, system or nested steps"
        ],
    ),
    (
        "transaction-shapes",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    transaction: true\n    sql: SELECT 1\n  - id: b\n    transaction: true\n    steps:\n      - sql: SELECT 1\n      - wait: 1s\n      - steps:\n          - http: {url: 'http://127.0.0.1/'}\n",
        [
            "runbooks/t.yaml:5:18: error: steps[0].transaction: a transaction needs nested sql steps under `steps:`",
            "runbooks/t.yaml:11:9: error: steps[1].steps[1]: only sql steps can run inside a transaction",
            "runbooks/t.yaml:13:13: error: steps[1].steps[2].steps[0]: only sql steps can run inside a transaction",
        ],
    ),
    (
        "sql-without-connection",
        "runbook: t\nsteps:\n  - id: a\n    sql: SELECT 1\n  - id: b\n    connection: main\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:3:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)"
        ],
    ),
    (
        "unknown-connection-far-from-any",
        "runbook: t\nsteps:\n  - connection: warehouse\n    sql: SELECT 1\n",
        [
            "runbooks/t.yaml:3:17: error: steps[0].connection: unknown connection 'warehouse' (known connections: main, state (in {root}/runner.yaml))"
        ],
    ),
    (
        "unknown-runbook-and-on-failure-runbook",
        "runbook: t\nconnection: main\non_failure: {runbook: rollbak}\nsteps:\n  - runbook: nope\n",
        [
            "runbooks/t.yaml:3:23: error: on_failure.runbook: no runbook named 'rollbak' in runbooks; known: t",
            "runbooks/t.yaml:5:14: error: steps[0].runbook: no runbook named 'nope' in runbooks; known: t",
        ],
    ),
    (
        "unknown-timezone",
        "runbook: t\nschedule: '0 * * * *'\ntimezone: Mars/Olympus\nconnection: main\nsteps:\n  - sql: SELECT 1\n",
        [
            "runbooks/t.yaml:3:11: error: timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin or UTC)"
        ],
    ),
    (
        "multi-line-template-syntax-error",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: |\n      SELECT 1\n      FROM t\n      WHERE x = {{ 1 +\n",
        [
            "runbooks/t.yaml:8: error: steps[0].sql: template syntax error: unexpected 'end of template' (check the Jinja {{ }} / {% %} pairs)"
        ],
    ),
    (
        "unknown-names-in-templates",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    title: '{{ foo }} and {{ bar.baz }}'\n    hint: 'see {{ env.HOME }}'\n    sql: SELECT 1\n    when: nope > 1\n",
        [
            "runbooks/t.yaml:5:12: error: steps[0].title: unknown name 'bar' in template (names available: inputs, steps, env, vars, now, run)",
            "runbooks/t.yaml:5:12: error: steps[0].title: unknown name 'foo' in template (names available: inputs, steps, env, vars, now, run)",
            "runbooks/t.yaml:8:11: error: steps[0].when: unknown name 'nope' in expression (names available: inputs, steps, env, vars, now, run)",
        ],
    ),
    (
        "an-unknown-bare-name-as-a-condition",  # `when: typo` would be undefined: never true
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: SELECT 1\n    when: typo\n  - id: b\n    sql: SELECT 1\n    when: steps\n",
        [
            "runbooks/t.yaml:6:11: error: steps[0].when: unknown name 'typo' in expression (names available: inputs, steps, env, vars, now, run)",
        ],
    ),
    (
        "loop-names-and-their-scope",
        "runbook: t\nconnection: main\nsteps:\n  - id: each\n    for_each: [1, 2]\n    as: order\n    steps:\n      - id: inner\n        sql: SELECT {{ order }}, {{ item }}\n  - id: after\n    sql: SELECT {{ order }}\n",
        [
            "runbooks/t.yaml:9:14: error: steps[0].steps[0].sql: unknown name 'item' in template (names available: inputs, steps, env, vars, now, run, order)",
            "runbooks/t.yaml:11:10: error: steps[1].sql: unknown name 'order' in template (names available: inputs, steps, env, vars, now, run)",
        ],
    ),
    (
        "threshold-below-and-templated",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1 AS free\n    thresholds:\n      free: {warning: 5, critical: 10, direction: below}\n      other: {warning: '{{ 1 +', critical: 3}\n      ratio: {value: 'row.free /', critical: 3}\n",
        [
            "runbooks/t.yaml:6:23: error: steps[0].thresholds.free.warning: warning 5 is below critical 10, so it could never fire (with direction below (bad when low), warning must be at least critical)",
            "runbooks/t.yaml:7:24: error: steps[0].thresholds.other.warning: template syntax error: unexpected 'end of template' (check the Jinja {{ }} / {% %} pairs)",
            "runbooks/t.yaml:8:22: error: steps[0].thresholds.ratio.value: expression syntax error: unexpected 'end of template' (check the Jinja {{ }} / {% %} pairs)",
        ],
    ),
    (
        "alert-on-a-nested-step-and-bad-policies",
        "runbook: t\nconnection: main\nnotify:\n  after: 5 of 3\n  title: '{{ run.id'\nsteps:\n  - id: g\n    steps:\n      - sql: SELECT 1\n        alert: {critical: [ops], body: '{% if %}'}\n",
        [
            "runbooks/t.yaml:4:10: error: notify.after: after: '5 of 3' must be N of M with 1 <= N <= M <= 50, such as '3 of 5'",
            "runbooks/t.yaml:5:10: error: notify.title: template syntax error: unexpected end of template, expected 'end of print statement'.",
            "runbooks/t.yaml:10:9: error: steps[0].steps[0].alert: alert: only routes a top-level step (move it to the top-level step that holds this one, or to the runbook's notify:)",
            "runbooks/t.yaml:10:40: error: steps[0].steps[0].alert.body: template syntax error: Expected an expression, got 'end of statement block'",
        ],
    ),
    (
        "references-across-sections",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: SELECT {{ steps['b'].value }}\n  - id: b\n    sql: SELECT 1\nfinally:\n  - id: f\n    sql: SELECT {{ steps.a.value }}, {{ steps.f.value }}, {{ steps.zz.value }}\non_failure:\n  - id: o\n    sql: SELECT {{ steps.f.value }}\n",
        [
            "runbooks/t.yaml:5:10: error: steps[0].sql: step 'b' is used before it runs (a step can only read the results of steps above it)",
            "runbooks/t.yaml:10:10: error: finally[0].sql: no step with id 'zz' (known step ids: a, b, f, o (in {root}/runner.yaml))",
            "runbooks/t.yaml:13:10: error: on_failure[0].sql: step 'f' is used before it runs (a step can only read the results of steps above it)",
        ],
    ),
    (
        "unknown-input-without-inputs",
        "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT {{ inputs.id }}, {{ inputs['other'] }}\n",
        [
            "runbooks/t.yaml:4:10: error: steps[0].sql: unknown input 'id' (declare it under `inputs:`)",
            "runbooks/t.yaml:4:10: error: steps[0].sql: unknown input 'other' (declare it under `inputs:`)",
        ],
    ),
    (
        "duplicate-ids-in-nested-and-finally",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    steps:\n      - id: a\n        sql: SELECT 1\nfinally:\n  - id: a\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:6:13: error: steps[0].steps[0].id: duplicate step id 'a' (first used on line 4) (step ids must be unique in a runbook: results are reached as steps.<id>)",
            "runbooks/t.yaml:9:9: error: finally[0].id: duplicate step id 'a' (first used on line 4) (step ids must be unique in a runbook: results are reached as steps.<id>)",
        ],
    ),
    (
        "assert-and-until-expressions",
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    sql: SELECT 1 AS n\n    until: n ==\n    assert:\n      - n > 0 and\n      - {that: 'value < (', severity: warning}\n      - {that: n < 100}\n",
        [
            "runbooks/t.yaml:6:12: error: steps[0].until: expression syntax error: unexpected 'end of template' (check the Jinja {{ }} / {% %} pairs)",
            "runbooks/t.yaml:8:9: error: steps[0].assert[0]: expression syntax error: unexpected 'end of template' (check the Jinja {{ }} / {% %} pairs)",
            "runbooks/t.yaml:9:16: error: steps[0].assert[1].that: expression syntax error: unexpected 'end of template' (check the Jinja {{ }} / {% %} pairs)",
        ],
    ),
    (
        "strings-nested-in-step-values",
        "runbook: t\nsteps:\n  - id: api\n    http:\n      url: '{{ nope.url }}'\n      headers: {X-Id: '{{ inputs.missing }}'}\n  - id: cmd\n    command: [echo, '{{ later }}']\n    env: {A: '{{ steps.zz.x }}'}\n    cwd: '{{ x'\n  - id: tell\n    notify: {to: ops, title: '{{ nothing }}'}\n  - id: pause\n    wait: '{{ inputs.w }}'\n  - id: call\n    check: last-run\n    with: {runbook: '{{ who }}'}\n",
        [
            "runbooks/t.yaml:5:12: error: steps[0].http.url: unknown name 'nope' in template (names available: inputs, steps, env, vars, now, run)",
            "runbooks/t.yaml:6:23: error: steps[0].http.headers.X-Id: unknown input 'missing' (declare it under `inputs:`)",
            "runbooks/t.yaml:8:21: error: steps[1].command[1]: unknown name 'later' in template (names available: inputs, steps, env, vars, now, run)",
            "runbooks/t.yaml:9:14: error: steps[1].env.A: no step with id 'zz' (known step ids: api, call, cmd, pause, tell (in {root}/runner.yaml))",
            "runbooks/t.yaml:10:10: error: steps[1].cwd: template syntax error: unexpected end of template, expected 'end of print statement'. (check the Jinja {{ }} / {% %} pairs)",
            "runbooks/t.yaml:12:30: error: steps[2].notify.title: unknown name 'nothing' in template (names available: inputs, steps, env, vars, now, run)",
            "runbooks/t.yaml:14:11: error: steps[3].wait: '{{ inputs.w }}' is not a duration: write 30s, 5m, 1h30m or 2d",
            "runbooks/t.yaml:14:11: error: steps[3].wait: unknown input 'w' (declare it under `inputs:`)",
            "runbooks/t.yaml:17:21: error: steps[4].with.runbook: unknown name 'who' in template (names available: inputs, steps, env, vars, now, run)",
        ],
    ),
    (
        "unknown-runbook-connection",
        "runbook: t\nconnection: mian\nsteps:\n  - sql: SELECT 1\n  - connection: state\n    sql: SELECT 2\n",
        [
            "runbooks/t.yaml:2:13: error: connection: unknown connection 'mian' (did you mean 'main'?)",
        ],
    ),
    (
        "valid-runbook-has-no-problems",
        "runbook: t\nconnection: main\ninputs:\n  n: {type: integer, default: 3}\nvars: {limit: 5}\nsteps:\n  - id: a\n    sql: SELECT {{ inputs.n }} AS n, {{ vars.limit }} AS l\n    thresholds:\n      n: {warning: '{{ inputs.n }}', critical: 10}\n    assert: [n > 0]\n  - id: b\n    when: steps.a.value > 0\n    for_each: steps.a.rows\n    steps:\n      - sql: SELECT {{ item.n }}, {{ steps.a.value }}\n",
        [],
    ),
]


@pytest.mark.parametrize("name, text, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_runbooks_give_exact_messages(project, name, text, expected):
    project.write("checks/last-run.yaml", LAST_RUN_CHECK)
    assert problems_of(project, text) == expected


# The fixtures the JSON Schema rejects (tests/test_schema.py), through the whole pipeline:
# the checks of meaning run on them too, must not crash, and add what they find.
SCHEMA_REJECTED = [
    (
        "top-level-typo",
        "invalid/top_level_typo.yaml",
        "runbooks",
        [
            "runbooks/top_level_typo.yaml:2:1: error: unknown key 'descripton' (did you mean 'description'?)",
            "runbooks/top_level_typo.yaml:4:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)",
        ],
    ),
    (
        "step-key-typo",
        "invalid/step_key_typo.yaml",
        "runbooks",
        [
            "runbooks/step_key_typo.yaml:3:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)",
            "runbooks/step_key_typo.yaml:4:10: error: steps[0].sql: SQL file 'orders/pending_orders.sql' not found (looked in {root}/sql)",
            "runbooks/step_key_typo.yaml:5:5: error: steps[0]: unknown key 'tresholds' (did you mean 'thresholds'?)",
        ],
    ),
    (
        "unknown-key-lists-allowed-keys",
        "invalid/unknown_key_far_from_any.yaml",
        "runbooks",
        [
            "runbooks/unknown_key_far_from_any.yaml:3:5: error: steps[0]: the step does nothing: give it one of sql, http, command, check, runbook, notify, wait, files, tcp, backup, prometheus, system or nested steps",
            "runbooks/unknown_key_far_from_any.yaml:4:5: error: steps[0]: unknown key 'query' (allowed keys: id, title, description, when, sql, http, command, shell, env, cwd, check, runbook, with, notify, wait, files, tcp, backup, prometheus, system, steps, for_each, as, concurrency, on_item_error, record, transaction, connection, timeout, retry, until, thresholds, assert, hint, confirm, on_error, alert)",
            "runbooks/unknown_key_far_from_any.yaml:5:26: error: steps[0].retry: unknown key 'jitter' (allowed keys: attempts, backoff, delay, max_delay)",
        ],
    ),
    (
        "wrong-type",
        "invalid/wrong_type.yaml",
        "runbooks",
        [
            "runbooks/wrong_type.yaml:3:35: error: inputs.limit.minimum: expected a number, got 'ten' (string)",
            "runbooks/wrong_type.yaml:5:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)",
        ],
    ),
    (
        "bad-enum",
        "invalid/bad_enum.yaml",
        "runbooks",
        [
            "runbooks/bad_enum.yaml:3:13: error: defaults.on_error: 'sometimes' is not one of: stop, continue, warning",
            "runbooks/bad_enum.yaml:5:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)",
            "runbooks/bad_enum.yaml:6:15: error: steps[0].on_error: 'contineu' is not one of: stop, continue, warning (did you mean 'continue'?)",
        ],
    ),
    (
        "missing-runbook",
        "invalid/missing_runbook.yaml",
        "runbooks",
        [
            "runbooks/missing_runbook.yaml:1:1: error: missing required key 'runbook'",
            "runbooks/missing_runbook.yaml:3:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)",
        ],
    ),
    (
        "bad-duration",
        "invalid/bad_duration.yaml",
        "runbooks",
        [
            "runbooks/bad_duration.yaml:3:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)",
            "runbooks/bad_duration.yaml:4:14: error: steps[0].timeout: '5 minutes' is not a duration: write 30s, 5m, 1h30m or 2d",
            "runbooks/bad_duration.yaml:5:11: error: steps[1].wait: -10 is negative: a duration must be 0 or more",
        ],
    ),
    (
        "threshold-without-limits",
        "invalid/threshold_without_limits.yaml",
        "runbooks",
        [
            "runbooks/threshold_without_limits.yaml:3:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)",
            "runbooks/threshold_without_limits.yaml:5:22: error: steps[0].thresholds.pending_count: missing required key 'warning' or 'critical' (set at least one of them)",
        ],
    ),
    (
        "two-errors-both-reported",
        "invalid/two_errors.yaml",
        "runbooks",
        [
            "runbooks/two_errors.yaml:2:7: error: kind: 'healthcheck' is not one of: processing, health-check, maintenance, rollback, troubleshooting (did you mean 'health-check'?)",
            "runbooks/two_errors.yaml:4:11: error: steps[0].http: missing required key 'url'",
        ],
    ),
    (
        "bad-names",
        "invalid/bad_names.yaml",
        "runbooks",
        [
            "runbooks/bad_names.yaml:1:10: error: runbook: 'Order Health' is not a valid name: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit (did you mean 'order-health'?)",
            "runbooks/bad_names.yaml:3:3: error: inputs: 'stale-minutes' is not a valid identifier: use letters, digits and '_', starting with a letter or '_' (did you mean 'stale_minutes'?)",
            "runbooks/bad_names.yaml:5:9: error: steps[0].id: '1st-step' is not a valid step id: use letters, digits, '_' and '-', starting with a letter or '_'",
            "runbooks/bad_names.yaml:6:12: error: steps[0].check: 'Last_Run' is not a valid name: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit (did you mean 'last_run'?)",
            "runbooks/bad_names.yaml:6:12: error: steps[0].check: no check named 'Last_Run' in checks",
        ],
    ),
    (
        "on-failure-typo-reported-once",
        "invalid/on_failure_typo.yaml",
        "runbooks",
        [
            "runbooks/on_failure_typo.yaml:3:5: error: steps[0]: this sql step has no connection (set `connection:` on the runbook or on the step)",
            "runbooks/on_failure_typo.yaml:5:3: error: on_failure: unknown key 'runbok' (did you mean 'runbook'?)",
        ],
    ),
    (
        "shapes",
        "invalid/shapes.yaml",
        "runbooks",
        [
            "runbooks/shapes.yaml:2:23: error: tags[2]: 'orders' is listed more than once (remove the repeat)",
            "runbooks/shapes.yaml:4:10: error: notify.after: '3 out of 5' is not a count of runs: write a number such as 3, or '3 of 5'",
            "runbooks/shapes.yaml:4:10: error: notify.after: after: '3 out of 5' is not a count of runs: write 3, or '3 of 5'",
            "runbooks/shapes.yaml:5:13: error: notify.escalate: missing required key 'after'",
            "runbooks/shapes.yaml:7:5: error: steps[0]: expected a mapping, got 'just a string' (string)",
            "runbooks/shapes.yaml:9:12: error: steps[1].steps: the list is empty: add at least one step",
            "runbooks/shapes.yaml:10:14: error: steps[2].command: the list is empty: add at least one item",
            "runbooks/shapes.yaml:11:20: error: steps[2].env.RETRIES: expected a string, got 3 (integer) (quote it to keep it as text: '3')",
            "runbooks/shapes.yaml:11:30: error: steps[2].env.DEBUG: expected a string, got true (boolean) (quote it: YAML reads unquoted yes, no, on, off, true and false as booleans)",
            "runbooks/shapes.yaml:13:9: error: steps[2].assert[0]: missing required key 'that'",
        ],
    ),
    (
        "empty-steps-and-wrong-on-failure",
        "invalid/empty_steps.yaml",
        "runbooks",
        [
            "runbooks/empty_steps.yaml:2:8: error: steps: the list is empty: add at least one step",
            "runbooks/empty_steps.yaml:3:13: error: on_failure: expected a list or a mapping, got 'rollback-orders' (string)",
        ],
    ),
    (
        "not-a-mapping",
        "invalid/not_a_mapping.yaml",
        "runbooks",
        [
            "runbooks/not_a_mapping.yaml:1:1: error: a runbook must be a mapping with `runbook:` and `steps:`"
        ],
    ),
    (
        "check-problems",
        "invalid/check_problems.yaml",
        "checks",
        [
            "checks/check_problems.yaml:1:1: error: missing required key 'steps'",
            "checks/check_problems.yaml:2:1: error: unknown key 'kind' (allowed keys: check, title, description, inputs, vars, defaults, steps)",
            "checks/check_problems.yaml:4:50: error: inputs.max_age.secret: expected true or false, got 'maybe' (string)",
        ],
    ),
    (
        "check-step-typo-through-shared-defs",
        "invalid/check_step_typo.yaml",
        "checks",
        [
            "checks/check_step_typo.yaml:5:10: error: steps[0].sql: SQL file 'runs/minutes_since_success.sql' not found (looked in {root}/sql)",
            "checks/check_step_typo.yaml:7:17: error: steps[0].thresholds.minutes: unknown key 'critcal' (did you mean 'critical'?)",
        ],
    ),
]


@pytest.mark.parametrize(
    "name, relative, folder, expected", SCHEMA_REJECTED, ids=[c[0] for c in SCHEMA_REJECTED]
)
def test_documents_the_schema_rejects_get_every_problem(project, name, relative, folder, expected):
    target = project.root / folder / relative.split("/")[-1]
    shutil.copy(FIXTURES / relative, target)
    assert problems_in(project, target) == expected


def test_every_problem_is_reported_not_just_the_first(project):
    found = problems_of(
        project,
        """
        runbook: t
        connection: main
        schedule: "every hour"
        steps:
          - id: a
            sql: SELECT {{ inputs.nope }}
          - id: a
            sql: SELECT 1
            thresholds:
              n: {warning: 9, critical: 1}
        """,
    )
    assert found == [
        "runbooks/t.yaml:3:11: error: schedule: 'every hour' is not a valid cron schedule (write five fields: minute hour day-of-month month day-of-week, e.g. \"0 * * * *\")",
        "runbooks/t.yaml:6:10: error: steps[0].sql: unknown input 'nope' (declare it under `inputs:`)",
        "runbooks/t.yaml:7:9: error: steps[1].id: duplicate step id 'a' (first used on line 5) (step ids must be unique in a runbook: results are reached as steps.<id>)",
        "runbooks/t.yaml:10:20: error: steps[1].thresholds.n.warning: warning 9 is above critical 1, so it could never fire (with direction above (bad when high), warning must be at most critical)",
    ]


def test_cycle_through_another_runbook(project):
    project.runbook("b", "runbook: b\nsteps:\n  - runbook: a\n")
    found = problems_of(project, "runbook: a\nsteps:\n  - runbook: b\n", name="a")
    assert found == [
        "runbooks/a.yaml:3:14: error: steps[0].runbook: runbook call cycle: a -> b -> a (a runbook must not call itself, directly or through others)"
    ]


def test_an_invalid_runbook_never_starts(project):
    project.sql("CREATE TABLE d (x)", "INSERT INTO d VALUES (1)")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - sql: DELETE FROM d
          - sql: SELECT {{ broken
        """,
    )
    with pytest.raises(InvalidInput):
        project.run("t")
    assert project.query("SELECT COUNT(*) FROM d") == [(1,)]


def test_huge_file_is_refused_without_parsing(project):
    path = project.root / "runbooks" / "huge.yaml"
    path.write_text("runbook: huge\n" + "# padding\n" * 1_100_000)
    found = [p.format() for p in project.library().problems(path)]
    assert found == [
        "runbooks/huge.yaml: error: the file is 10.5 MiB; files over 1 MiB are refused "
        "(a runbook is small: split it, or move data out of it)"
    ]


def test_alias_bomb_is_refused(project):
    lines = ["runbook: bomb", 'a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    previous = "a"
    for name in "bcdefgh":
        lines.append(f"{name}: &{name} [" + ",".join(f"*{previous}" for _ in range(10)) + "]")
        previous = name
    lines.append("steps: [{wait: 1s}]")
    path = project.runbook("bomb", "\n".join(lines) + "\n")
    assert problems_in(project, path) == [
        "runbooks/bomb.yaml:1:1: error: the document expands to more than 100,000 values through "
        "YAML aliases and was refused (a runbook never needs this; remove the nested aliases)"
    ]


def test_two_files_declaring_one_runbook_name_are_an_error_in_both(project, capsys):
    from runner.cli import main

    project.runbook("a", "runbook: same\nsteps:\n  - wait: 1s\n")
    project.write("runbooks/sub/b.yaml", "# the copy\nrunbook: same\nsteps:\n  - wait: 1s\n")
    message = (
        "error: runbook: runbook 'same' is declared by 2 files: runbooks/a.yaml:1 and "
        "runbooks/sub/b.yaml:2 (runbook names must be unique across the configured folders: "
        "rename all but one)"
    )
    assert problems_in(project, project.root / "runbooks" / "a.yaml") == [
        f"runbooks/a.yaml:1: {message}"
    ]
    assert problems_in(project, project.root / "runbooks" / "sub" / "b.yaml") == [
        f"runbooks/sub/b.yaml:2: {message}"
    ]
    with pytest.raises(InvalidInput) as refused:
        project.run("same")
    assert [p.format() for p in refused.value.problems] == [f"runbooks/a.yaml:1: {message}"]
    code = main(["run", "same"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "runbook 'same' is declared by 2 files: runbooks/a.yaml:1 and runbooks/sub/b.yaml:2" in (
        out + err
    )


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffrunbook: hidden\nsteps:\n  - wait: 1s\n",
        '"runbook": hidden\nsteps:\n  - wait: 1s\n',
        "'runbook': 'hidden'\nsteps:\n  - wait: 1s\n",
        "{runbook: hidden, steps: [{wait: 1s}]}\n",
        "# a flow mapping over lines\n{\n  runbook: hidden,\n  steps: [{wait: 1s}]\n}\n",
        "steps:\n  - wait: 1s\n? runbook\n: hidden\n",
    ],
    ids=["bom", "double-quoted-key", "single-quoted-key", "flow", "flow-lines", "explicit-key"],
)
def test_a_file_that_validates_is_found_by_its_name(project, text):
    path = project.root / "runbooks" / "hidden.yaml"
    path.write_text(text, encoding="utf-8")
    library = project.library()
    assert problems_in(project, path) == []
    assert library.names() == ["hidden"]
    assert library.find("runbook", "hidden") == path
    assert project.run("hidden").status == "OK"


def test_a_duplicate_hidden_by_a_flow_mapping_is_found_too(project):
    project.runbook("a", "runbook: same\nsteps:\n  - wait: 1s\n")
    project.runbook("b", "{runbook: same, steps: [{wait: 1s}]}\n")
    assert problems_in(project, project.root / "runbooks" / "b.yaml") == [
        "runbooks/b.yaml:1: error: runbook: runbook 'same' is declared by 2 files: "
        "runbooks/a.yaml:1 and runbooks/b.yaml:1 (runbook names must be unique across the "
        "configured folders: rename all but one)"
    ]


def validated(project, path) -> list[str]:
    """Problems as `runbook validate` finds them: with the SQL checked in its dialect."""
    from runner.language.config import load_config
    from runner.language.library import Library
    from runner.steps import STEP_TYPES

    library = Library(load_config(project.root / "runner.yaml"), STEP_TYPES, check_sql=True)
    found = sorted(library.problems(path), key=lambda p: (p.file or "", p.line or 0, p.col or 0))
    return [p.format() for p in found]


def test_an_input_a_sql_file_reads_must_be_declared(project):
    project.write(
        "sql/orders/late.sql",
        "SELECT COUNT(*) FROM orders\nWHERE region = {{ inputs.region }}\n"
        "  AND age > {{ inputs['days'] }}\n",
    )
    path = project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          region: {type: string}
          day: {type: integer}
        steps:
          - id: late
            sql: orders/late.sql
        """,
    )
    expected = (
        "sql/orders/late.sql:3:16: error: unknown input 'days', read by this SQL file for "
        "steps[0].sql of runbooks/t.yaml:8 (did you mean 'day'?)"
    )
    assert problems_in(project, path) == [expected]
    assert validated(project, path) == [expected]


def test_a_sql_file_read_by_a_runbook_without_inputs(project):
    project.write("sql/one.sql", "SELECT {{ inputs.id }}\n")
    path = project.runbook("t", "runbook: t\nconnection: main\nsteps:\n  - sql: one.sql\n")
    assert problems_in(project, path) == [
        "sql/one.sql:1:11: error: unknown input 'id', read by this SQL file for steps[0].sql of "
        "runbooks/t.yaml:4 (declare it under `inputs:` in runbooks/t.yaml)"
    ]


_QUOTED = (
    "is inside a quoted SQL string: its value is bound as a parameter, so in quotes it "
    "would stay literal text (remove the quotes: `= {{ x }}`, not `= '{{ x }}'`; for a "
    "pattern, build it in the template: `LIKE {{ '%' ~ x ~ '%' }}`)"
)
_ORDER_BY = (
    "is an ORDER BY item: it is bound as a parameter, a constant, so it cannot choose the "
    "column to sort by (pass a column name through `| identifier`, which checks and quotes "
    "it: `ORDER BY {{ inputs.sort | identifier }}`; or choose the column with CASE)"
)


def test_templates_a_bound_parameter_cannot_stand_for_in_a_sql_file(project):
    project.write(
        "sql/find.sql",
        "SELECT name FROM customers\n"
        "WHERE name = '{{ inputs.name }}' OR note LIKE '%{{ inputs.name }}%'\n"
        "  AND kind = {{ inputs.name }} AND tag = 'it''s {{ x }}'\n"
        "ORDER BY {{ inputs.sort }} DESC, {{ inputs.sort | identifier }},\n"
        "  CASE WHEN {{ inputs.name }} = 'a' THEN 1 END\n",
    )
    path = project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          name: {type: string}
          sort: {type: string}
        steps:
          - sql: find.sql
        """,
    )
    assert validated(project, path) == [
        f"sql/find.sql:2:15: error: {{{{ inputs.name }}}} {_QUOTED}",
        f"sql/find.sql:2:49: error: {{{{ inputs.name }}}} {_QUOTED}",
        f"sql/find.sql:3:49: error: {{{{ x }}}} {_QUOTED}",
        f"sql/find.sql:4:10: error: {{{{ inputs.sort }}}} {_ORDER_BY}",
    ]


def test_templates_a_bound_parameter_cannot_stand_for_in_inline_sql(project):
    path = project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          name: {type: string}
        steps:
          - id: quoted
            sql: SELECT 1 WHERE 'a' = '{{ inputs.name }}'
          - id: ordered
            sql: |
              SELECT 1 AS a
              ORDER BY {{ inputs.name }}
        """,
    )
    assert validated(project, path) == [
        f"runbooks/t.yaml:7:32: error: steps[0].sql: {{{{ inputs.name }}}} {_QUOTED}",
        f"runbooks/t.yaml:11:16: error: steps[1].sql: {{{{ inputs.name }}}} {_ORDER_BY}",
    ]


def test_a_template_in_a_shell_script_is_an_error(project):
    path = project.runbook(
        "t",
        """
        runbook: t
        inputs:
          x: {type: string}
        steps:
          - command: echo {{ inputs.x }} | wc -c
            shell: true
          - command: 'echo "$X" | wc -c'
            shell: true
            env: {X: "{{ inputs.x }}"}
          - command: [echo, "{{ inputs.x }}"]
        """,
    )
    assert problems_in(project, path) == [
        "runbooks/t.yaml:5:14: error: steps[0].command: a template in a `shell: true` script is "
        "an injection: its value becomes shell code (use the argv form with the value as one "
        "argument, such as command: [grep, '{{ inputs.x }}', file]; or pass it through `env:` "
        'and quote it in the script: "$X")'
    ]


def test_yaml_files_lists_a_folders_runbooks_in_the_order_of_their_paths(tmp_path: Path) -> None:
    """What `list`, `status`, `validate` and the scheduler read: every .yaml and .yml file
    below the folder, sorted as paths sort ("a/z" before "a-b/a"), a symlinked file
    listed, a symlinked folder not entered, and nothing that is not a YAML file."""
    from runner.language.declared import yaml_files

    root = tmp_path / "runbooks"
    for name in ("a/z.yaml", "a-b/a.yml", "b.yaml", "a/deep/er/c.yaml", "a/notes.txt", ".yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("runbook: x\n", encoding="utf-8")
    (root / "folder.yaml").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "far.yaml").write_text("runbook: far\n", encoding="utf-8")
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "link.yaml").symlink_to(tmp_path / "elsewhere" / "far.yaml")
    (root / "broken.yaml").symlink_to(tmp_path / "gone.yaml")

    found = [path.relative_to(root).as_posix() for path in yaml_files(root)]

    assert found == ["a/deep/er/c.yaml", "a/z.yaml", "a-b/a.yml", "b.yaml", "link.yaml"]
    assert yaml_files(root / "b.yaml") == [root / "b.yaml"]
    assert yaml_files(tmp_path / "missing") == []
