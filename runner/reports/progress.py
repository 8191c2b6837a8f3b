"""The live progress line of a long run on a terminal: the current step, the items of a
`for_each` done of its total, the time elapsed and the time left (from the items done).

    check-orders › update one order · items 37/100 · 0:03 elapsed · ~0:05 left

The engine tells it where the run is (engine/options.py, `Progress`); a thread draws
the line. Nothing is drawn, and rich is not even imported, for a run that ends within
AFTER seconds. The line is transient: it is cleared before the report prints, and
while the run asks for a confirmation. `runbook run` wires it only for text output to a
terminal (cli/commands.py): never for json or nagios, or when stdout is a pipe or a file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

__all__ = ["AFTER", "EVERY", "LiveProgress", "clock_text"]

#: Seconds a run goes before the line appears.
AFTER = 1.0
#: Seconds between two redraws.
EVERY = 0.25


def clock_text(seconds: float) -> str:
    """0:07, 12:30, 1:02:03."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class LiveProgress:
    """Listens to one run (`step`, `items`) and draws its line on `stream` from a thread
    between `start()` and `stop()` (or as a context manager). `clock` is monotonic seconds;
    `after` and `every` default to AFTER and EVERY, read when the line starts."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        after: float | None = None,
        every: float | None = None,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.after = AFTER if after is None else after
        self.every = EVERY if every is None else every
        self.started = clock()
        self.current = ""
        # The innermost for_each under way: its label, items done, total, when it began.
        self.loop: tuple[str, int, int, float] | None = None
        self._lock = threading.Lock()  # the drawing thread against pausing()
        self._stopped = threading.Event()
        self._paused = False
        self._live: Any = None  # a rich Live while the line is shown
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- the engine's side
    def step(self, label: str) -> None:
        self.current = label

    def items(self, label: str, done: int, total: int) -> None:
        now = self.clock()
        loop = self.loop
        began = loop[3] if loop is not None and loop[0] == label and done else now
        self.loop = (label, done, total, began)

    # ---------------------------------------------------------------- the line
    def line(self) -> str:
        """The line as it stands now."""
        now = self.clock()
        parts = []
        loop = self.loop
        if loop is not None and loop[1] < loop[2]:
            label, done, total, began = loop
            where = label if self.current in ("", label) else f"{label} › {self.current}"
            parts += [where, f"items {done:,}/{total:,}"]
            elapsed = f"{clock_text(now - self.started)} elapsed"
            if done:
                left = (now - began) / done * (total - done)
                parts += [elapsed, f"~{clock_text(left)} left"]
            else:
                parts.append(elapsed)
        else:
            parts += [self.current or "starting", f"{clock_text(now - self.started)} elapsed"]
        return " · ".join(parts)

    # ---------------------------------------------------------------- drawing
    def start(self) -> None:
        self.started = self.clock()
        self._thread = threading.Thread(target=self._draw_until_stopped, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Clear the line (if it was drawn) and end the thread; the report prints next."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._hide()

    def __enter__(self) -> LiveProgress:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def pausing(self, ask: Callable[[str], str]) -> Callable[[str], str]:
        """`ask` with the line cleared while the question waits for its answer."""

        def asking(prompt: str) -> str:
            with self._lock:
                self._paused = True
                self._hide()
            try:
                return ask(prompt)
            finally:
                self._paused = False

        return asking

    def _draw_until_stopped(self) -> None:
        if self._stopped.wait(self.after):
            return  # a run that ended quickly: nothing drawn, rich never imported
        while True:
            with self._lock:
                if not self._stopped.is_set() and not self._paused:
                    self._draw()
            if self._stopped.wait(self.every):
                return

    def _draw(self) -> None:
        from rich.text import Text

        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, highlight=False)
            self._live = Live(
                console=console,
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        self._live.update(Text(self.line(), no_wrap=True, overflow="ellipsis"), refresh=True)

    def _hide(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()
