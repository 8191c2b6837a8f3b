"""The order-health check written by hand: what `runbook run order-health --format nagios`
replaces, as a person would write it without the runner.

It runs the same 5 SQL files of runbooks/orders/health.yaml (sql/orders/*.sql) against the
demo SQLite database, binds the same two inputs where the files write
`{{ inputs.NAME }}`, applies the same thresholds, and prints a Nagios line with the same
exit code (0 OK, 1 WARNING, 2 CRITICAL). No retries, no history, no alerts: the floor a
user compares the runner with.

    python bench/baselines/health_by_hand.py [PROJECT_DIR]   # default: the repository root
"""

import re
import sqlite3
import sys
from pathlib import Path

INPUTS = {"stale_minutes": 60, "max_retries": 3}
# (file, [(value, warning, critical, direction)]): runbooks/orders/health.yaml's thresholds
CHECKS = [
    ("pending_orders.sql", [("pending_count", 10, 50, "above"),
                            ("oldest_minutes", 60, 240, "above")]),
    ("failed_orders.sql", [("failed_count", 0, 5, "above"),
                           ("dead_letter_count", 0, None, "above")]),
    ("failed_orders_by_error.sql", []),
    ("last_processing_run.sql", [("minutes_since_last_run", 60, 120, "above"),
                                 ("last_run_success", None, 1, "below")]),
    ("processing_history.sql", [("failed_runs_24h", 2, 8, "above"),
                                ("max_seconds", 300, None, "above")]),
]  # fmt: skip
TEMPLATE = re.compile(r"\{\{\s*inputs\.(\w+)\s*\}\}")


def breached(value, limit, direction):
    if limit is None or value is None:
        return False
    return value > limit if direction == "above" else value < limit


def main():
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
    connection = sqlite3.connect(root / "var" / "demo" / "orders.db")
    connection.row_factory = sqlite3.Row
    worst, problems, perfdata = 0, [], []
    for name, thresholds in CHECKS:
        text = (root / "sql" / "orders" / name).read_text()
        params = [INPUTS[found] for found in TEMPLATE.findall(text)]
        rows = connection.execute(TEMPLATE.sub("?", text), params).fetchall()
        row = dict(rows[0]) if rows else {}
        for column, warning, critical, direction in thresholds:
            value = row.get(column)
            if breached(value, critical, direction):
                worst = max(worst, 2)
                problems.append(f"{column} = {value} critical {critical}")
            elif breached(value, warning, direction):
                worst = max(worst, 1)
                problems.append(f"{column} = {value} warning {warning}")
            perfdata.append(
                f"{column}={value};{warning if warning is not None else ''};"
                f"{critical if critical is not None else ''}"
            )
    connection.close()
    status = ["OK", "WARNING", "CRITICAL"][worst]
    print(f"ORDER-HEALTH {status} - {', '.join(problems) or 'all good'} | {' '.join(perfdata)}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
