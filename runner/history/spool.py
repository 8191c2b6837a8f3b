"""The spool: records of runs the state store could not take, until one can.

When a run's record cannot be written (a full disk, a read-only or damaged store), the
run keeps it in `spool/<run_id>.json` beside the store (var/spool/ by default; beside
var_dir for a PostgreSQL store), written atomically (a temporary file renamed into
place) and masked like everything stored. The next run that can write imports the
spooled records into the store, once each: a run id already recorded as finished is
not recorded again, and the file goes once its run is in. A file that cannot be read
is moved aside (`<name>.bad`) and reported, never fatal.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.base.masking import Masker
from runner.base.structs import Struct, field
from runner.history.records import storable
from runner.language.results import RunResult, run_from_dict

if TYPE_CHECKING:
    from runner.history.store import StateStore
    from runner.language.config import Config

#: Bumped when the layout of a spool file changes meaning.
SPOOL_VERSION = 1


def spool_dir(config: Config) -> Path:
    """Where records wait: `spool/` beside an SQLite store's file, else under var_dir."""
    location = config.state_location
    if isinstance(location, Path):
        return location.parent / "spool"
    return config.var_dir / "spool"


def spool_record(
    run: RunResult, deliveries: Sequence[Mapping[str, Any]], reason: str, masker: Masker
) -> dict[str, Any]:
    """What a spool file holds: the run as JSON, its deliveries, why it waits; masked."""
    data = {**run.as_dict(), "path": run.path}
    data.pop("notifications", None)  # the store keeps them as deliveries
    data.pop("not_recorded", None)
    return {
        "spool_version": SPOOL_VERSION,
        "reason": masker.mask_text(reason),
        "run": storable(data, masker),
        "deliveries": storable([dict(item) for item in deliveries], masker),
    }


def write_spool(directory: Path, record: Mapping[str, Any]) -> Path:
    """Write `record` to `<directory>/<run_id>.json` atomically; raises OSError."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{record['run']['run_id']}.json"
    text = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
    fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    return target


class Imported(Struct):
    """What one import of the spool did: run ids recorded, already there, files set aside."""

    recorded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # a sentence per file set aside


def import_spool(directory: Path, store: StateStore) -> Imported:
    """Record every spooled run into `store`, oldest first, and remove its file.

    A file that cannot be read as a spool record is renamed `<name>.bad` and reported in
    `notes`. A store error stops the import (raised): the files stay for the next run.
    """
    done = Imported()
    try:
        files = sorted(directory.glob("*.json"))
    except OSError:
        return done
    for path in files:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            run = run_from_dict(record["run"])
            deliveries = list(record.get("deliveries") or [])
            if record.get("spool_version") != SPOOL_VERSION or not run.run_id:
                raise ValueError(f"not a spool record of version {SPOOL_VERSION}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = path.with_name(path.name + ".bad")
            try:
                os.replace(path, aside)
                done.notes.append(f"{path}: cannot be read ({exc}); moved aside to {aside}")
            except OSError as error:
                done.notes.append(f"{path}: cannot be read ({exc}) nor moved aside ({error})")
            continue
        if store.record_finished(run, deliveries):
            done.recorded.append(run.run_id)
        else:
            done.present.append(run.run_id)
        path.unlink(missing_ok=True)
    return done
