"""The code Jinja compiles templates to, kept under var/cache between runs.

A run renders the hints, thresholds and SQL of its steps. Compiling one text (parse,
generate Python source, Python's `compile()`) costs about 7 M instructions, and the first
`compile()` of a process sets up the compiler for about 10 M more: 44 M of the 475 M of a
nagios run of the demo's health check, every run, for texts that did not change. Jinja's own
bytecode cache (`jinja2.BytecodeCache`) keeps the compiled code object, marshalled, so a
later run executes it instead (templates.py asks it before compiling).

Where: `var/cache/jinja/<tag>/<key>.code`. The tag hashes what the code depends on
besides the text: Python's version (marshal and bytecode are specific to it), Jinja's
version (its code generator) and the runner's own code (cache.code_hash: the sandbox's
settings and filters are code); a change of any is a new folder, never an old entry
misread. The key is the SHA-256 of the text and of how it is used (a template, or an
expression), so a changed text is another key: never served the code of its old text.
An entry is a header (FORMAT, the SHA-256 of the text it was compiled from, the SHA-256 of
the marshalled code) and the marshalled code; one whose header does not match, or whose
code does not hash to its header's, is a miss and is written again.

Who may write there: executing code read from a file is what the restricted unpickler
of built.py refuses to do for models. It widens nothing here: whoever can write var/cache
can already change the kept model of a runbook (its command steps) or remove the cache.
Still, the folders are made 0o700 and used only when they are directories (not links)
owned by this user and writable by nobody else, as Jinja checks its own temp folder;
otherwise the cache is off for the process and templates are compiled in memory.

Safe across processes: an entry is written to a temp file in the same folder and moved
into place with os.replace, so a reader sees a whole entry or none, and two runs writing
the same key write the same bytes. When var/cache cannot be written (read-only, full, not
there), nothing is kept and nothing fails.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from types import CodeType

import jinja2
from jinja2.bccache import Bucket, BytecodeCache

from runner.language.cache import code_hash

#: The shape of an entry; bump it when the shape or its meaning changes.
FORMAT = b"runbook-jinja-code 1\n"
_DIGEST = 64  # characters of a SHA-256 in hex


class TemplateCodeCache(BytecodeCache):
    """Jinja's bytecode cache under one var/cache folder; every failure is a miss.

    The folder is checked (and made) on first use, once per process."""

    def __init__(self, cache_folder: Path) -> None:
        self.cache_folder = cache_folder
        self._folder: Path | None = None
        self._checked = False

    def folder(self) -> Path | None:
        """`jinja/<tag>` under the cache folder, made when missing; None when it cannot be
        made or is not safe to use (see the module's docstring)."""
        if not self._checked:
            self._checked = True
            top = self.cache_folder / "jinja"
            mine = top / _tag()
            if _private_folder(top) and _private_folder(mine):
                self._folder = mine
        return self._folder

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        # `name` is the text with how it is used (templates.py): one text, one key.
        return hashlib.sha256(f"{name}\0{filename or ''}".encode()).hexdigest()

    def get_source_checksum(self, source: str) -> str:
        return hashlib.sha256(source.encode()).hexdigest()

    def load_bytecode(self, bucket: Bucket) -> None:
        # Not Bucket.load_bytecode: it unpickles the checksum, and a truncated file would
        # raise from there rather than be a miss.
        folder = self.folder()
        if folder is None:
            return
        try:
            data = (folder / f"{bucket.key}.code").read_bytes()
        except OSError:
            return
        header = FORMAT + bucket.checksum.encode() + b"\n"
        start = len(header) + _DIGEST + 1
        if not data.startswith(header) or len(data) < start:
            return  # absent, of another text or another format
        payload = data[start:]
        if data[len(header) : start - 1] != hashlib.sha256(payload).hexdigest().encode():
            return  # truncated or damaged
        try:
            code = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return
        if isinstance(code, CodeType):
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        folder = self.folder()
        if folder is None or bucket.code is None:
            return
        payload = marshal.dumps(bucket.code)
        digest = hashlib.sha256(payload).hexdigest()
        data = FORMAT + f"{bucket.checksum}\n{digest}\n".encode() + payload
        try:
            handle, temp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temp, folder / f"{bucket.key}.code")
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError:
            return  # the cache cannot be written: compiled again next time


def _tag() -> str:
    """What compiled code depends on besides its text: Python, Jinja, the runner."""
    parts = (sys.implementation.cache_tag, sys.version, jinja2.__version__, code_hash())
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]


def _private_folder(folder: Path) -> bool:
    """Whether `folder` is a directory (not a link) of this user that nobody else may
    write, made 0o700 when missing (its parent must exist: a deleted var/ is not made
    again from here)."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        try:
            os.mkdir(folder, 0o700)
            info = os.lstat(folder)
        except OSError:
            return False
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )
