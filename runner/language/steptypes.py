"""The step contract, as the language sees it, and the registry of step types.

A step type (`sql`, `http`, `files`, ...) is one module under runner/steps/ holding one
class, as an Apprise notifier is one module declaring its own shape. The class declares:

- here, in `StepDeclaration` (what loading a runbook needs): the YAML key that chooses
  it and the other keys it takes, the JSON Schema of those keys (schemas/ is generated
  from them), which of its values are templates, how its typed config is built from
  YAML, its checks of meaning (and the notification tags it names), and its default
  timeout;
- in runner/steps/base.py (`StepType`, what running needs): its executor (run, and
  describe for --dry-run), how its outcome maps to a status, what a rehearsal shows,
  and its one-line result summary for reports.

Layering: runner/steps sits above runner/language, so the language never imports a step
module. It reaches the step types only through a `StepTypes` registry handed to it (the
`Library` takes one); runner/steps builds the one registry the program uses
(`runner.steps.STEP_TYPES`). The composite forms `check` and `runbook` are declared in
language/calls.py and run by the engine; they sit in the registry like the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

from runner.base.errors import Problem
from runner.base.structs import Struct, field
from runner.base.suggest import did_you_mean
from runner.language.model import Origin

if TYPE_CHECKING:
    from runner.language.config import Config
    from runner.language.nodes import Node

__all__ = [
    "BuildScope",
    "Catalog",
    "Deferred",
    "StepChecks",
    "StepConfig",
    "StepDeclaration",
    "StepTypes",
    "known_hint",
]


def known_hint(name: str, known: set[str], what: str, config: Config) -> str:
    """`did you mean 'x'?`, else the known names and where they are defined."""
    hint = did_you_mean(name, known)
    if hint:
        return hint
    where = config.display_path
    return (
        f"known {what}: {', '.join(sorted(known))} (in {where})"
        if known
        else f"define it in {where}"
    )


class StepConfig(Struct, frozen=True):
    """Base of the typed, immutable config of a step type (a frozen Struct each)."""

    @property
    def target(self) -> str | None:
        """What `runbook show` names beside the step: a SQL file, a check, a runbook."""
        return None


class BuildScope(Struct, frozen=True):
    """What a step type's builder may consult besides the step itself."""

    config: Config  # runner.yaml: connections, sql folders
    connection: str | None = None  # the step's connection: its own or inherited


class Catalog(Protocol):
    """What the checks of meaning ask of the library of runbooks and checks."""

    config: Config
    check_sql: bool  # SQL syntax checked with sqlglot: `runbook validate`, not runs

    def path_of(self, kind: str, name: str) -> Path | None: ...

    def names(self, kind: str = "runbook") -> list[str]: ...

    def unknown_name_message(self, kind: str, name: str) -> str: ...

    def call_cycle(self, me: Any, start: str) -> list[str] | None: ...

    def known_tags(self) -> frozenset[str] | None: ...


class SourceLines:
    """The lines of one file, read on first use and then kept: a runbook's checks read
    its file once, not once per step ([] when it cannot be read)."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._lines: list[str] | None = None

    def __call__(self) -> list[str]:
        if self._lines is None:
            try:
                self._lines = self.file.read_text(encoding="utf-8").splitlines()
            except OSError:
                self._lines = []
        return self._lines


class StepChecks(Struct):
    """What a step type's checks of meaning are handed for one step, and where they
    report: `add` a problem at an Origin of the step's config."""

    step: Origin  # the step itself (a list item)
    file: Path  # the runbook's file, for positions inside multi-line values
    kind: str  # "runbook" or "check"
    runbook: Any  # the document's `runbook:` name, as written
    connection: str | None  # the step's own connection, else the runbook's
    catalog: Catalog
    problems: list[Problem] = field(default_factory=list)
    inputs: frozenset[str] | None = None  # the inputs the runbook declares; None: not known
    lines: SourceLines | None = None  # the file's lines, shared by the runbook's steps
    #: the step has a `when:`, so it may never run: a check of how it fits the
    #: configuration (a SQLite-only step on a server's connection) leaves it to run time
    conditional: bool = False

    @property
    def config(self) -> Config:
        return self.catalog.config

    def add(
        self,
        origin: Origin,
        message: str,
        hint: str | None = None,
        *,
        at: str = "value",
        line_offset: int = 0,
    ) -> None:
        self.problems.append(origin.problem(message, hint, at=at, line_offset=line_offset))

    def known_hint(self, name: str, known: set[str], what: str) -> str:
        return known_hint(name, known, what, self.config)

    def source_lines(self) -> list[str]:
        """The lines of the runbook's file ([] when it cannot be read)."""
        if self.lines is None:
            self.lines = SourceLines(self.file)
        return self.lines()


class StepDeclaration:
    """What a step type declares for loading runbooks: keys, schema, config, meaning.

    Subclasses set `name` (the key that chooses the step type, e.g. `sql`), `keys` (the
    other keys it takes, e.g. `shell`, `env`, `cwd` for `command`), `schema` (the JSON
    Schema of the keys it introduces, in the order editors list them) and, when its
    schema refers to them, `definitions` ($defs). A key may be taken by several step
    types (`with` by `check` and `runbook`) and is described once, by one of them.
    """

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ()
    #: Keys whose strings are templates (default: all of the step type's keys).
    template_keys: ClassVar[tuple[str, ...] | None] = None
    schema: ClassVar[Mapping[str, Any]] = {}
    definitions: ClassVar[Mapping[str, Any]] = {}

    @property
    def all_keys(self) -> tuple[str, ...]:
        return (self.name, *self.keys)

    @property
    def templated(self) -> tuple[str, ...]:
        return self.all_keys if self.template_keys is None else self.template_keys

    def build(self, node: Node, scope: BuildScope) -> Any:
        """The typed config of the step mapping `node` (which holds `name`).

        Must not fail on a document the JSON Schema rejected: build what can be built
        (its checks of meaning and the schema's problems say what is wrong)."""
        raise NotImplementedError

    def templates(self, key: str, node: Node) -> Iterator[tuple[str, Origin]]:
        """The template strings in the value of `key` (one of `templated`), with where."""
        return node.texts()

    def check(self, config: Any, checks: StepChecks) -> None:
        """Checks of meaning of a built config; problems go to `checks.add`."""

    def default_timeout(self, config: Any, timeout: float) -> float:
        """The step's timeout when it sets none (`timeout`: the runbook's default)."""
        return timeout

    def tags(self, config: Any) -> Iterable[tuple[Origin, Any]]:
        """The notification tags it names, as written, with where: checked against the
        tags runner.yaml routes, like those of `notify:` policies."""
        return ()


T = TypeVar("T", bound=StepDeclaration)


class Deferred(NamedTuple):
    """A step type named in a registry by where its class is (`module:Class`), with the
    keys loading a runbook needs before the class is imported: the registry imports it
    on first use, so a run imports only the step types its runbook uses. The keys must
    be the class's own (the registry checks them when it imports the class).

    A NamedTuple rather than a frozen dataclass: it is made at start-up, where a
    dataclass costs a millisecond to define."""

    name: str
    where: str  # "runner.steps.http:HttpStep"
    keys: tuple[str, ...] = ()
    template_keys: tuple[str, ...] | None = None

    @property
    def templated(self) -> tuple[str, ...]:
        return (self.name, *self.keys) if self.template_keys is None else self.template_keys

    def load(self) -> Any:
        module, _, cls = self.where.partition(":")
        step_type = getattr(import_module(module), cls)()
        declared = (self.name, self.keys, self.templated)
        if (step_type.name, step_type.keys, step_type.templated) != declared:
            raise ValueError(f"step type {self.name!r}: its registry entry differs from {cls}")
        return step_type


class StepTypes(Generic[T]):
    """Step types by name, in the order the language lists them (schema, messages).

    An entry may be `Deferred`: its class is imported when the step type is first asked
    for by name, or when the registry is iterated (validation, schema)."""

    def __init__(self, types: Iterable[T | Deferred]) -> None:
        self._types: dict[str, T | Deferred] = {}
        for step_type in types:
            if step_type.name in self._types:
                raise ValueError(f"step type {step_type.name!r} is registered twice")
            self._types[step_type.name] = step_type
        self.names: tuple[str, ...] = tuple(self._types)
        owners: dict[str, list[str]] = {}
        for step_type in self._types.values():
            for key in step_type.keys:
                owners.setdefault(key, []).append(step_type.name)
        #: keys other than the names, with the step types that take each
        self.options: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in owners.items()}
        templated: dict[str, str] = {}
        for step_type in self._types.values():
            for key in step_type.templated:
                templated.setdefault(key, step_type.name)
        #: keys whose strings are templates, with the name of the step type that reads them
        self.templated: dict[str, str] = templated

    def _loaded(self, name: str) -> T:
        found = self._types[name]
        if isinstance(found, Deferred):
            found = self._types[name] = found.load()
        return found

    def __iter__(self) -> Iterator[T]:
        return iter([self._loaded(name) for name in self.names])

    def __len__(self) -> int:
        return len(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __getitem__(self, name: str) -> T:
        if name not in self._types:
            raise KeyError(f"unknown step type {name!r}; known types: {', '.join(self.names)}")
        return self._loaded(name)

    def get(self, name: str) -> T | None:
        return self._loaded(name) if name in self._types else None

    def actions_in(self, raw: Any) -> list[str]:
        """The step type names that are keys of the mapping `raw`, in registry order."""
        if not isinstance(raw, Mapping):
            return []
        # A step has a few keys and there are many step types: look each key up.
        found = [key for key in raw if key in self._types]
        if len(found) > 1:
            found.sort(key=self.names.index)
        return found
