"""Paths as messages show them."""

from __future__ import annotations

import os
from pathlib import Path


def display_path(path: Path) -> str:
    """Relative to the current folder when inside it (as CI annotations want), else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(Path(path).resolve()) if relative.startswith("..") else relative
