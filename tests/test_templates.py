"""Templates: native values, bound SQL parameters, identifiers, undefined names."""

from __future__ import annotations

import json

import pytest

from runner.base.errors import TemplateError
from runner.language import sqltemplates, templates

SCOPE = {
    "inputs": {"id": 7, "ids": [1, 2], "name": "O'Brien", "table": "dbo.USER_SYNC_LOG"},
    "x": 5,
}


@pytest.mark.parametrize(
    "text, sql, params",
    [
        ("SELECT {{ inputs.id }}", "SELECT ?", [7]),
        ("SELECT {{ 5 }}, {{ 'a' }}", "SELECT ?, ?", [5, "a"]),
        ("WHERE n = {{ inputs.name }}", "WHERE n = ?", ["O'Brien"]),
        ("WHERE id IN {{ inputs.ids | in_list }}", "WHERE id IN (?, ?)", [1, 2]),
        ("WHERE id IN {{ [] | in_list }}", "WHERE id IN (NULL)", []),
        ("{% if x > 3 %}AND a = {{ x }}{% endif %}", "AND a = ?", [5]),
        ("{% for i in inputs.ids %}{{ i }},{% endfor %}", "?,?,", [1, 2]),
        ("SELECT 1", "SELECT 1", []),
    ],
    ids=["value", "constants", "quote", "in-list", "empty-list", "if-block", "loop", "plain"],
)
def test_sql_values_become_bound_parameters(text, sql, params):
    assert sqltemplates.render_sql(text, SCOPE) == (sql, params)


@pytest.mark.parametrize(
    "dialect, quoted",
    [
        ("sqlite", '"dbo"."USER_SYNC_LOG"'),
        ("postgres", '"dbo"."USER_SYNC_LOG"'),
        ("tsql", "[dbo].[USER_SYNC_LOG]"),
        ("mysql", "`dbo`.`USER_SYNC_LOG`"),
    ],
    ids=["sqlite", "postgres", "tsql", "mysql"],
)
def test_identifiers_are_quoted_per_dialect(dialect, quoted):
    sql, params = sqltemplates.render_sql(
        "SELECT * FROM {{ inputs.table | identifier }}", SCOPE, dialect
    )
    assert sql == f"SELECT * FROM {quoted}" and params == []


def test_plain_tags_reuse_one_text_and_spell_out_lists_and_identifiers_made_earlier():
    """The fast path for `{{ a.b }}` tags: the same text object each time (the driver
    keeps it prepared), values bound in order; a list or identifier that a filter made
    earlier (a var rendered as `{{ ids | in_list }}`) is still spelled out."""
    text = "SELECT * FROM {{ vars.table }} WHERE id IN {{ vars.ids }} AND n = {{ inputs.id }}"
    scope = {
        **SCOPE,
        "vars": {
            "ids": templates.render_value("{{ inputs.ids | in_list }}", SCOPE),
            "table": templates.render_value("{{ inputs.table | identifier }}", SCOPE),
        },
    }
    assert sqltemplates.render_sql(text, scope, "tsql") == (
        "SELECT * FROM [dbo].[USER_SYNC_LOG] WHERE id IN (?, ?) AND n = ?",
        [1, 2, 7],
    )
    first, params = sqltemplates.render_sql("WHERE a = {{ inputs.id }} AND b = {{ x }}", SCOPE)
    again, _ = sqltemplates.render_sql("WHERE a = {{ inputs.id }} AND b = {{ x }}", SCOPE)
    assert (first, params) == ("WHERE a = ? AND b = ?", [7, 5]) and first is again


@pytest.mark.parametrize(
    "hostile", ["x; DROP TABLE y", "a b", 'x"--', "1x", "", "orders\n", "a.b.c.d"]
)
def test_unsafe_identifiers_are_refused(hostile):
    with pytest.raises(TemplateError, match="not a safe SQL identifier"):
        sqltemplates.render_sql("SELECT * FROM {{ t | identifier }}", {"t": hostile})


def test_single_expression_keeps_its_type_and_text_renders():
    assert templates.render_value("{{ inputs.ids }}", SCOPE) == [1, 2]
    assert templates.render_value("{{ x }}", SCOPE) == 5
    assert templates.render_value("n={{ x }}", SCOPE) == "n=5"
    assert templates.render_value({"a": ["{{ x }}"]}, SCOPE) == {"a": [5]}
    assert templates.render_value("{{ '1h' | minutes }}", SCOPE) == 60


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ nope }}", "undefined: 'nope' is undefined"),
        ("{{ inputs.nope }}", "undefined: no key 'nope' here (it has: id, ids, name, table)"),
        ("SELECT {{ inputs.nope }}", "no key 'nope'"),
    ],
    ids=["name", "key", "in-sql"],
)
def test_undefined_names_are_errors_that_name_them(text, message):
    with pytest.raises(TemplateError, match="f.yaml:3") as error:
        if text.startswith("SELECT"):
            sqltemplates.render_sql(text, SCOPE, where="f.yaml:3")
        else:
            templates.render_value(text, SCOPE, where="f.yaml:3")
    assert message in str(error.value)


def test_sandbox_refuses_unsafe_attribute_access():
    with pytest.raises(TemplateError, match="not allowed|undefined"):
        templates.render_value("{{ x.__class__.__mro__[1].__subclasses__() }}", SCOPE)


def test_syntax_errors_are_found_without_rendering():
    assert templates.syntax_error("{{ x ")[0].startswith("unexpected end of template")
    assert templates.syntax_error("x >", expression=True) is not None
    assert templates.syntax_error("a and b", expression=True) is None


_TOO_LARGE = "more than a template may (1,000,000); templates make short texts"


@pytest.mark.parametrize(
    "text, what",
    [
        ("{{ '%0999999999d' | format(1) }}", "this % format would make 999,999,999 characters"),
        ("{{ '%0999999999d' % 1 }}", "this % format would make 999,999,999 characters"),
        ("{{ '%*d' % (999999999, 1) }}", "this % format would make 999,999,999 characters"),
        ("{{ 'x' * 999999999 }}", "this repetition would make 999,999,999 characters"),
        ("{{ [1] * 999999999 }}", "this repetition would make 999,999,999 characters"),
        ("{{ '{:0999999999d}'.format(1) }}", "this format would make 999,999,999 characters"),
        (
            "{{ '{:0{w}d}'.format(1, w=999999999) }}",
            "this format would make 999,999,999 characters",
        ),
        ("{{ 'a'.ljust(999999999) }}", "str.ljust would make 999,999,999 characters"),
        ("{{ 'a' | center(999999999) }}", "center would make 999,999,999 characters"),
        ("{{ 10 ** 999999999 }}", "this power would make 1,000,000,000 characters"),
        (
            "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
            "this template would make 1,000,100 characters",
        ),
    ],
    ids=[
        "format-filter",
        "percent",
        "percent-star",
        "str-repeat",
        "list-repeat",
        "str-format",
        "str-format-nested",
        "ljust",
        "center",
        "power",
        "loop",
    ],
)
def test_template_output_is_bounded_in_size(text, what):
    import time

    started = time.perf_counter()
    with pytest.raises(TemplateError) as caught:
        templates.render(text, {}, "steps[0].title")
    assert (
        str(caught.value)
        == f"steps[0].title: {what}, {_TOO_LARGE}: compute large values in SQL or a command"
    )
    assert time.perf_counter() - started < 5  # refused before the work (it took 12 s)


def test_bounded_operations_still_work_below_the_limit():
    text = (
        "{{ '%05d' | format(3) }} {{ '%-4s|' % 'ab' }} {{ 'ab' * 3 }} {{ '{:>5}'.format('x') }} "
        "{{ 2 ** 10 }} {{ 'a' + 'b' }} {{ 3 * 4 }} {{ 7 % 3 }} {{ [1] + [2] }} {{ 'x' | center(5) }}"
    )
    assert templates.render(text, {}) == "00003 ab  | ababab     x 1024 ab 12 1 [1, 2]   x  "
    with pytest.raises(TemplateError, match="this repetition would make 999,999,999"):
        templates.evaluate("('y' * 999999999) | length > 0", {}, "when")


def test_titles_are_rendered_with_inputs_and_loop_items_and_secrets_masked(project, capsys):
    from runner.cli import main

    project.runbook(
        "t",
        """
        runbook: t
        title: "Orders in {{ inputs.region }}"
        connection: main
        inputs:
          region: {type: string, default: emea}
          token: {type: string, secret: true, default: s3cr3t-t0ken}
        steps:
          - id: count
            title: "Count for {{ inputs.region | upper }} with {{ inputs.token }}"
            sql: SELECT 1 AS n
          - id: each
            for_each: "[1, 2]"
            as: n
            title: "Item {{ n }} after {{ steps.count.value }}"
            sql: SELECT {{ n }} AS n
          - id: later
            title: "Reads {{ steps.later.value }}"
            sql: SELECT 1
        """,
    )
    run = project.run("t")
    assert run.title == "Orders in emea"
    assert run.steps[0].title == "Count for EMEA with ***"
    assert [child.children[0].title for child in run.steps[1].children] == [
        "Item 1 after 1",
        "Item 2 after 1",
    ]
    assert run.steps[2].title == "Reads {{ steps.later.value }}"  # cannot render: as written
    assert main(["run", "t", "--param", "region=apac", "--format", "json"]) == 0
    out = capsys.readouterr().out
    document = json.loads(out)
    assert document["title"] == "Orders in apac"
    assert document["steps"][0]["title"] == "Count for APAC with ***"
    assert "s3cr3t-t0ken" not in out


class _Row:
    id = 9


@pytest.mark.parametrize(
    "text",
    [
        "UPDATE t SET n = {{ row.n }} WHERE id = {{ row.id }}",
        "UPDATE t SET n = {{ row.keys }} WHERE id = {{ row.id }}",  # a dict method's name
        "WHERE id IN {{ row.ids | in_list }}",
        "SELECT {{ x }}",
        "SELECT 1",
    ],
    ids=["plain", "dict-method", "filter", "top-level", "no-tag"],
)
def test_a_binder_renders_each_scope_as_render_sql_does(text):
    """sql_binder (a loop's statement made ready once) gives what render_sql gives, for
    scopes it looks up in place and for those it hands to render_sql: an object, a
    missing key, a list made by a filter."""
    bind = sqltemplates.sql_binder(text, "postgres")
    made = templates._in_list([1, 2])  # what `| in_list` made earlier, a var say
    for row in (
        {"id": 1, "n": 2, "ids": [1, 2], "keys": 3},
        {"id": made, "n": None, "ids": []},
        _Row(),
        {"n": 1},
    ):
        scope = {"row": row, "x": 5}
        try:
            expected: object = sqltemplates.render_sql(text, scope, "postgres")
        except TemplateError as error:
            expected = str(error)
        try:
            got: object = bind(scope)
        except TemplateError as error:
            got = str(error)
        assert got == expected, row


def _parsed_by_jinja(text: str, expression: bool) -> object:
    """analyze's answer with its fast path for simple texts turned off."""
    simple = templates._simple_names
    templates._simple_names = lambda *args: None
    try:
        templates.analyze.cache_clear()
        return templates.analyze(text, expression)
    finally:
        templates._simple_names = simple
        templates.analyze.cache_clear()


_CONDITIONS = [
    "steps.a.value == 1",
    "steps.s9.value==1",
    "not a.b",
    "a and b",
    "a.b > 2 and c.d == 200",
    "inputs.verbose or steps.pending.row.pending_count > 3",
    "x == 'a b' or not y.z",
    "a.in == 1",
    "notify.x != -1.5",
    "{{ a.b == 1 }}",
    "a\n== 1\nand b",
]
# Words, literals, operators and spacing that simple conditions are made of, and some
# that make them not simple: random sequences of them must get Jinja's own answer.
_PIECES = [
    *("a", "b.c", "steps.x.value", "a.not", "x_1", "True1", "é", "and", "or", "not", "in"),
    *("is", "true", "none", "if", "0", "01", "1.5", "1.", "-", "1_000", "'x'", '"y"', "'}}'"),
    *("==", "!=", "<", ">=", "+", "|", "(", ")", "[", "]", ".", "{{", "}}", "{%", "{"),
]


@pytest.mark.parametrize("text", _CONDITIONS)
def test_simple_conditions_are_read_without_jinja_as_jinja_reads_them(text: str) -> None:
    assert templates._simple_names(templates.unwrap(text), True) is not None
    assert templates.analyze(text, True) == _parsed_by_jinja(text, True)


@pytest.mark.parametrize(
    "text", ["SELECT 1", "x {{ a.b }} y", "{{a}}{{b.c}}", "{{\na\n}} }} %}", "'{{ inputs.id }}'"]
)
def test_simple_templates_are_read_without_jinja_as_jinja_reads_them(text: str) -> None:
    assert templates._simple_names(text, False) is not None
    assert templates.analyze(text, False) == _parsed_by_jinja(text, False)


def test_whatever_the_fast_path_takes_jinja_reads_alike() -> None:
    import random

    chance = random.Random(11)
    taken = 0
    for _ in range(20_000):
        text = "".join(
            chance.choice(_PIECES) + chance.choice(("", " ", "\n"))
            for _ in range(chance.randint(1, 6))
        )
        for expression in (True, False):
            read = templates.unwrap(text) if expression else text  # as analyze reads it
            names = templates._simple_names(read, expression)
            if names is not None:
                taken += 1
                assert _parsed_by_jinja(text, expression) == (None, names), text
    assert taken > 500  # the comparison means something
