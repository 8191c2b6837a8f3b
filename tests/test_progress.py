"""The live progress line of `runbook run` (reports/progress.py): what it says, that a
quick run draws nothing, and on a real pseudo-terminal that it appears while a
`for_each` works and is cleared before the report; never in json, nagios or a pipe."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import sys
import threading
import time
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.reports import progress
from runner.reports.progress import LiveProgress, clock_text


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_clock_text() -> None:
    assert [clock_text(s) for s in (0, 7.9, 750, 3723)] == ["0:00", "0:07", "12:30", "1:02:03"]


def test_the_line_names_the_step_the_items_and_the_time_left() -> None:
    clock = Clock()
    live = LiveProgress(io.StringIO(), clock=clock)
    live.step("count orders")
    clock.now += 2
    assert live.line() == "count orders · 0:02 elapsed"
    live.step("update each order")
    live.items("update each order", 0, 100)
    assert live.line() == "update each order · items 0/100 · 0:02 elapsed"
    live.step("set the flag")
    clock.now += 10
    live.items("update each order", 25, 100)
    # 25 items in 10 s: 75 more take 30 s
    assert (
        live.line() == "update each order › set the flag · items 25/100 · 0:12 elapsed · ~0:30 left"
    )
    live.items("update each order", 100, 100)
    live.step("report")
    assert live.line() == "report · 0:12 elapsed"


def test_a_run_that_ends_quickly_draws_nothing() -> None:
    stream = io.StringIO()
    with LiveProgress(stream, after=60) as live:
        live.step("quick")
    assert stream.getvalue() == ""


def _fifo_runbook(project, fifo: Path) -> None:
    project.runbook(
        "slow",
        f"""
        runbook: slow
        kind: processing
        steps:
          - id: each
            title: wait for each
            for_each: [a, b, c]
            as: name
            command: [sh, -c, 'read line < {fifo}-{{{{ name }}}}']
        """,
    )


def _read_until(fd: int, wanted: bytes, seen: bytearray, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while wanted not in seen:
        left = end - time.monotonic()
        assert left > 0, f"{wanted!r} never appeared in {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 65536)


def _in_a_terminal(
    project, monkeypatch, argv: list[str], fifo: Path, wait_for: list[bytes], *, tty: bool = True
):
    """Run `runbook ARGV` in this process with stdout on a pseudo-terminal (or a pipe),
    the line due at once; each item of the runbook waits for a line on its own FIFO
    (`fifo`-a, -b, -c), written once `wait_for[i]` is on stdout (at once when the list is empty). Returns (exit code,
    the bytes stdout got, how many progress lines started)."""
    monkeypatch.setattr(progress, "AFTER", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.01)
    started: list[LiveProgress] = []
    real_start = LiveProgress.start

    def start(self: LiveProgress) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(LiveProgress, "start", start)
    master, slave = pty.openpty() if tty else os.pipe()
    terminal = os.fdopen(slave, "w", encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", terminal)
    answer: list[int] = []
    runner = threading.Thread(target=lambda: answer.append(main(argv)))
    runner.start()
    seen = bytearray()
    try:
        for index in range(3):
            if wait_for:
                _read_until(master, wait_for[index], seen)
            with open(f"{fifo}-{'abc'[index]}", "w") as pipe:  # noqa: PTH123 - a FIFO
                pipe.write("go\n")
        runner.join(10)
        assert not runner.is_alive()
        terminal.flush()
        while select.select([master], [], [], 0.2)[0]:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            seen += chunk
    finally:
        terminal.close()
        os.close(master)
    return answer[0], bytes(seen), len(started)


def test_on_a_terminal_the_line_shows_the_items_and_is_cleared_before_the_report(
    project, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = project.root / "go"
    for name in "abc":
        os.mkfifo(f"{fifo}-{name}")
    _fifo_runbook(project, fifo)
    code, seen, lines = _in_a_terminal(
        project,
        monkeypatch,
        ["run", "slow", "--format", "text", "--color", "never"],
        fifo,
        [b"items 0/3", b"items 1/3", b"items 2/3"],
    )
    assert code == 0 and lines == 1
    assert b"wait for each" in seen and b"items 0/3" in seen and b"items 2/3" in seen
    assert b"elapsed" in seen and b"left" in seen
    last_line = seen.rindex(b"items ")
    report = seen.index(b"OK", last_line)
    # The line is erased (rich's transient Live: erase-in-line) before the report prints.
    assert b"\x1b[2K" in seen[last_line:report]


@pytest.mark.parametrize(
    ("fmt", "tty"),
    [("json", True), ("nagios", True), ("text", False)],
    ids=["json", "nagios", "pipe"],
)
def test_no_progress_line_in_json_nagios_or_a_pipe(
    project, monkeypatch: pytest.MonkeyPatch, fmt: str, tty: bool
) -> None:
    fifo = project.root / "go"
    for name in "abc":
        os.mkfifo(f"{fifo}-{name}")
    _fifo_runbook(project, fifo)
    argv = ["run", "slow", "--format", fmt, "--color", "never"]
    code, seen, lines = _in_a_terminal(project, monkeypatch, argv, fifo, [], tty=tty)
    assert code == 0 and lines == 0
    assert not re.search(rb"items \d+/\d+", seen)
    assert b"elapsed" not in seen and b"\x1b" not in seen
    assert b"OK" in seen  # the report itself did arrive


def test_a_question_clears_the_line_before_it_is_asked() -> None:
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w", encoding="utf-8")
    seen = bytearray()
    try:
        live = LiveProgress(terminal, after=0, every=0.01)
        live.step("drop the old partitions")
        with live:
            _read_until(master, b"drop the old partitions", seen)

            def ask(prompt: str) -> str:
                terminal.flush()
                while select.select([master], [], [], 0)[0]:
                    seen.extend(os.read(master, 65536))
                return f"asked {prompt!r} after: {bytes(seen[seen.rindex(b'partitions') :])!r}"

            answer = live.pausing(ask)("sure? ")
        # Erased (erase-in-line) and the cursor shown again before the question.
        assert answer.startswith("asked 'sure? '") and "\\x1b[2K" in answer
        assert "\\x1b[?25h" in answer
    finally:
        terminal.close()
        os.close(master)
