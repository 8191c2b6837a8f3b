"""What a demo system is, and what it is told when it starts.

A demo system is a module with these attributes (checked by `DemoSystem`):

- `NAME`: its name on the command line (`edi`);
- `TITLE`: a few words for the console (`EDI file processor (seed 002)`);
- `LISTEN`: its default address, the port its seed names (`("127.0.0.1", 5000)`);
- `FAULTS`: each failure of its seed it can be switched into, with one line saying
  what it does (`{"slow": "every file takes 45 s to process ..."}`);
- `build(state)`: its ASGI app (Starlette), reading `state` on every request, so that
  faults switched on or off while it serves take effect at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runner.language.config import Config


class DemoState:
    """One running demo's world: where its files live, which faults are on, its clock.

    `root` is the demo's own folder (var/demo/<name> beside runner.yaml), made by the
    demo as it needs; `config` is runner.yaml's configuration when there is one (the
    wms demo finds its database there: the `wms` connection); `clock` gives the time
    in seconds since the epoch (tests inject one). `faults` may be read and changed
    from any thread: the server's control route changes it while requests read it.
    """

    def __init__(
        self,
        root: Path,
        faults: Iterable[str] = (),
        config: Config | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.config = config
        self.clock = clock
        self._faults = frozenset(faults)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[frozenset[str]], None]] = []

    @property
    def faults(self) -> frozenset[str]:
        return self._faults

    def has(self, fault: str) -> bool:
        """Whether the demo is switched into `fault` now."""
        return fault in self._faults

    def set_faults(self, faults: Iterable[str]) -> None:
        """Switch to exactly these faults; each `on_faults` listener hears it before this
        returns, so a demo's files follow a switch at once, not at its next request."""
        with self._lock:
            self._faults = frozenset(faults)
            for listener in self._listeners:
                listener(self._faults)

    def on_faults(self, listener: Callable[[frozenset[str]], None]) -> None:
        """Call `listener` with the faults each time they are switched (a demo that keeps
        files rewrites them: the runbooks that read them see the fault at once)."""
        with self._lock:
            self._listeners.append(listener)


class DemoSystem(Protocol):
    """The attributes of a demo system's module (see the module's docstring)."""

    NAME: str
    TITLE: str
    LISTEN: tuple[str, int]
    FAULTS: Mapping[str, str]

    def build(self, state: DemoState) -> Any:
        """The system's ASGI app, reading `state` on each request."""
        ...
