"""`runbook demo serve`: stand-ins for the systems of seeds 002-004, on 127.0.0.1.

Each system is one module here with the module attributes of `base.DemoSystem`
(its name, title, default address, faults, and `build(state)` returning its ASGI app),
listed in `SYSTEMS` below and imported only when served. The runbooks under
runbooks/<system>/ check them through the endpoints their seed names and do not know
they are demos; pointed at production, they check the real system.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # `runbook --help` names the systems without importing them
    from runner.demos.base import DemoSystem

#: name -> module, in the order `runbook demo serve all` starts them.
SYSTEMS: dict[str, str] = {
    "edi": "runner.demos.edi",
    "wms": "runner.demos.wms",
    "returns": "runner.demos.returns",
}


def system(name: str) -> DemoSystem:
    """The demo system called `name` (one of SYSTEMS), imported."""
    return cast("DemoSystem", importlib.import_module(SYSTEMS[name]))


__all__ = ["SYSTEMS", "system"]
