"""Telling a `decimal.Decimal` apart without importing decimal.

Decimal values come only from database drivers (NUMERIC columns through pyodbc), which
import decimal themselves; a run against SQLite never sees one. So whether a value is a
Decimal can be asked of the module only when it is loaded, and a run that has none does
not pay for the import (3.4 M instructions and a shared library; issue 11, start-up).
"""

from __future__ import annotations

import sys
from typing import Any


def is_decimal(value: Any) -> bool:
    """Whether `value` is a decimal.Decimal."""
    decimal = sys.modules.get("decimal")
    return decimal is not None and isinstance(value, decimal.Decimal)
