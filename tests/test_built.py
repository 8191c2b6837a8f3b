"""Built models kept under var/cache (runner/language/built.py, issue 11 point 1).

A warm run unpickles the model of a runbook that validated clean, and runner.yaml's
Config, instead of reading YAML; any change to the runbook, its SQL files (one appearing
where a step looks first included) or runner.yaml builds and validates again; a kept
file that is corrupt, or names a callable outside the runner, is a miss.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from runner.language import built
from runner.language import library as library_module
from runner.language.config import load_config
from runner.language.library import Library
from runner.language.model import Runbook
from runner.steps import STEP_TYPES
from tests.conftest import Project
from tests.test_cache import HEALTH, cached, validations  # noqa: F401 (fixtures)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The runbook files read and built from YAML, in order."""
    seen: list[str] = []
    original = library_module._read

    def counting(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(Path(path).name)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(library_module, "_read", counting)
    return seen


def library(project: Project) -> Library:
    return Library(load_config(project.root / "runner.yaml"), STEP_TYPES, cache=True)


def kept(project: Project) -> list[Path]:
    return sorted((project.root / "var" / "cache").rglob("*.pickle"))


def test_a_runbook_validated_clean_is_kept_built_and_not_read_again(
    cached: Project,  # noqa: F811
    validations: list[str],  # noqa: F811
    builds: list[str],
) -> None:
    first = library(cached).runbook("health")
    second = library(cached).runbook("health")

    assert builds == ["health.yaml"]
    assert validations == ["health.yaml"]
    assert second == first
    assert second.vars == first.vars and type(second.vars) is type(first.vars)  # read-only


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.runbook("health", HEALTH + "\n# edited\n"), id="runbook"),
        pytest.param(lambda p: p.write("sql/count.sql", "SELECT 0 AS n -- edited\n"), id="sql"),
        pytest.param(
            lambda p: p.write("sql/sqlite/count.sql", "SELECT 0 AS n\n"), id="sql-for-dialect"
        ),
        pytest.param(
            lambda p: p.config(
                "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n# edited\n"
            ),
            id="runner.yaml",
        ),
    ],
)
def test_any_change_builds_and_validates_again(
    cached: Project,  # noqa: F811
    validations: list[str],  # noqa: F811
    builds: list[str],
    change: object,
) -> None:
    library(cached).runbook("health")
    change(cached)  # type: ignore[operator]
    model = library(cached).runbook("health")

    assert validations == ["health.yaml", "health.yaml"]
    assert builds == ["health.yaml", "health.yaml"]
    if (cached.root / "sql" / "sqlite" / "count.sql").exists():
        assert model.steps[0].config.path == cached.root / "sql" / "sqlite" / "count.sql"


@pytest.mark.parametrize(
    "damage",
    [b"", b"not a pickle", pickle.dumps({"a": 1})[:-3], pickle.dumps(["a list"])],
    ids=["empty", "garbage", "truncated", "another-type"],
)
def test_a_corrupt_kept_model_is_a_miss_and_kept_again(
    cached: Project,  # noqa: F811
    builds: list[str],
    damage: bytes,
) -> None:
    first = library(cached).runbook("health")
    for path in kept(cached):
        path.write_bytes(damage)

    again = library(cached).runbook("health")
    library(cached).runbook("health")

    assert again == first
    assert builds == ["health.yaml", "health.yaml"]  # built once more, then kept again
    assert all(built.load(path, object) is not None for path in kept(cached))


class Foreign:
    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (print, ("unpickled a foreign callable",))


def test_a_kept_file_naming_a_callable_outside_the_runner_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "x.pickle"
    target.write_bytes(pickle.dumps(Foreign()))
    assert built.load(target, object) is None

    built.dump(target, Runbook(name="r", path="r.yaml"))
    assert built.load(target, Runbook) == Runbook(name="r", path="r.yaml")
    assert built.load(target, Path) is None  # of another type: a miss


def test_runner_yaml_is_kept_built_and_its_changes_are_read(
    cached: Project,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runner.language import yamlload

    first = load_config(cached.root / "runner.yaml")
    monkeypatch.setattr(yamlload, "load_file", _no_yaml)
    assert load_config(cached.root / "runner.yaml") == first

    cached.config("connections:\n  main: {sqlite: other.db}\nstate: var/runner.db\n")
    with pytest.raises(AssertionError, match="YAML read"):
        load_config(cached.root / "runner.yaml")


def _no_yaml(*args: object) -> None:
    raise AssertionError("YAML read")


class RunnerFunction:
    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        from runner.language.config import load_config as a_function

        return (a_function, ("runner.yaml",))


def test_a_kept_file_naming_a_function_of_the_runner_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "x.pickle"
    target.write_bytes(pickle.dumps(RunnerFunction()))
    assert built.load(target, object) is None
