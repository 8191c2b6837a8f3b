"""Small value classes: `class Step(Struct, frozen=True): name: str; ...`.

The runner's plain data (the model of a runbook, its configuration, a run's results)
is declared as annotated fields on subclasses of `Struct`. The class gets `__slots__`,
an `__init__` taking the fields by position or name in declaration order (a base
class's fields first), `__eq__`, `__repr__` and pickling; `frozen=True` refuses
assignment after construction and makes instances hashable. `replace` and `asdict`
do what their names say. It is the subset of msgspec's `Struct` the runner uses, with
the same spelling, and nothing else.

Why not a library: this is on the path of every `runbook run`, whose start-up is a
promise (issue 11: at most 1.3x `python -c 'import yaml, jinja2'`). `dataclasses` execs
each class's methods through a slow generic path (the runner's classes cost about
100 M instructions at import); msgspec, which replaced it, is fast per class but its
import brings typing_extensions, uuid, platform and decimal along (44 M instructions,
about 15% of that baseline in wall time). Here defining a class costs next to nothing:
its `__init__` is generic until the class has made COMPILE_AFTER instances, then
compiled for its fields. Instances are tracked by the cyclic collector as any object
is (msgspec's `gc=False` is not offered): a run holds full collections off instead
(runner.base.gc_pause), and the loaders pause the collector while they build.

What a field may be: `name: type` (required), `name: type = value` (a default; an
empty list, dict or set is copied for each instance, never shared) or `name: type =
field(default_factory=callable)`. A required field may not follow one with a default,
across base classes too. `ClassVar[...]` annotations are class attributes, not fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform

__all__ = ["Struct", "asdict", "field", "replace"]

T = TypeVar("T", bound="Struct")


class _Nothing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOTHING"


#: No default given (a required field; no default_factory).
NOTHING: Any = _Nothing()


class _Field:
    """A field's default, as `field(...)` declares it."""

    __slots__ = ("default", "default_factory")

    def __init__(self, default: Any, default_factory: Any) -> None:
        self.default = default
        self.default_factory = default_factory


def field(*, default: Any = NOTHING, default_factory: Callable[[], Any] | Any = NOTHING) -> Any:
    """A field's default: a value, or a callable making a fresh one for each instance."""
    if default is not NOTHING and default_factory is not NOTHING:
        raise TypeError("field() takes default or default_factory, not both")
    return _Field(default, default_factory)


def _is_class_var(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _own_fields(namespace: dict[str, Any]) -> dict[str, Any]:
    """The fields a class body declares, name -> default (NOTHING, a value or a _Field),
    taken out of the namespace so the slots are not shadowed by class attributes."""
    fields: dict[str, Any] = {}
    for name, annotation in namespace.get("__annotations__", {}).items():
        if name.startswith("__") or _is_class_var(annotation):
            continue
        default = namespace.pop(name, NOTHING)
        if (
            isinstance(default, _Field)
            and default.default is NOTHING
            and default.default_factory is NOTHING
        ):
            default = NOTHING  # field() with neither: required
        if isinstance(default, (list, dict, set, bytearray)):
            if default:
                raise TypeError(f"field {name!r}: a mutable default must be empty")
            default = _Field(NOTHING, type(default))
        fields[name] = default
    return fields


#: How many instances a class makes through the generic `__init__` before it gets one
#: compiled for its fields (see `_counting_init`).
COMPILE_AFTER = 32


def _counting_init(cls: Any, fields: dict[str, Any], frozen: bool) -> Callable[..., None]:
    """The first `__init__` of a class: generic (it binds arguments to fields in a loop),
    so that defining a class costs nothing. Compiling an `__init__` per class costs about
    1.4 M instructions each, 60 M for the runner's classes at every start-up, where most
    are made a few times; a class made more than COMPILE_AFTER times (steps of a long
    runbook, results of a run, origins of a document) gets its compiled one, about ten
    times faster per call, in place of this one."""
    names = tuple(fields)
    calls = 0

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > COMPILE_AFTER and type(self) is cls:
            cls.__init__ = compiled = _compiled_init(cls.__name__, fields, frozen)
            compiled(self, *args, **kwargs)
            return
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__} takes at most {len(names)} positional arguments")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields:
                raise TypeError(f"{cls.__name__} has no field {name!r}")
            if name in values:
                raise TypeError(f"{cls.__name__} got field {name!r} twice")
            values[name] = value
        for name in names:
            value = values[name] if name in values else _default(cls.__name__, name, fields[name])
            object.__setattr__(self, name, value)

    return __init__


def _default(owner: str, name: str, default: Any) -> Any:
    if default is NOTHING:
        raise TypeError(f"{owner} missing required field {name!r}")
    if isinstance(default, _Field):
        if default.default_factory is not NOTHING:
            return default.default_factory()
        return default.default
    return default


def _compiled_init(owner: str, fields: dict[str, Any], frozen: bool) -> Callable[..., None]:
    """An `__init__` compiled for `fields` (name -> default): plain parameters with
    their defaults, one assignment per field."""
    scope: dict[str, Any] = {"NOTHING": NOTHING, "_set": object.__setattr__}
    params = ["self"]
    body = []
    for name, default in fields.items():
        value = name
        if isinstance(default, _Field) and default.default_factory is not NOTHING:
            scope[f"_f_{name}"] = default.default_factory
            params.append(f"{name}=NOTHING")
            value = f"_f_{name}() if {name} is NOTHING else {name}"
        elif default is not NOTHING:
            scope[f"_d_{name}"] = _default(owner, name, default)
            params.append(f"{name}=_d_{name}")
        else:
            params.append(name)
        body.append(f"_set(self, {name!r}, {value})" if frozen else f"self.{name} = {value}")
    lines = [f"def __init__({', '.join(params)}):", *(f"    {line}" for line in body or ["pass"])]
    exec(compile("\n".join(lines), f"<struct {owner}>", "exec"), scope)  # noqa: S102 (our text)
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{owner}.__init__"
    return init


@dataclass_transform(field_specifiers=(field,))
class StructMeta(type):
    """Builds the slots and the methods of a Struct class from its annotations."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        *,
        frozen: bool = False,
    ) -> StructMeta:
        inherited: dict[str, Any] = {}
        for base in reversed(bases):
            inherited.update(getattr(base, "__struct_defaults__", {}))
        own = _own_fields(namespace)
        fields = {**inherited, **own}
        seen_default = False
        for field_name, default in fields.items():
            if default is not NOTHING:
                seen_default = True
            elif seen_default:
                raise TypeError(
                    f"{name}: required field {field_name!r} follows a field with a default"
                )
        namespace["__slots__"] = tuple(n for n in own if n not in inherited)
        namespace["__struct_fields__"] = tuple(fields)
        namespace["__struct_defaults__"] = fields
        namespace["__match_args__"] = tuple(fields)
        frozen = frozen or any(getattr(base, "__struct_frozen__", False) for base in bases)
        namespace["__struct_frozen__"] = frozen
        if frozen:
            namespace["__setattr__"] = _refuse_setattr
            namespace["__delattr__"] = _refuse_setattr
            namespace["__hash__"] = _hash
        else:
            namespace["__hash__"] = None
        cls = super().__new__(mcls, name, bases, namespace)
        if "__init__" not in namespace:  # a class may write its own
            cls.__init__ = _counting_init(cls, fields, frozen)  # type: ignore[misc]
        return cls


def _refuse_setattr(self: Any, name: str, *_value: Any) -> None:
    raise AttributeError(f"immutable type: {type(self).__name__!r} (setting {name!r})")


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in self.__struct_fields__)


def _hash(self: Any) -> int:
    return hash(_values(self))


class Struct(metaclass=StructMeta):
    """The base of the runner's value classes (see the module's docstring)."""

    __struct_fields__: ClassVar[tuple[str, ...]]
    __struct_defaults__: ClassVar[dict[str, Any]]
    __struct_frozen__: ClassVar[bool]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return _values(self) == _values(other)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__)
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return type(self), _values(self)


def replace(struct: T, /, **changes: Any) -> T:
    """A copy of `struct` with the fields in `changes` set to new values."""
    unknown = set(changes) - set(struct.__struct_fields__)
    if unknown:
        raise TypeError(f"{type(struct).__name__} has no field {sorted(unknown)[0]!r}")
    values = {name: getattr(struct, name) for name in struct.__struct_fields__}
    values.update(changes)
    return type(struct)(**values)


def asdict(struct: Struct) -> dict[str, Any]:
    """The fields of `struct` as a dict (not recursive, as msgspec's)."""
    return {name: getattr(struct, name) for name in struct.__struct_fields__}
