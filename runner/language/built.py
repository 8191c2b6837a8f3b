"""Built models kept between processes, so that a warm run reads no YAML at all.

A runbook that validated clean has an entry in the validation cache (cache.py); its
built model is kept beside it, pickled, under the same key: the SHA-256 of the file's
bytes, runner.yaml's bytes, the runner's version and the hash of its own code. A run
whose entry is found (every file it depends on unchanged, cache.py) unpickles the model
instead of parsing the YAML and building it again. runner.yaml's Config is kept the same
way, keyed by its bytes, its path and the path messages show it by.

Safe across processes and versions, like the entries: written to a temp file in the
same folder and moved into place with os.replace, so a reader sees a whole file or none;
the key changes with the runner's code, so another version never reads it. Anything
that does not unpickle, or unpickles to another type, is a miss (built again and
written over). Unpickling loads only the classes of the runner's language, steps and
base packages, pathlib's paths and datetime values (a restricted Unpickler): a file put
in var/cache cannot name a function, or a class that connects, writes or runs. When
var/cache cannot be written, nothing is kept and nothing fails.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from contextlib import suppress
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

T = TypeVar("T")

#: What an unpickled model may be made of besides the runner's own classes.
_ALLOWED = {
    "pathlib": {"Path", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath"},
    "datetime": {"date", "datetime", "time", "timedelta", "timezone"},
}


def read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only mapping again (the model keeps user data in MappingProxyType)."""
    return MappingProxyType(mapping)


def _reduce_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return read_only, (dict(proxy),)


#: The packages whose classes a model or a Config is made of (never databases/, history/,
#: engine/: nothing that connects, writes or runs).
_MODEL_PACKAGES = ("runner.language.", "runner.steps.", "runner.base.")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        if module.startswith(_MODEL_PACKAGES):
            found = super().find_class(module, name)
            if isinstance(found, type) or found is read_only:  # a class, never a function
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a runbook model")


def dump(target: Path, value: Any) -> None:
    """Pickle `value` into `target` atomically; silently nothing when it cannot."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {MappingProxyType: _reduce_proxy}
    try:
        pickler.dump(value)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return  # a value the model never holds today: not kept, built each time
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(buffer.getvalue())
            os.replace(temp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(temp)
            raise
    except OSError:
        return


def load(source: Path, kind: type[T]) -> T | None:
    """The `kind` pickled in `source`; None when it is absent, unreadable, corrupt or
    of another type."""
    try:
        data = source.read_bytes()
    except OSError:
        return None
    try:
        value = _Unpickler(io.BytesIO(data)).load()
    except Exception:  # a truncated or foreign file raises anything: it is a miss
        return None
    return value if isinstance(value, kind) else None
