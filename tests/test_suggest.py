"""The one did-you-mean rule every unknown name goes through."""

from __future__ import annotations

import pytest

from runner.base.suggest import closest, did_you_mean

ALIASES = {"mssql": "tsql", "pg": "postgres"}
DIALECTS = ("tsql", "postgres", "mysql", "sqlite")


@pytest.mark.parametrize(
    ("word", "choices", "expected"),
    [
        ("tresholds", ("thresholds", "title", "retry"), "thresholds"),
        ("mian", ("main", "orders"), "main"),
        ("Main", ("main", "orders"), "main"),  # another case is the same name
        ("MAIN", ("Main",), "Main"),
        ("mssql", DIALECTS, "tsql"),  # a known other name, not mysql by spelling
        ("pg", DIALECTS, "postgres"),
        ("order-helth", ("order-health", "order-processing"), "order-health"),
        ("query", ("retry", "when"), None),  # a lookalike is not a typo
        ("x", ("xy",), None),  # too short to tell
        ("anything", (), None),
    ],
    ids=[
        "typo",
        "swapped-letters",
        "case",
        "case-of-choice",
        "alias",
        "short-alias",
        "long-name",
        "lookalike",
        "short",
        "no-choices",
    ],
)
def test_closest(word: str, choices: tuple[str, ...], expected: str | None) -> None:
    assert closest(word, choices, ALIASES) == expected


def test_an_alias_counts_only_when_its_name_is_a_choice() -> None:
    assert closest("mssql", ("mysql", "sqlite"), ALIASES) == "mysql"


def test_did_you_mean_words_the_hint() -> None:
    assert did_you_mean("stael", ["stale", "limit"]) == "did you mean 'stale'?"
    assert did_you_mean("zzz", ["stale", "limit"]) is None
