"""What validation found, kept under var/cache so an unchanged runbook is not validated again.

An entry is a small JSON file named by a key: the SHA-256 of the runbook file's bytes,
runner.yaml's bytes, the runner's version and the hash of the runner's own code, and
FORMAT (bumped when an entry's shape changes). The entry lists every other file the
result depends on (the SQL files the runbook reads, the runbooks and checks it calls,
the Apprise files that define notification tags) with the SHA-256 of its bytes then; an
entry whose dependencies changed is a miss. So a change to any byte of any of these files
means the runbook is validated again; only the same bytes, read by the same code, hit.

What an entry keeps: whether the file validated without errors (a run skips the JSON
Schema and the checks of meaning), how many errors it had, and what `runbook list` and
`runbook status` show (name, kind, title, tags, schedule), so they read no YAML for an
unchanged file.

Hashing every file each time is most of what a warm `runbook list` costs, so a stat
index (stats.json) keeps each file's size, mtime, ctime and inode with the SHA-256 of its
bytes; a file whose four are unchanged is not read again. A file is only entered once its
mtime and ctime are over two seconds old, so an edit within the same clock tick as the
stamp cannot pass for the old bytes; any other edit changes the ctime, which no tool sets
back. A lost or unreadable index costs only reading the files again.

`runbook list` and `runbook status` read every runbook's entry and declared name; a
second index (listing.json) keeps both for them, so a warm listing reads two files rather
than one entry and the head of one runbook per runbook: the entries they looked up, by
key (each still checked against the hashes of its dependencies), and the name each file
declares, under its size, mtime, ctime and inode (trusted as the stat index is). It is
written again only when what it holds changed, and holds only what the last listing used.

Safe across processes: an entry is written to a temp file in the same folder and moved
into place with os.replace, so a reader sees a whole entry or none; two runs writing the
same key write the same bytes. An entry that does not parse, or has the wrong shape, is a
miss and is written again. When var/cache cannot be written (read-only, full), the cache
is silently off: the run validates as if there were no cache. Deleting var/cache at any
time costs only the next run's validation.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

from runner.base.structs import Struct

#: The shape of an entry; bump it when the shape or its meaning changes.
FORMAT = 3
#: How old a file's mtime must be for its stat to stand for its hash (stats.json).
TRUSTED_AGE_NS = 2_000_000_000


class Entry(Struct, frozen=True):
    """What validation found for one set of bytes."""

    errors: int  # 0: it validated clean (a run may skip validation)
    info: dict[str, Any]  # name, kind, title, tags, schedule: what `list` shows; timing
    depends: dict[str, str | None]  # path -> SHA-256 of its bytes (None: it did not exist)


def file_hash(path: Path) -> str | None:
    """The SHA-256 of a file's bytes; None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


_CODE_HASH: str | None = None


def code_hash() -> str:
    """The runner's version and a hash of its own code: an upgrade or an edit of the
    runner is a new cache, never an old entry misread."""
    global _CODE_HASH
    if _CODE_HASH is None:
        # The package is loaded (this module is in it); read, not imported: the language
        # layer may not import the top of the package.
        version = getattr(sys.modules.get("runner"), "__version__", "?")
        _CODE_HASH = package_hash(Path(__file__).resolve().parent.parent, version)
    return _CODE_HASH


#: The name of the runner's distribution, as its .dist-info folder spells it.
DISTRIBUTION = "runbook_runner"


def package_hash(root: Path, version: str) -> str:
    """A hash of the code of the package in `root` at `version`.

    Installed from a wheel, the package sits beside its .dist-info folder, whose RECORD
    pip writes at each install with the SHA-256 of every file it put there: its bytes
    stand for the code, for one read of one file. A checkout (an editable install, or
    the source on PYTHONPATH) has no such list: there every source file's name, size and
    mtime is hashed (about 170 stats, 5 M instructions, 2 ms). A file of an installed
    copy edited by hand is not seen: delete var/cache after such a patch.
    """
    digest = hashlib.sha256(f"{version}/{FORMAT}".encode())
    record = root.parent / f"{DISTRIBUTION}-{version}.dist-info" / "RECORD"
    try:
        listed = record.read_bytes()
    except OSError:
        listed = b""
    marker = f"{root.name}/__init__.py,".encode()
    if any(line.startswith(marker) for line in listed.splitlines()):
        digest.update(listed)
        return digest.hexdigest()
    for folder, _dirs, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith((".py", ".json")):
                stat = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class ValidationCache:
    """Entries under one folder (config.var_dir / "cache"); every failure is a miss."""

    def __init__(self, folder: Path, config_path: Path | None) -> None:
        self.folder = folder
        self._config_hash = (file_hash(config_path) if config_path else None) or "-"
        self._hashes: dict[str, str | None] = {}  # one process reads each file once
        # path -> [size, mtime_ns, ctime_ns, inode, SHA-256]: a file whose stat is unchanged
        # is not read again to be hashed (stats.json, written by save())
        self._stats: dict[str, Any] | None = None
        self._stats_dirty = False
        # listing.json: {"entries": {key: [errors, info, depends]}, "files": {path: [size,
        # mtime_ns, ctime_ns, inode, note]}}, as loaded, and what this process used of it
        self._listing: dict[str, Any] | None = None
        self._listed: dict[str, dict[str, Any]] = {"entries": {}, "files": {}}

    def hash(self, path: str) -> str | None:
        """The SHA-256 of a file's bytes now: from the stat index when its size, mtime and
        inode are those recorded, else read and hashed."""
        if path not in self._hashes:
            self._hashes[path] = self._stat_hash(path)
        return self._hashes[path]

    def _stat_hash(self, path: str) -> str | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
        known = self._stats_index().get(path)
        if isinstance(known, list) and known[:4] == stamp and isinstance(known[-1], str):
            return known[-1]
        digest = file_hash(Path(path))
        # A file changed within the last seconds may change again within the same clock
        # tick without its size changing: only an older stamp is trusted next time.
        changed = max(stat.st_mtime_ns, stat.st_ctime_ns)
        if digest is not None and changed < time.time_ns() - TRUSTED_AGE_NS:
            self._stats_index()[path] = [*stamp, digest]
            self._stats_dirty = True
        return digest

    def _stats_index(self) -> dict[str, Any]:
        if self._stats is None:
            try:
                loaded = json.loads(self._stats_file().read_bytes())
            except (OSError, ValueError):
                loaded = {}
            self._stats = loaded if isinstance(loaded, dict) else {}
        return self._stats

    def _stats_file(self) -> Path:
        return self.folder / f"v{FORMAT}" / "stats.json"

    def save(self) -> None:
        """Write the stat index when this process hashed files it did not know; like an
        entry, atomically, and silently not when var/cache cannot be written."""
        if self._stats is not None and self._stats_dirty:
            _write_json(self._stats_file(), self._stats)
            self._stats_dirty = False
        if self._listing is not None and self._listed != self._listing:
            _write_json(self._listing_file(), self._listed)
            self._listing = self._listed

    def depends_on(self, paths: Iterable[Path]) -> dict[str, str | None]:
        """Each path (resolved) with the hash of its bytes now."""
        return {str(path.resolve()): self.hash(str(path.resolve())) for path in paths}

    def key(self, path: Path, data: bytes) -> str:
        """The key of a file (its resolved path) holding `data`."""
        digest = hashlib.sha256(data)
        digest.update(f"\0{path}\0{self._config_hash}\0{code_hash()}".encode())
        return digest.hexdigest()

    def file_key(self, path: Path) -> str | None:
        """The key of a file (its resolved path) holding the bytes it holds now, by their
        hash (from the stat index when the file is unchanged); None when it cannot be read."""
        content = self.hash(str(path))
        if content is None:
            return None
        text = f"{content}\0{path}\0{self._config_hash}\0{code_hash()}"
        return hashlib.sha256(text.encode()).hexdigest()

    def _file(self, key: str) -> Path:
        return self.folder / f"v{FORMAT}" / key[:2] / f"{key}.json"

    def built_file(self, key: str) -> Path:
        """Where the built model of `key` is kept, pickled (built.py)."""
        return self.folder / f"v{FORMAT}" / "built" / key[:2] / f"{key}.pickle"

    def get(self, key: str) -> Entry | None:
        """The entry of `key` when its dependencies are unchanged; None otherwise."""
        try:
            raw = json.loads(self._file(key).read_bytes())
            entry = Entry(int(raw["errors"]), dict(raw["info"]), dict(raw["depends"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, unreadable or corrupt: a miss (written again after)
        for dependency, expected in entry.depends.items():
            if self.hash(dependency) != expected:
                return None
        return entry

    def put(self, key: str, entry: Entry) -> None:
        """Write an entry atomically; a cache that cannot be written is silently off."""
        body = {"errors": entry.errors, "info": entry.info, "depends": entry.depends}
        _write_json(self._file(key), body)
        if self._listing is not None:  # a listing validated it: the next one reads it here
            self._listed["entries"][key] = [entry.errors, entry.info, entry.depends]

    # -- what `list` and `status` read (listing.json) -------------------------------------

    def listed(self, key: str) -> Entry | None:
        """The entry of `key` as get() gives it, from the listing index when it is there
        (one file for every runbook listed), else from its own file."""
        row = self._listing_index()["entries"].get(key)
        entry = _entry(row)
        if entry is None or any(self.hash(p) != h for p, h in entry.depends.items()):
            entry = self.get(key)
            row = [entry.errors, entry.info, entry.depends] if entry is not None else None
        if entry is not None:
            self._listed["entries"][key] = row
        return entry

    def noted(self, path: str) -> Any:
        """What note() kept of a file while its size, mtime, ctime and inode are those it
        had then; None when they changed, or nothing was kept."""
        stamp = _stamp(path)
        row = self._listing_index()["files"].get(path)
        if stamp is None or not isinstance(row, list) or len(row) != 5 or row[:4] != stamp:
            return None
        self._listed["files"][path] = row
        return row[4]

    def note(self, path: str, value: Any) -> None:
        """Keep a JSON value read from a file's bytes (the name it declares) for as long as
        its stamp is unchanged; only a stamp over TRUSTED_AGE_NS old, as in stats.json."""
        stamp = _stamp(path)
        if stamp is not None and max(stamp[1], stamp[2]) < time.time_ns() - TRUSTED_AGE_NS:
            self._listed["files"][path] = [*stamp, value]

    def _listing_index(self) -> dict[str, Any]:
        if self._listing is None:
            try:
                loaded = json.loads(self._listing_file().read_bytes())
            except (OSError, ValueError):
                loaded = None
            shaped = isinstance(loaded, dict) and all(
                isinstance(loaded.get(part), dict) for part in ("entries", "files")
            )
            self._listing = loaded if shaped else {"entries": {}, "files": {}}
        return self._listing

    def _listing_file(self) -> Path:
        return self.folder / f"v{FORMAT}" / "listing.json"


def _stamp(path: str) -> list[int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _entry(row: Any) -> Entry | None:
    """An entry from a row of listing.json; None when it has not that shape."""
    if not isinstance(row, list) or len(row) != 3:
        return None
    errors, info, depends = row
    if type(errors) is not int or not isinstance(info, dict) or not isinstance(depends, dict):
        return None
    if not all(isinstance(h, str | None) for h in depends.values()):
        return None
    return Entry(errors, info, depends)


def _write_json(target: Path, body: Any) -> None:
    """Write to a temp file in the same folder and move it into place, so a reader sees
    the whole file or none; an OSError means the cache is off, not a failure."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(body, out)
            os.replace(temp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(temp)
            raise
    except OSError:
        return
