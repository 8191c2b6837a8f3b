"""Printing cProfile tables the same way in every benchmark."""

from __future__ import annotations

import cProfile
import io
import pstats


def print_profile(profile: cProfile.Profile, title: str, top: int = 15) -> None:
    """The top `top` functions by cumulative time, then the top 10 by own time."""
    for order, count in (("cumulative", top), ("tottime", 10)):
        stream = io.StringIO()
        pstats.Stats(profile, stream=stream).strip_dirs().sort_stats(order).print_stats(count)
        body = stream.getvalue()
        # Drop pstats' preamble up to the column header; keep the table.
        body = body[body.index("   ncalls") :] if "   ncalls" in body else body
        print(f"\n{title}, top {count} by {order}:")
        print(body.rstrip())
