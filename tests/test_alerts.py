"""The pure alert decision: sequences of run statuses on a controlled clock -> messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runner.alerts.decide import AlertState, decide
from runner.base.status import Status
from runner.language.policy import Policy, parse_after, tag_list

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OK, WARN, CRIT, UNK = Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN

BASE = {"warning": ["ops"], "critical": ["ops", "oncall"], "recovered": ["ops"]}


def play(raw: dict, runs: list[tuple], retried: bool = False) -> list[list[str]]:
    """Each run (minutes after T0, status[, "failing,steps"]) -> the messages as
    'kind STATUS tags', followed by ' +step,...' when it names steps not told before."""
    policy = Policy.from_raw(raw)
    state: AlertState | None = None
    said = []
    for index, (minutes, status, *steps) in enumerate(runs):
        state, alerts = decide(
            state,
            status,
            policy,
            T0 + timedelta(minutes=minutes),
            run_id=f"run{index}",
            retried=retried,
            failing=tag_list(steps[0]) if steps else (),
        )
        said.append(
            [
                f"{a.kind} {a.status.value} {','.join(a.tags)}"
                + (f" +{','.join(a.added)}" if a.added else "")
                for a in alerts
            ]
        )
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
    # -- per failing step: a new problem does not hide behind an open incident --
    (
        "a-newly-failing-step-is-told-once-and-a-partial-recovery-is-not",
        BASE,
        [(0, CRIT, "a"), (10, CRIT, "a,b"), (20, CRIT, "a,b"), (30, CRIT, "b"), (40, OK, "")],
        [
            ["new CRITICAL ops,oncall"],
            ["spread CRITICAL ops,oncall +b"],
            [],
            [],
            ["recovered OK ops"],
        ],
    ),
    (
        # Nobody was told a recovered, so its failing again is not news to anyone.
        "a-step-that-recovers-unannounced-and-fails-again-is-not-news",
        BASE,
        [(0, CRIT, "a,b"), (10, CRIT, "b"), (20, CRIT, "a,b")],
        [["new CRITICAL ops,oncall"], [], []],
    ),
    (
        # The repeat at 60 named only b: from then on a failing again is news.
        "a-step-the-last-message-left-out-is-news-again",
        {**BASE, "repeat": "1h"},
        [(0, CRIT, "a,b"), (10, CRIT, "b"), (60, CRIT, "b"), (70, CRIT, "a,b")],
        [
            ["new CRITICAL ops,oncall"],
            [],
            ["repeat CRITICAL ops,oncall"],
            ["spread CRITICAL ops,oncall +a"],
        ],
    ),
    (
        "spread-is-sent-at-once-and-restarts-the-repeat-interval",
        {**BASE, "repeat": "1h"},
        [(0, WARN, "a"), (30, WARN, "a,b"), (60, WARN, "a,b"), (89, WARN, "a,b"), (90, WARN, "b")],
        [["new WARNING ops"], ["spread WARNING ops +b"], [], [], ["repeat WARNING ops"]],
    ),
    (
        "a-change-of-severity-names-the-new-steps-itself-without-a-spread",
        BASE,
        [(0, WARN, "a"), (10, CRIT, "a,b"), (20, CRIT, "a,b"), (30, WARN, "a,c")],
        [
            ["new WARNING ops"],
            ["worse CRITICAL ops,oncall +b"],
            [],
            ["better WARNING ops,oncall +c"],
        ],
    ),
    (
        # `after` counts bad runs of the runbook, whichever step failed; once the
        # incident is announced, another step failing is told at the next run.
        "after-counts-runbook-runs-and-spread-does-not-wait-for-it",
        {**BASE, "after": 2},
        [(0, CRIT, "a"), (10, CRIT, "b"), (20, CRIT, "a,b")],
        [[], ["new CRITICAL ops,oncall"], ["spread CRITICAL ops,oncall +a"]],
    ),
    (
        # WARNING has no tags: b's failing is told to nobody, so the worse names it.
        "a-spread-nobody-hears-is-named-by-the-next-message",
        {"critical": ["oncall"], "recovered": ["oncall"]},
        [(0, CRIT, "a"), (10, WARN, "a"), (20, WARN, "a,b"), (30, CRIT, "a,b")],
        [
            ["new CRITICAL oncall"],
            ["better WARNING oncall"],
            [],
            ["worse CRITICAL oncall +b"],
        ],
    ),
    (
        "spread-and-escalation-in-one-run-go-to-their-own-people",
        {**BASE, "escalate": {"after": "30m", "to": ["manager"]}},
        [(0, CRIT, "a"), (31, CRIT, "a,b"), (40, CRIT, "a,b")],
        [
            ["new CRITICAL ops,oncall"],
            ["spread CRITICAL ops,oncall +b", "escalation CRITICAL manager"],
            [],
        ],
    ),
    (
        "an-escalation-ladder-tells-each-stage-once-in-order",
        {
            **BASE,
            "escalate": [
                {"after": "30m", "to": ["dev"]},
                {"after": "2h", "to": ["management"]},
            ],
        },
        [
            (0, CRIT),
            (20, CRIT),
            (31, CRIT),
            (60, CRIT),
            (121, CRIT),
            (180, CRIT),
            (200, OK),
            (210, CRIT),
            (241, CRIT),
        ],
        [
            ["new CRITICAL ops,oncall"],
            [],
            ["escalation CRITICAL dev"],
            [],
            ["escalation CRITICAL management"],
            [],
            ["recovered OK ops"],
            ["new CRITICAL ops,oncall"],  # a new incident climbs the ladder from the start
            ["escalation CRITICAL dev"],
        ],
    ),
    (
        "stages-due-between-two-runs-are-told-in-one-message",
        {**BASE, "escalate": [{"after": "30m", "to": ["dev"]}, {"after": "2h", "to": ["boss"]}]},
        [(0, CRIT), (180, CRIT), (240, CRIT)],
        [["new CRITICAL ops,oncall"], ["escalation CRITICAL dev,boss"], []],
    ),
    (
        "a-ladder-climbs-only-while-critical",
        {**BASE, "escalate": [{"after": "30m", "to": ["dev"]}, {"after": "2h", "to": ["boss"]}]},
        [(0, CRIT), (40, CRIT), (100, WARN), (150, WARN)],
        [
            ["new CRITICAL ops,oncall"],
            ["escalation CRITICAL dev"],
            ["better WARNING ops,oncall"],
            [],
        ],
    ),
    (
        "after-recovery-a-new-incident-starts-from-nothing",
        BASE,
        [(0, CRIT, "a,b"), (10, OK, ""), (20, CRIT, "b"), (30, CRIT, "a,b")],
        [
            ["new CRITICAL ops,oncall"],
            ["recovered OK ops"],
            ["new CRITICAL ops,oncall"],
            ["spread CRITICAL ops,oncall +a"],
        ],
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


def test_the_steps_told_are_kept_in_the_state() -> None:
    policy = Policy.from_raw({**BASE, "repeat": "1h"})
    state, _ = decide(None, CRIT, policy, T0, run_id="a", failing=["x", "y", "x"])
    assert state.failing == ("x", "y")
    quiet, alerts = decide(
        state, CRIT, policy, T0 + timedelta(minutes=5), run_id="b", failing=["y"]
    )
    assert alerts == [] and quiet.failing == ("x", "y")  # still what people were told
    later, [spread] = decide(
        quiet, CRIT, policy, T0 + timedelta(minutes=9), run_id="c", failing=["y", "z"]
    )
    assert (spread.kind, spread.added, later.failing) == ("spread", ("z",), ("y", "z"))
    assert spread.bad_since == T0 and spread.previous == "CRITICAL"
    well, _ = decide(later, OK, policy, T0 + timedelta(minutes=20), run_id="d")
    assert well.failing == ()


def test_an_incident_kept_before_steps_were_recorded_is_not_announced_again() -> None:
    """A row from an older store (failing unknown) takes what fails now as told."""
    policy = Policy.from_raw(BASE)
    state, _ = decide(None, CRIT, policy, T0, run_id="a")
    older = AlertState(**{**state.__dict__, "failing": None})
    known, alerts = decide(
        older, CRIT, policy, T0 + timedelta(minutes=5), run_id="b", failing=["a", "b"]
    )
    assert alerts == [] and known.failing == ("a", "b")
    _, [spread] = decide(
        known, CRIT, policy, T0 + timedelta(minutes=9), run_id="c", failing=["a", "b", "c"]
    )
    assert (spread.kind, spread.added) == ("spread", ("c",))
    fresh, [new] = decide(AlertState(failing=None), WARN, policy, T0, run_id="d", failing=["a"])
    assert new.kind == "new" and fresh.failing == ("a",)


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
