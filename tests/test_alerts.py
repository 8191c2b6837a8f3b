"""The pure alert decision: sequences of run statuses on a controlled clock -> messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runner.alerts import AlertState, Policy, decide, parse_after, tag_list
from runner.status import Status

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OK, WARN, CRIT, UNK = Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN

BASE = {"warning": ["ops"], "critical": ["ops", "oncall"], "recovered": ["ops"]}


def play(raw: dict, runs: list[tuple[int, Status]], retried: bool = False) -> list[list[str]]:
    """Each run (minutes after T0, status) -> the messages as 'kind STATUS tags'."""
    policy = Policy.from_raw(raw)
    state: AlertState | None = None
    said = []
    for index, (minutes, status) in enumerate(runs):
        state, alerts = decide(
            state,
            status,
            policy,
            T0 + timedelta(minutes=minutes),
            run_id=f"run{index}",
            retried=retried,
        )
        said.append([f"{a.kind} {a.status.value} {','.join(a.tags)}" for a in alerts])
    return said


SCENARIOS = [
    (
        "first-alert-then-quiet",
        BASE,
        [(0, OK), (60, CRIT), (120, CRIT), (180, CRIT)],
        [[], ["new CRITICAL ops,oncall"], [], []],
    ),
    (
        "after-3-in-a-row",
        {**BASE, "after": 3},
        [(0, CRIT), (60, CRIT), (120, OK), (180, CRIT), (240, WARN), (300, CRIT), (360, CRIT)],
        [[], [], [], [], [], ["new CRITICAL ops,oncall"], []],
    ),
    (
        "after-2-of-4",
        {**BASE, "after": "2 of 4"},
        [(0, CRIT), (60, OK), (120, OK), (180, OK), (240, CRIT), (300, OK), (360, WARN)],
        [[], [], [], [], [], [], ["new WARNING ops"]],
    ),
    (
        "unannounced-blip-recovers-silently",
        {**BASE, "after": 2},
        [(0, CRIT), (60, OK)],
        [[], []],
    ),
    (
        "repeat-only-after-the-interval",
        {**BASE, "repeat": "1h"},
        [(0, WARN), (30, WARN), (59, WARN), (60, WARN), (90, WARN), (125, WARN)],
        [["new WARNING ops"], [], [], ["repeat WARNING ops"], [], ["repeat WARNING ops"]],
    ),
    (
        "worse-then-better-then-recovered",
        BASE,
        [(0, WARN), (10, CRIT), (20, WARN), (140, OK), (150, OK)],
        [
            ["new WARNING ops"],
            ["worse CRITICAL ops,oncall"],
            ["better WARNING ops,oncall"],
            ["recovered OK ops"],
            [],
        ],
    ),
    (
        "escalate-once-per-incident",
        {**BASE, "escalate": {"after": "30m", "to": ["manager"]}},
        [(0, CRIT), (29, CRIT), (31, CRIT), (90, CRIT), (100, OK), (110, CRIT), (145, CRIT)],
        [
            ["new CRITICAL ops,oncall"],
            [],
            ["escalation CRITICAL manager"],
            [],
            ["recovered OK ops"],
            ["new CRITICAL ops,oncall"],
            ["escalation CRITICAL manager"],
        ],
    ),
    (
        "escalation-counts-critical-time-only",
        {**BASE, "escalate": {"after": "30m", "to": ["manager"]}},
        [(0, WARN), (40, CRIT), (60, CRIT), (71, CRIT)],
        [["new WARNING ops"], ["worse CRITICAL ops,oncall"], [], ["escalation CRITICAL manager"]],
    ),
    (
        "unknown-goes-to-critical-tags-by-default",
        BASE,
        [(0, UNK), (10, OK)],
        [["new UNKNOWN ops,oncall"], ["recovered OK ops"]],
    ),
    (
        "unknown-tags-of-its-own",
        {**BASE, "unknown": ["dev"]},
        [(0, UNK)],
        [["new UNKNOWN dev"]],
    ),
    (
        "a-status-nobody-hears-opens-nothing",
        {"critical": ["oncall"], "recovered": ["oncall"]},
        [(0, WARN), (10, OK), (20, CRIT), (30, WARN), (40, OK)],
        [[], [], ["new CRITICAL oncall"], ["better WARNING oncall"], ["recovered OK oncall"]],
    ),
    (
        "skipped-changes-nothing",
        BASE,
        [(0, CRIT), (10, Status.SKIPPED), (20, OK)],
        [["new CRITICAL ops,oncall"], [], ["recovered OK ops"]],
    ),
]


@pytest.mark.parametrize(
    ("raw", "runs", "expected"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_what_is_announced(raw: dict, runs: list, expected: list) -> None:
    assert play(raw, runs) == expected


def test_recovery_names_how_long_it_was_bad() -> None:
    policy = Policy.from_raw(BASE)
    state, _ = decide(None, CRIT, policy, T0, run_id="a")
    state, _ = decide(state, WARN, policy, T0 + timedelta(minutes=50), run_id="b")
    state, alerts = decide(state, OK, policy, T0 + timedelta(minutes=125), run_id="c")
    [recovered] = alerts
    assert (recovered.kind, recovered.previous, recovered.bad_for) == ("recovered", "WARNING", 7500)
    assert recovered.bad_since == T0
    assert not state.open and state.streak == 0 and state.bad_since is None


def test_retried_runs_tell_only_when_asked() -> None:
    quiet = play(BASE, [(0, OK)], retried=True)
    told = play({**BASE, "retried": ["dev"]}, [(0, OK), (10, CRIT)], retried=True)
    assert quiet == [[]]
    assert told == [["retried OK dev"], ["new CRITICAL ops,oncall"]]


def test_the_same_run_is_counted_once() -> None:
    policy = Policy.from_raw(BASE)
    state, first = decide(None, CRIT, policy, T0, run_id="same")
    again, second = decide(state, CRIT, policy, T0 + timedelta(hours=9), run_id="same")
    assert [a.kind for a in first] == ["new"] and second == [] and again == state


def test_a_message_that_reached_nobody_is_sent_on_the_next_run() -> None:
    policy = Policy.from_raw(BASE)  # no repeat: only the undelivered message comes back
    state, _ = decide(None, CRIT, policy, T0, run_id="a")
    undelivered = AlertState(**{**state.__dict__, "last_sent": None})
    _, alerts = decide(undelivered, CRIT, policy, T0 + timedelta(minutes=5), run_id="b")
    assert [a.kind for a in alerts] == ["repeat"]


def test_runbook_keys_override_the_default_key_by_key() -> None:
    default = Policy.from_raw({"critical": ["ops"], "repeat": "4h", "recovered": ["ops"]})
    mine = Policy.from_raw({"critical": ["oncall"], "repeat": None}, default)
    assert (mine.critical, mine.repeat, mine.recovered) == (("oncall",), None, ("ops",))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, (1, None)), (3, (3, None)), ("3 of 5", (3, 5)), (" 2  of 2 ", (2, 2))],
    ids=["default", "count", "n-of-m", "spaced"],
)
def test_after_reads_a_count_or_n_of_m(value: object, expected: tuple) -> None:
    assert parse_after(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5 of 3", "must be N of M with 1 <= N <= M <= 50"),
        ("3 of 500", "must be N of M with 1 <= N <= M <= 50"),
        ("three", "is not a count of runs"),
        (0, "must be 1 or more"),
    ],
    ids=["n-above-m", "window-too-long", "words", "zero"],
)
def test_after_refuses_what_cannot_fire(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_after(value)


def test_tags_are_read_as_apprise_writes_them() -> None:
    assert tag_list("ops, oncall") == ("ops", "oncall")
    assert tag_list(["ops", "ops", " dev "]) == ("ops", "dev")
    assert tag_list(None) == ()
