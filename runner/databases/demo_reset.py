"""`runbook demo reset`: rebuild a demo from scratch, so a tried rollback or processing run
can be tried again.

Everything the demo's builder produces is rebuilt: the database and whatever it puts
beside it (a `logs/` folder of processor logs, ...). The new demo is built whole in a
scratch folder next to the database by `ensure_demo` itself, so a reset makes exactly
what a first use makes; only then are the old entries moved aside and the new ones moved
in, under the demo's lock. A failure before the swap leaves the old demo untouched; a
failure during it moves the old entries back. The old ones are deleted last.
"""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import datetime
from pathlib import Path

from runner.databases.demo import ensure_demo, exclusive

#: What SQLite keeps beside a database file while it is open or after a crash.
_SIDE_FILES = ("-wal", "-shm", "-journal")


class ResetError(Exception):
    """The demo could not be rebuilt; the old one, if any, is left as it was."""


def reset_demo(name: str, path: str | os.PathLike[str], now: datetime | None = None) -> list[str]:
    """Rebuild demo `name` whose database is `path`; the names of the entries replaced.

    Raises ResetError (with what failed and that nothing changed) when the new demo
    cannot be built or put in place.
    """
    target = Path(path)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ResetError(f"cannot create {folder}: {error.strerror or error}") from None
    token = f"{os.getpid()}.{secrets.token_hex(4)}"
    scratch = folder / f".{target.name}.{token}.reset"
    trash = folder / f".{target.name}.{token}.old"
    try:
        scratch.mkdir()
        try:
            ensure_demo(name, scratch / target.name, now)
        except ValueError as error:  # an unknown demo name
            raise ResetError(str(error)) from None
        except Exception as error:  # whatever the builder raised: said in one line
            raise ResetError(
                f"building demo {name!r} failed, the old one is untouched: "
                f"{type(error).__name__}: {error}"
            ) from None
        built = sorted(p.name for p in scratch.iterdir() if not p.name.endswith(".lock"))
        with exclusive(target.with_name(target.name + ".lock")):
            _swap(scratch, folder, trash, built, target.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
    return built


def _swap(scratch: Path, folder: Path, trash: Path, built: list[str], database: str) -> None:
    """Move the old entries named `built` (and the database's side files) into `trash`,
    then the new ones from `scratch` into `folder`; on failure, undo what was moved."""
    trash.mkdir()
    old = [n for n in built if (folder / n).exists() or (folder / n).is_symlink()]
    old += [database + s for s in _SIDE_FILES if (folder / (database + s)).exists()]
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for entry in old:
            os.replace(folder / entry, trash / entry)
            moved_out.append(entry)
        for entry in built:
            os.replace(scratch / entry, folder / entry)
            moved_in.append(entry)
    except OSError as error:
        for entry in reversed(moved_in):
            os.replace(folder / entry, scratch / entry)
        for entry in reversed(moved_out):
            os.replace(trash / entry, folder / entry)
        raise ResetError(
            f"cannot replace {folder / (error.filename or database)}: "
            f"{error.strerror or error}; the old demo is back in place"
        ) from None
