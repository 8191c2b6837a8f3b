"""order-backup's pg_dump path for real: the demo's tables on the local PostgreSQL are
dumped by the command step, read back by pg_restore --list, and the dump restores into
a fresh database with every row; order-backup-check then finds it fresh."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from runner.databases.demo_orders import order_rows

from .conftest import PG_ADMIN, _admin, configure, seed_orders

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_tools() -> None:
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:  # in CI (CI=true) tests/conftest.py makes this skip a failure
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install postgresql-client)")


def test_pg_dump_backup_restores_every_row(project: Any, postgres: Any, pg_tools: None) -> None:
    configure(project, postgres)
    seed_orders(postgres, datetime.now(UTC).replace(microsecond=0))
    database = re.search(r"DATABASE=(\w+)", postgres.odbc).group(1)
    folder = project.root / "backups"
    folder.mkdir()

    run = project.run(
        "order-backup",
        {"method": "pg_dump", "folder": str(folder), "pg_database": database},
    )
    assert str(run.status) == "OK", [(s.id, s.error, s.values.get("stderr")) for s in run.steps]
    (dump,) = folder.glob("orders-*.dump")
    listing = {step.id: step for step in run.steps}["pg_dump_check"].values["stdout"]
    assert re.search(r"TABLE DATA public ps_doc_hdr", listing, re.IGNORECASE), listing

    admin = _admin(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432")
    restored = f"runbook_restore_{secrets.token_hex(4)}"
    admin.execute(f"CREATE DATABASE {restored}")
    try:
        subprocess.run(
            ["pg_restore", "--no-password", "--host=127.0.0.1", "--username=postgres",
             f"--dbname={restored}", str(dump)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        copy = type(postgres)(
            "copy",
            "postgres",
            postgres.odbc.replace(f"DATABASE={database}", f"DATABASE={restored}"),
        )
        rows = order_rows(datetime.now(UTC))
        for table in ("USER_ORDER_STAGING", "PS_DOC_HDR", "PS_DOC_LIN", "IM_INV"):
            assert copy.execute(f"SELECT COUNT(*) FROM {table}") == [(len(rows[table]),)], table
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {restored} WITH (FORCE)")
        admin.close()

    check = project.run("order-backup-check", {"folder": str(folder), "glob": "orders-*.dump"})
    assert str(check.status) == "OK"
