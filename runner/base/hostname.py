"""This machine's name, as runs, locks and the store record it."""

from __future__ import annotations

import os


def hostname() -> str:
    """socket.gethostname(), read from os.uname() where there is one: the socket module
    costs a run several milliseconds of start-up for this one name."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()
