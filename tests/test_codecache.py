"""Compiled templates kept under var/cache (runner/language/codecache.py, issue 11 point 1).

A run keeps the code its templates compile to, and the next process executes it instead
of compiling the same text again. Whether a text was compiled is seen by counting the
calls of the environment's `compile`; a new process is simulated by emptying the
in-process caches of compiled templates. The cache must never serve the code of another
text, must ignore (and write again) anything damaged or foreign, must use only a folder
of this user that nobody else may write, and must never make a run fail.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import pickle
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jinja2 import Undefined

from runner.base.status import Status
from runner.language import cache as cache_module
from runner.language import codecache, templates
from runner.language.codecache import TemplateCodeCache
from tests.conftest import Project

HEALTH = """
runbook: health
title: Health
connection: main
inputs:
  limit: {type: integer, default: 1}
steps:
  - id: count
    sql: SELECT 3 AS n
    thresholds:
      n: {warning: "{{ inputs.limit }}"}
    hint: |
      {{ row.n }} is over {{ inputs.limit }}{% if row.n > 2 %}, by far{% endif %}
"""


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    """Each test starts, and leaves, as a new process would: nothing compiled in memory,
    no code cache chosen."""
    templates.keep_compiled(None)
    new_process()
    yield
    templates.keep_compiled(None)
    new_process()


def new_process() -> None:
    templates._template.cache_clear()
    templates._expression.cache_clear()


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What the environment compiled (template texts, expression trees), in order."""
    seen: list[object] = []
    env = templates.environment()
    original = env.compile

    def counting(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(source)
        return original(source, *args, **kwargs)

    monkeypatch.setattr(env, "compile", counting)
    return seen


def code_files(root: Path) -> list[Path]:
    return sorted((root / "var" / "cache" / "jinja").rglob("*.code"))


def use_cache(folder: Path) -> TemplateCodeCache:
    folder.mkdir(parents=True, exist_ok=True)
    cache = TemplateCodeCache(folder)
    templates.keep_compiled(cache)
    return cache


def test_a_run_keeps_its_templates_compiled_and_the_next_run_compiles_none(
    project: Project, compiles: list[object]
) -> None:
    project.runbook("health", HEALTH)

    first = project.run("health")
    assert len(compiles) == 2  # the threshold's expression and the hint
    assert len(code_files(project.root)) == 2

    new_process()
    compiles.clear()
    second = project.run("health")

    assert compiles == []
    assert second.steps[0].hint == first.steps[0].hint == "3 is over 1, by far\n"
    assert second.steps[0].status == first.steps[0].status == Status.WARNING


def test_an_edited_template_is_compiled_again_never_served_the_old_code(
    project: Project, compiles: list[object]
) -> None:
    project.runbook("health", HEALTH)
    project.run("health")
    new_process()
    compiles.clear()

    project.runbook("health", HEALTH.replace("by far", "by a lot"))
    result = project.run("health")

    assert result.steps[0].hint == "3 is over 1, by a lot\n"
    assert len(compiles) == 1 and "by a lot" in str(compiles[0])
    assert len(code_files(project.root)) == 3  # the old text's entry is another key


def test_an_entry_of_another_text_under_a_texts_key_is_not_used(
    tmp_path: Path, compiles: list[object]
) -> None:
    cache = use_cache(tmp_path / "cache")
    assert templates.render("old {{ x }}", {"x": 1}) == "old 1"
    (old,) = (tmp_path / "cache" / "jinja").rglob("*.code")
    new_process()

    # Put the old text's code where the new text's entry goes (as a collision of keys, or
    # a file copied by hand, would): its checksum is the old text's, so it is a miss.
    bucket = cache.get_bucket(templates.environment(), "template\0new {{ x }}", None, "new")
    old.rename(old.with_name(f"{bucket.key}.code"))
    compiles.clear()

    assert templates.render("new {{ x }}", {"x": 1}) == "new 1"
    assert compiles == ["new {{ x }}"]


def _damaged(entry: bytes) -> dict[str, bytes]:
    header_end = entry.index(b"\n", len(codecache.FORMAT)) + 1
    digest_end = entry.index(b"\n", header_end) + 1
    not_code = marshal.dumps(42)
    sha = hashlib.sha256(not_code).hexdigest().encode()
    return {
        "empty": b"",
        "truncated": entry[: len(entry) // 2],
        "header only": entry[:digest_end],
        "one byte of code changed": entry[:-10] + bytes([entry[-10] ^ 0xFF]) + entry[-9:],
        "another format": b"runbook-jinja-code 0\n" + entry[len(codecache.FORMAT) :],
        "garbage": os.urandom(300),
        "a pickle": pickle.dumps({"code": 1}),
        "not a code object": entry[:header_end] + sha + b"\n" + not_code,
    }


@pytest.mark.parametrize(
    "damage",
    [
        "empty",
        "truncated",
        "header only",
        "one byte of code changed",
        "another format",
        "garbage",
        "a pickle",
        "not a code object",
    ],
)
def test_a_damaged_entry_is_a_miss_and_is_written_again(
    tmp_path: Path, compiles: list[object], damage: str
) -> None:
    use_cache(tmp_path / "cache")
    text = "{% for i in range(n) %}{{ i }},{% endfor %}"
    assert templates.render(text, {"n": 3}) == "0,1,2,"
    (entry,) = (tmp_path / "cache" / "jinja").rglob("*.code")
    damaged = _damaged(entry.read_bytes())[damage]
    entry.write_bytes(damaged)
    new_process()
    compiles.clear()

    assert templates.render(text, {"n": 3}) == "0,1,2,"  # never an error
    assert compiles == [text]
    assert entry.read_bytes() != damaged

    new_process()
    assert templates.render(text, {"n": 2}) == "0,1,"
    assert compiles == [text]  # written again whole: the next process uses it


def test_the_folders_are_made_for_this_user_alone(project: Project) -> None:
    project.runbook("health", HEALTH)
    project.run("health")

    jinja = project.root / "var" / "cache" / "jinja"
    (tag,) = jinja.iterdir()
    for folder in (jinja, tag):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for entry in code_files(project.root):
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert not [p for p in tag.iterdir() if p.suffix != ".code"]  # no temp file left


@pytest.mark.parametrize(
    "unsafe",
    [
        pytest.param(lambda jinja: jinja.chmod(0o770), id="group-writable"),
        pytest.param(lambda jinja: jinja.chmod(0o707), id="other-writable"),
        pytest.param(lambda jinja: jinja.chmod(0o777), id="everyone-writable"),
        pytest.param(
            lambda jinja: (
                jinja.rmdir(),
                jinja.parent.joinpath("elsewhere").mkdir(0o700),
                jinja.symlink_to(jinja.parent / "elsewhere"),
            ),
            id="a-symlink",
        ),  # fmt: skip
        pytest.param(lambda jinja: (jinja.rmdir(), jinja.write_text("")), id="a-file"),
    ],
)
def test_a_folder_that_is_not_private_is_not_used(
    tmp_path: Path, compiles: list[object], unsafe: object
) -> None:
    jinja = tmp_path / "cache" / "jinja"
    jinja.mkdir(parents=True, mode=0o700)
    unsafe(jinja)  # type: ignore[operator]
    use_cache(tmp_path / "cache")

    for _ in range(2):
        new_process()
        assert templates.render("{{ 1 + x }}!", {"x": 1}) == "2!"
    assert compiles == ["{{ 1 + x }}!"] * 2  # compiled in memory, each time
    assert not list((tmp_path / "cache").rglob("*.code"))


def test_a_folder_of_another_user_is_not_used(
    tmp_path: Path, compiles: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_cache(tmp_path / "cache")
    templates.render("{{ x }}?", {"x": 1})  # kept, by this user
    new_process()
    compiles.clear()
    someone_else = os.geteuid() + 1
    monkeypatch.setattr(codecache.os, "geteuid", lambda: someone_else)
    use_cache(tmp_path / "cache")

    assert templates.render("{{ x }}?", {"x": 2}) == "2?"
    assert compiles == ["{{ x }}?"]


def test_a_run_without_a_writable_cache_compiles_in_memory(
    project: Project, compiles: list[object]
) -> None:
    project.runbook("health", HEALTH)
    (project.root / "var").mkdir()
    (project.root / "var" / "cache").write_text("not a folder")  # nothing can be made there

    for _ in range(2):
        new_process()
        result = project.run("health")
        assert result.steps[0].hint == "3 is over 1, by far\n"
    assert len(compiles) == 4


def test_a_missing_cache_folder_is_not_made_from_here(tmp_path: Path) -> None:
    templates.keep_compiled(TemplateCodeCache(tmp_path / "gone" / "cache"))

    assert templates.render("{{ x }}", {"x": "ok"}) == "ok"
    assert not (tmp_path / "gone").exists()


def test_processes_writing_the_same_entry_at_once_leave_it_whole(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    text = "{% for i in range(n) %}{{ i * i }} {% endfor %}"
    env = templates.environment()
    code = env.compile(text)
    name = f"template\0{text}"
    errors: list[str] = []
    start = threading.Barrier(8)

    def writer() -> None:
        cache = TemplateCodeCache(folder)  # each its own, as separate processes have
        start.wait()
        for _ in range(40):
            bucket = cache.get_bucket(env, name, None, text)
            bucket.code = code
            cache.set_bucket(bucket)

    def reader() -> None:
        cache = TemplateCodeCache(folder)
        start.wait()
        for _ in range(200):
            got = cache.get_bucket(env, name, None, text).code
            if got is None:  # the entry was whole before the writers started
                errors.append("a reader found no whole entry while it was being written")
                continue
            rendered = env.template_class.from_code(env, got, env.make_globals(None))
            if rendered.render(n=3) != "0 1 4 ":
                errors.append("a reader saw a wrong entry")

    first = TemplateCodeCache(folder).get_bucket(env, name, None, text)
    first.code = code
    TemplateCodeCache(folder).set_bucket(first)
    threads = [threading.Thread(target=writer) for _ in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    (tag,) = (folder / "jinja").iterdir()
    assert [p.suffix for p in tag.iterdir()] == [".code"]  # one entry, no temp file left
    assert TemplateCodeCache(folder).get_bucket(env, name, None, text).code == code


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda m: m.setattr(codecache.jinja2, "__version__", "9.9"), id="jinja"),
        pytest.param(lambda m: m.setattr(codecache.sys, "version", "3.99.0"), id="python"),
        pytest.param(lambda m: m.setattr(cache_module, "_CODE_HASH", "other"), id="runner"),
    ],
)
def test_another_python_jinja_or_runner_does_not_read_the_entries(
    tmp_path: Path,
    compiles: list[object],
    monkeypatch: pytest.MonkeyPatch,
    change: object,
) -> None:
    use_cache(tmp_path / "cache")
    templates.render("{{ x }}.", {"x": 1})
    cache_module.code_hash()  # computed before the change, as a run has
    change(monkeypatch)  # type: ignore[operator]
    new_process()
    use_cache(tmp_path / "cache")

    assert templates.render("{{ x }}.", {"x": 2}) == "2."
    assert len(compiles) == 2
    assert len(list((tmp_path / "cache" / "jinja").iterdir())) == 2  # one folder each


def _outcome(compiled: object, scope: dict[str, object]) -> object:
    """What an expression gives, or how it fails (the type and message of the error)."""
    try:
        value = compiled(**scope)  # type: ignore[operator]
    except Exception as error:  # noqa: BLE001
        return type(error), str(error)
    return type(value), value if not isinstance(value, Undefined) else value._undefined_message


@pytest.mark.parametrize(
    ("expression", "scope"),
    [
        ("steps.a.value > 0", {"steps": {"a": {"value": 3}}}),
        ("x | length", {"x": [1, 2]}),
        ("missing", {}),
        ("x.__class__", {"x": 1}),
        ("a b", {}),
        ("1 +", {}),
        ("(1", {}),
        ("x\n  y", {}),
    ],
)
def test_an_expression_from_the_cache_is_what_compile_expression_makes(
    tmp_path: Path, expression: str, scope: dict[str, object]
) -> None:
    env = templates.environment()

    def ours() -> object:
        try:
            compiled: object = templates._expression(expression)
        except Exception as error:  # noqa: BLE001 - a syntax error, compared below
            return type(error), str(error), getattr(error, "lineno", None)
        return _outcome(compiled, scope)

    try:
        compiled: object = env.compile_expression(expression, undefined_to_none=False)
    except Exception as error:  # noqa: BLE001
        expected: object = type(error), str(error), getattr(error, "lineno", None)
    else:
        expected = _outcome(compiled, scope)

    assert ours() == expected  # in memory
    use_cache(tmp_path / "cache")
    for _ in range(2):  # compiled and kept, then read back
        new_process()
        assert ours() == expected
