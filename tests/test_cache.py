"""The validation cache under var/cache (runner/language/cache.py, issue 11 point 1).

A runbook validated clean is not validated again while its bytes, its SQL files, what it
calls and runner.yaml are unchanged; any change means it is validated again. Whether
validation ran is seen by counting the calls of the checks of meaning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runner.base.errors import InvalidInput
from runner.language import cache as cache_module
from runner.language import meaning as meaning_module
from runner.language.config import load_config
from runner.language.library import Library
from runner.steps import STEP_TYPES
from tests.conftest import Project

HEALTH = """
runbook: health
title: Health
tags: [orders]
schedule: "0 * * * *"
connection: main
inputs:
  limit: {type: integer, default: 5}
steps:
  - id: count
    sql: count.sql
    thresholds:
      n: {warning: 1}
"""


@pytest.fixture
def cached(project: Project) -> Project:
    project.write("sql/count.sql", "SELECT {{ inputs.limit }} - 5 AS n\n")
    project.runbook("health", HEALTH)
    return project


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the checks of meaning ran on, in order."""
    seen: list[str] = []
    original = meaning_module.meaning

    def counting(runbook, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(Path(path).name)
        return original(runbook, path, *args, **kwargs)

    monkeypatch.setattr(meaning_module, "meaning", counting)
    return seen


def library(project: Project, *, cache: bool = True) -> Library:
    return Library(load_config(project.root / "runner.yaml"), STEP_TYPES, cache=cache)


def entries(project: Project) -> list[Path]:
    return sorted((project.root / "var" / "cache").rglob("*.json"))


def test_a_runbook_validated_clean_is_not_validated_again(
    cached: Project, validations: list[str]
) -> None:
    first = library(cached).runbook("health")
    second = library(cached).runbook("health")

    assert validations == ["health.yaml"]
    assert first == second  # the same model, built from the same bytes
    assert entries(cached)


def test_without_the_cache_every_load_validates(cached: Project, validations: list[str]) -> None:
    library(cached, cache=False).runbook("health")
    library(cached, cache=False).runbook("health")

    assert validations == ["health.yaml", "health.yaml"]
    assert not [entry for entry in entries(cached) if "health" in entry.read_text()]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.runbook("health", HEALTH + "\n# edited\n"), id="runbook"),
        pytest.param(lambda p: p.write("sql/count.sql", "SELECT 0 AS n -- edited\n"), id="sql"),
        pytest.param(
            lambda p: p.config(
                "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n# edited\n"
            ),
            id="runner.yaml",
        ),
    ],
)
def test_any_changed_file_is_validated_again(
    cached: Project, validations: list[str], change: object
) -> None:
    library(cached).runbook("health")
    change(cached)  # type: ignore[operator]
    library(cached).runbook("health")

    assert validations == ["health.yaml", "health.yaml"]


def test_another_runner_version_validates_again(
    cached: Project, validations: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    library(cached).runbook("health")
    monkeypatch.setattr(cache_module, "_CODE_HASH", "another version of the runner")
    library(cached).runbook("health")

    assert validations == ["health.yaml", "health.yaml"]


def test_the_code_hash_holds_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import runner

    before = cache_module.code_hash()
    monkeypatch.setattr(cache_module, "_CODE_HASH", None)
    monkeypatch.setattr(runner, "__version__", "99.0.0")

    assert cache_module.code_hash() != before


def _package(root: Path) -> Path:
    package = root / "runner"
    (package / "language").mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = '1.0'\n")
    (package / "language" / "cache.py").write_text("x = 1\n")
    return package


def test_a_checkout_is_hashed_file_by_file(tmp_path: Path) -> None:
    package = _package(tmp_path)
    before = cache_module.package_hash(package, "1.0")

    (package / "language" / "cache.py").write_text("x = 22\n")  # another size

    assert cache_module.package_hash(package, "1.0") != before


def test_an_installed_copy_is_hashed_by_its_record(tmp_path: Path) -> None:
    package = _package(tmp_path)
    info = tmp_path / f"{cache_module.DISTRIBUTION}-1.0.dist-info"
    info.mkdir()
    record = info / "RECORD"
    record.write_text("../../bin/runbook,sha256=a,1\nrunner/__init__.py,sha256=b,22\n")
    before = cache_module.package_hash(package, "1.0")

    (package / "language" / "cache.py").write_text("x = 22\n")  # not how pip installs
    assert cache_module.package_hash(package, "1.0") == before

    record.write_text(record.read_text().replace("sha256=b", "sha256=c"))  # reinstalled
    assert cache_module.package_hash(package, "1.0") != before
    assert cache_module.package_hash(package, "1.1") != before  # another version's RECORD


def test_a_record_that_does_not_list_the_package_is_not_trusted(tmp_path: Path) -> None:
    # an editable install's RECORD lists its .pth file, not the checkout's sources
    package = _package(tmp_path)
    info = tmp_path / f"{cache_module.DISTRIBUTION}-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("_editable_impl_runbook_runner.pth,sha256=a,10\n")
    before = cache_module.package_hash(package, "1.0")

    (package / "language" / "cache.py").write_text("x = 22\n")

    assert cache_module.package_hash(package, "1.0") != before


def test_a_called_runbook_changed_validates_the_caller_again(
    cached: Project, validations: list[str]
) -> None:
    cached.runbook("outer", "runbook: outer\nsteps:\n  - id: inner\n    runbook: health\n")
    library(cached).runbook("outer")
    library(cached).runbook("outer")
    assert validations.count("outer.yaml") == 1

    cached.runbook("health", HEALTH.replace("runbook: health", "runbook: renamed"))

    with pytest.raises(InvalidInput, match="no runbook named 'health'"):
        library(cached).runbook("outer")


def test_an_edited_sql_file_is_caught_by_the_next_run(cached: Project) -> None:
    assert cached.run("health").outcome == "completed"
    cached.write("sql/count.sql", "SELECT {{ inputs.missing }} AS n\n")

    with pytest.raises(InvalidInput, match="missing"):
        cached.run("health")


def test_an_invalid_runbook_is_never_taken_from_the_cache(
    cached: Project, validations: list[str]
) -> None:
    cached.runbook("health", HEALTH.replace("sql: count.sql", "sql: count.sql\n    bogus: 1"))
    for _ in range(2):
        with pytest.raises(InvalidInput, match="bogus"):
            library(cached).runbook("health")

    assert validations == ["health.yaml", "health.yaml"]


@pytest.mark.parametrize("damage", ["{not json", "", '{"errors": "x"}', "[1, 2]"])
def test_a_corrupt_entry_is_ignored_and_written_again(
    cached: Project, validations: list[str], damage: str
) -> None:
    library(cached).runbook("health")
    (entry,) = [e for e in entries(cached) if "health" in e.read_text()]
    entry.write_text(damage)

    library(cached).runbook("health")
    library(cached).runbook("health")

    assert validations == ["health.yaml", "health.yaml"]
    assert json.loads(entry.read_text())["errors"] == 0


def test_an_entry_claiming_clean_for_other_sql_is_a_miss(
    cached: Project, validations: list[str]
) -> None:
    """The entry's dependencies are checked by hash, not trusted."""
    library(cached).runbook("health")
    (entry,) = [e for e in entries(cached) if "health" in e.read_text()]
    body = json.loads(entry.read_text())
    body["depends"] = {str((cached.root / "sql" / "count.sql").resolve()): "0" * 64}
    entry.write_text(json.dumps(body))

    library(cached).runbook("health")

    assert validations == ["health.yaml", "health.yaml"]


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runner.language.cache import Entry, ValidationCache

    cache = ValidationCache(Path(sys.argv[1]), None)
    for index in range(300):
        info = {"writer": sys.argv[2], "index": index, "pad": "x" * (index * 50)}
        cache.put("ab" * 32, Entry(0, info, {}))
    """
)


def test_two_processes_writing_one_entry_never_leave_half_an_entry(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    reader = cache_module.ValidationCache(folder, None)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder), name]) for name in "AB"]
    seen = 0
    while any(writer.poll() is None for writer in writers):
        found = reader.get("ab" * 32)
        if found is not None:
            seen += 1
            assert found.info["pad"] == "x" * (found.info["index"] * 50)
    assert [writer.wait() for writer in writers] == [0, 0]
    final = reader.get("ab" * 32)
    assert final is not None and final.info["index"] == 299
    assert [p.name for p in folder.rglob("*") if p.is_file()] == ["ab" * 32 + ".json"]


@pytest.fixture
def read_only_cache(cached: Project):  # type: ignore[no-untyped-def]
    folder = cached.root / "var" / "cache"
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_cache_is_silently_off(
    cached: Project, read_only_cache: Path, validations: list[str]
) -> None:
    with pytest.raises(OSError):
        (read_only_cache / "probe").write_text("x")

    for _ in range(2):
        assert cached.run("health").outcome == "completed"

    assert validations == ["health.yaml", "health.yaml"]


def test_runner_yaml_validated_clean_is_not_validated_again(
    cached: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.language import schema

    load_config(cached.root / "runner.yaml")
    monkeypatch.setattr(schema, "validate_document", _no_validation)
    assert load_config(cached.root / "runner.yaml").connections["main"].kind == "sqlite"

    cached.config("connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n# edit\n")
    with pytest.raises(AssertionError, match="validated"):
        load_config(cached.root / "runner.yaml")


def _no_validation(*args: object) -> list[object]:
    raise AssertionError("validated")


def test_an_invalid_runner_yaml_is_refused_every_time(cached: Project) -> None:
    cached.config("connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\nbogus: 1\n")
    for _ in range(2):
        with pytest.raises(InvalidInput, match="bogus"):
            load_config(cached.root / "runner.yaml")


# -- list and status read the cache --------------------------------------------------------


def cli(project: Project, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RUNBOOK_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "runner", *argv],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_list_reads_unchanged_runbooks_from_the_cache(
    cached: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runner.cli.main import main
    from runner.language import library as library_module

    assert main(["list", "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached runbook was read again")

    monkeypatch.setattr(library_module, "_read", refuse)
    assert main(["list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert main(["status", "--format", "json"]) == 0


def test_list_notices_added_changed_and_broken_runbooks(cached: Project) -> None:
    assert "Health" in cli(cached, "list").stdout
    cached.runbook("other", "runbook: other\ntitle: Other one\nsteps:\n  - id: a\n    wait: 1s\n")
    cached.runbook("health", HEALTH.replace("title: Health", "title: Changed"))
    listed = cli(cached, "list").stdout
    assert "Other one" in listed and "Changed" in listed

    cached.write("sql/count.sql", "SELECT {{ inputs.missing }} AS n\n")
    listed = cli(cached, "list").stdout
    assert "INVALID: 1 error" in listed

    (cached.root / "runbooks" / "other.yaml").unlink()
    assert "other" not in cli(cached, "list").stdout


def stats(project: Project) -> dict[str, list[object]]:
    files = list((project.root / "var" / "cache").rglob("stats.json"))
    return json.loads(files[0].read_text()) if files else {}


def test_an_unchanged_file_is_not_read_to_be_hashed_again(
    cached: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "TRUSTED_AGE_NS", 0)  # the files are seconds old
    path = cached.root / "runbooks" / "health.yaml"
    first = library(cached)
    info, errors = first.summary(path)
    assert (info["title"], errors) == ("Health", 0)
    first.save_cache()
    assert str(path.resolve()) in stats(cached)

    hashed: list[str] = []
    original = cache_module.file_hash

    def counting(path: Path) -> str | None:
        hashed.append(path.name)
        return original(path)

    monkeypatch.setattr(cache_module, "file_hash", counting)
    assert library(cached).summary(path) == (info, 0)
    assert set(hashed) == {"runner.yaml"}  # not the runbook, not its SQL file


def test_an_edit_keeping_size_and_mtime_is_still_noticed(
    cached: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "TRUSTED_AGE_NS", 0)
    path = cached.root / "runbooks" / "health.yaml"
    first = library(cached)
    assert first.summary(path)[0]["title"] == "Health"
    first.save_cache()
    before = os.stat(path)
    path.write_text(path.read_text().replace("title: Health", "title: Wealth"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `touch -r` would
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert after.st_ctime_ns != before.st_ctime_ns  # which no tool can set back
    assert library(cached).summary(path)[0]["title"] == "Wealth"


def test_a_file_changed_in_the_last_seconds_is_not_trusted_by_its_stamp(
    cached: Project,
) -> None:
    assert "Health" in cli(cached, "list").stdout
    assert str((cached.root / "runbooks" / "health.yaml").resolve()) not in stats(cached)


# -- the listing index (listing.json): what `list` and `status` read of every runbook ------


def listing(project: Project, lib: Library | None = None) -> dict[str, Any]:
    """What `runbook list` reads: every runbook's name, then its summary; then saved."""
    lib = lib or library(project)
    found = {name: lib.summary(lib.find("runbook", name)) for name in lib.names()}
    lib.save_cache()
    return found


def listing_file(project: Project) -> Path:
    return project.root / "var" / "cache" / f"v{cache_module.FORMAT}" / "listing.json"


@pytest.fixture
def listed(cached: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project listed once, with its files old enough for their stamps to be trusted."""
    monkeypatch.setattr(cache_module, "TRUSTED_AGE_NS", 0)  # the files are seconds old
    assert listing(cached)["health"][1] == 0
    return cached


def test_a_warm_listing_reads_one_index_not_each_entry_and_file(
    listed: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.language import library as library_module

    body = json.loads(listing_file(listed).read_text())
    path = str((listed.root / "runbooks" / "health.yaml").resolve())
    assert body["files"][path][4] == ["runbook", "health", 1]
    assert [row[1]["title"] for row in body["entries"].values()] == ["Health"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("read although the listing index has it")

    lib = library(listed)  # runner.yaml's entry is its own file, read here
    monkeypatch.setattr(cache_module.ValidationCache, "get", refuse)
    monkeypatch.setattr(library_module, "declared_name", refuse)
    monkeypatch.setattr(library_module, "_read", refuse)
    info = next(iter(body["entries"].values()))[1]
    assert listing(listed, lib) == {"health": (info, 0)}
    assert json.loads(listing_file(listed).read_text()) == body  # unchanged: not written


def test_a_changed_file_is_read_again_past_the_listing_index(listed: Project) -> None:
    path = listed.root / "runbooks" / "health.yaml"
    before = os.stat(path)
    # the same size and mtime, another name and title: only the ctime tells
    path.write_text(path.read_text().replace("health", "wealth").replace("Health", "Wealth"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    found = listing(listed)
    assert list(found) == ["wealth"]
    assert found["wealth"][0]["title"] == "Wealth"
    body = json.loads(listing_file(listed).read_text())
    assert [row[1]["title"] for row in body["entries"].values()] == ["Wealth"]  # the old is gone


def test_a_changed_dependency_is_validated_again_past_the_listing_index(
    listed: Project, validations: list[str]
) -> None:
    listed.write("sql/count.sql", "SELECT {{ inputs.missing }} AS n\n")
    assert listing(listed)["health"][1] == 1
    assert validations == ["health.yaml"]
    assert listing(listed)["health"][1] == 1  # kept as invalid: not validated again
    assert validations == ["health.yaml"]
    listed.write("sql/count.sql", "SELECT 1 AS n\n")
    assert listing(listed)["health"][1] == 0


@pytest.mark.parametrize(
    "damage",
    [
        "{not json",
        "",
        "[1, 2]",
        '{"entries": [], "files": {}}',
        '{"entries": {"%(key)s": [0, "info", {}]}, "files": {"%(path)s": [1, 2, 3, 4, 5]}}',
        '{"entries": {"%(key)s": [0, {}, {"x": 5}]}, "files": {"%(path)s": %(stamp)s}}',
    ],
)
def test_a_corrupt_listing_index_is_a_miss_and_written_again(
    listed: Project, damage: str, validations: list[str]
) -> None:
    path = (listed.root / "runbooks" / "health.yaml").resolve()
    key = library(listed).cache.file_key(path)  # type: ignore[union-attr]
    st = os.stat(path)
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, ["runbook", 7, "x"]]
    text = damage % {"key": key, "path": path, "stamp": json.dumps(stamp)}
    listing_file(listed).write_text(text)
    found = listing(listed)
    assert list(found) == ["health"] and found["health"][0]["title"] == "Health"
    assert validations == []  # its entry file is still there: read, not validated
    body = json.loads(listing_file(listed).read_text())
    assert body["files"][str(path)][4] == ["runbook", "health", 1]
    assert [row[1]["title"] for row in body["entries"].values()] == ["Health"]


def test_a_listed_file_is_keyed_by_its_real_path_through_symlinks(cached: Project) -> None:
    real = cached.write("elsewhere/real.yaml", HEALTH.replace("health", "real"))
    (cached.root / "elsewhere" / "deeper").mkdir()
    (cached.root / "runbooks" / "link.yaml").symlink_to(real)
    (cached.root / "runbooks" / "folder").symlink_to(cached.root / "elsewhere")
    lib = library(cached)
    for path in [
        cached.root / "runbooks" / "health.yaml",
        cached.root / "runbooks" / "link.yaml",
        cached.root / "runbooks" / "folder" / "real.yaml",
        cached.root / "runbooks" / "folder" / "deeper" / ".." / "real.yaml",
    ]:
        assert lib._resolved(path) == path.resolve()
    assert lib.summary(cached.root / "runbooks" / "link.yaml")[0]["name"] == "real"
