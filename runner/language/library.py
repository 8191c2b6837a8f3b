"""Finds runbooks and checks by name in the configured folders, and loads them once.

Loading a file is the whole front half of the pipeline, the same for `runbook validate`
and `runbook run`: parse with line marks (yamlload.py), check the JSON Schema
(schema.py), build the model in one pass over the document (build.py), then run the
checks of meaning on the model (meaning.py). Nothing here connects to a database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.base.errors import InvalidInput, NotFound, Problem
from runner.base.gc_pause import paused_gc
from runner.base.paths import display_path
from runner.base.structs import Struct
from runner.base.suggest import closest
from runner.language.cache import Entry, ValidationCache
from runner.language.config import Config
from runner.language.declared import SUFFIXES, Declared, declared_name, yaml_files
from runner.language.model import Runbook
from runner.language.steptypes import StepDeclaration, StepTypes


class Library:
    """The runbooks and checks a configuration can reach, by name."""

    def __init__(
        self,
        config: Config,
        step_types: StepTypes[StepDeclaration],
        *,
        tags: Callable[[Config], frozenset[str] | None] | None = None,
        tag_files: Callable[[Config], tuple[Path, ...]] | None = None,
        check_sql: bool = False,
        cache: bool = False,
    ) -> None:
        """`step_types` is the registry of step types runbooks may use (runner.steps.STEP_TYPES:
        the language does not import the step modules, it is handed them). `tags` lists the
        notification tags runner.yaml routes (notifiers.services.known_tags); without it,
        validation does not check the tags runbooks name. `check_sql` adds the SQL syntax
        check of each dialect (sqlglot) to validation: `runbook validate` asks for it, a run
        leaves the SQL to its server.

        A Library is a snapshot: it reads each file once and keeps what it built for as long
        as it lives. Make a new one to see files edited since (the run service makes one per
        run).

        `cache` keeps what validation found under var/cache (cache.py): a runbook whose
        bytes, SQL files, called files and runner.yaml are unchanged since it validated
        clean is built but not validated again. `tag_files` lists the files besides
        runner.yaml that define notification tags (Apprise files), which a cached result
        depends on too."""
        self.config = config
        self._tag_files = tag_files
        self.cache = (
            ValidationCache(config.var_dir / "cache", config.path)
            if cache and not check_sql
            else None
        )
        self.step_types = step_types
        self.check_sql = check_sql
        self._tags = tags
        self._index: dict[str, dict[str, Path]] | None = None
        # (kind, name) -> every file declaring it, with the line, when more than one does
        self._duplicates: dict[tuple[str, str], list[tuple[Path, int]]] = {}
        self._read_files: dict[Path, _Read] = {}
        self._models: dict[Path, Runbook] = {}
        self._folders: dict[Path, Path] = {}  # a folder -> the folder resolved

    def index(self) -> dict[str, dict[str, Path]]:
        if self._index is None:
            index: dict[str, dict[str, Path]] = {"runbook": {}, "check": {}}
            declared: dict[tuple[str, str], list[tuple[Path, int]]] = {}
            for kind, folders in (
                ("runbook", self.config.runbook_dirs),
                ("check", self.config.check_dirs),
            ):
                for folder in folders:
                    for path in yaml_files(folder):
                        found = self._declared(path)
                        if found and found.kind == kind:
                            index[kind].setdefault(found.name, path)
                            places = declared.setdefault((kind, found.name), [])
                            if all(p.resolve() != path.resolve() for p, _ in places):
                                places.append((path, found.line))
            self._duplicates = {key: places for key, places in declared.items() if len(places) > 1}
            self._index = index
        return self._index

    def _declared(self, path: Path) -> Declared | None:
        """declared_name(path), kept in var/cache while the file's stat is unchanged."""
        if self.cache is None:
            return declared_name(path)
        noted = self.cache.noted(str(path))
        if isinstance(noted, list) and len(noted) == 3 and noted[0] in ("runbook", "check", ""):
            kind, name, line = noted
            if not kind:
                return None  # it declares no name
            if isinstance(name, str) and name and type(line) is int:
                return Declared(kind, name, line)
        found = declared_name(path)
        self.cache.note(str(path), [found.kind, found.name, found.line] if found else ["", "", 0])
        return found

    def names(self, kind: str = "runbook") -> list[str]:
        return sorted(self.index()[kind])

    def path_of(self, kind: str, name: str) -> Path | None:
        return self.index()[kind].get(name)

    def find(self, kind: str, name: str) -> Path:
        path = self.path_of(kind, name)
        if path is None:
            raise NotFound(self.unknown_name_message(kind, name))
        duplicate = self.duplicate_problem(kind, name, path)
        if duplicate is not None:
            raise InvalidInput([duplicate])
        return path

    def duplicate_problem(self, kind: str, name: str, path: Path) -> Problem | None:
        """The error when `path` declares a name another file in the folders declares too
        (which file `run NAME` meant cannot be known); None when the name is its own."""
        self.index()
        places = self._duplicates.get((kind, name), [])
        if not places:
            return None
        resolved = path.resolve()
        mine = [(p, line) for p, line in places if p.resolve() == resolved]
        if not mine:
            return None
        line = mine[0][1]
        listed = " and ".join(f"{display_path(p)}:{at}" for p, at in places)
        return Problem(
            f"{kind} {name!r} is declared by {len(places)} files: {listed}",
            display_path(path),
            line,
            None,
            kind,
            hint=f"{kind} names must be unique across the configured folders: rename all but one",
        )

    def _read(self, path: Path) -> _Read:
        """Parse, schema and build once per file, for the files a run or a call cycle needs."""
        path = path.resolve()
        found = self._read_files.get(path)
        if found is None:
            found = self._read_files[path] = _read(path, self.config, self.step_types)
        return found

    def problems(self, path: Path) -> list[Problem]:
        """Every problem in one runbook or check file: syntax, schema, building, meaning.

        Validating a whole repository keeps nothing: each file is read, built and checked
        on its own (unless a run or a call cycle has read it already).

        The cyclic collector waits for the whole file, not phase by phase: it runs again
        once the file's document and model are freed, so it never walks them (each walk
        of a 10,000-step file's objects cost about a tenth of its validation)."""
        with paused_gc():
            return self._problems(path)

    def _problems(self, path: Path) -> list[Problem]:
        resolved = path.resolve()
        read = self._read_files.get(resolved) or _read(resolved, self.config, self.step_types)
        return self._checked(read, path)

    def _checked(self, read: _Read, path: Path) -> list[Problem]:
        if read.runbook is None:
            return list(read.problems)
        from runner.language.meaning import meaning
        from runner.language.worstcase import problems as worst_case_problems

        found = [*read.problems, *meaning(read.runbook, path, self, self.step_types)]
        runbook = read.runbook
        if runbook.name:
            kind = "check" if runbook.is_check else "runbook"
            duplicate = self.duplicate_problem(kind, runbook.name, path)
            if duplicate is not None:
                found.append(duplicate)
        if not any(problem.severity == "error" for problem in found):
            # only of a runbook that is right: warnings, when its worst case is too long
            found += worst_case_problems(read.runbook, str(path))
        return found

    def load(self, path: Path) -> Runbook:
        """The model of a runbook or check file, refusing it with every problem found."""
        path = path.resolve()
        model = self._models.get(path)
        if model is None:
            model = self._cached(path)
        if model is None:
            read = self._read(path)
            problems = self._checked(read, path)
            self._remember(path, read, problems)
            if any(p.severity == "error" for p in problems):
                raise InvalidInput(problems)
            assert read.runbook is not None  # a file without a model has problems
            model = read.runbook
        self._models[path] = model
        return model

    # -- the validation cache (cache.py) ---------------------------------------------------

    def _key(self, path: Path) -> str | None:
        return self.cache.file_key(path) if self.cache is not None else None

    def save_cache(self) -> None:
        """Keep the file stamps hashed by this library for the next process (cache.py)."""
        if self.cache is not None:
            self.cache.save()

    def _cached(self, path: Path) -> Runbook | None:
        """The model of a file that validated clean with these very bytes: built, not
        validated again. None when the cache is off, misses or the file is not clean."""
        key = self._key(path)
        if self.cache is None or key is None:
            return None
        entry = self.cache.get(key)
        if entry is None or entry.errors:
            return None
        from runner.language import built

        # Built with these very bytes, against these very files (the entry's dependencies
        # include the SQL files a step looked for and did not find): kept as it was built.
        model = built.load(self.cache.built_file(key), Runbook)
        if model is None:
            read = _read(path, self.config, self.step_types, schema=False)
            if read.problems or read.runbook is None:
                return None
            if set(self.cache.depends_on(self._depends(read.runbook))) != set(entry.depends):
                return None  # it reads other files now (a SQL file for another dialect, say)
            model = read.runbook
            built.dump(self.cache.built_file(key), model)
        if model.name:
            kind = "check" if model.is_check else "runbook"
            if self.duplicate_problem(kind, model.name, path) is not None:
                return None  # another file took its name since: said by validating
        return model

    def _remember(self, path: Path, read: _Read, problems: list[Problem]) -> None:
        key = self._key(path)
        if self.cache is None or key is None:
            return
        errors = sum(1 for problem in problems if problem.severity == "error")
        model = read.runbook
        depends = self.cache.depends_on(self._depends(model) if model is not None else ())
        self.cache.put(
            key, Entry(errors, _info(model, self.config) if model is not None else {}, depends)
        )
        if model is not None and not errors:
            from runner.language import built

            built.dump(self.cache.built_file(key), model)

    def _depends(self, model: Runbook) -> list[Path]:
        """The files besides itself and runner.yaml that a file's validation read: its SQL
        files, the files of what it calls (runbooks, transitively, for call cycles) and
        the Apprise files that define notification tags."""
        found: list[Path] = list(self._tag_files(self.config)) if self._tag_files else []
        seen: set[str] = set()
        todo = [model]
        while todo:
            current = todo.pop()
            for step in current.all_steps():
                path = getattr(step.config, "path", None)
                if isinstance(path, Path):
                    found.append(path)
                # files it looked for first and did not find: one appearing is a change
                found.extend(getattr(step.config, "absent", ()))
                name = getattr(step.config, "name", None)
                if step.action == "check" and isinstance(name, str):
                    callee = self.path_of("check", name)
                    if callee is not None:
                        found.append(callee)
            for name in current.calls():
                callee = self.path_of("runbook", name)
                if callee is None or name in seen:
                    continue
                seen.add(name)
                found.append(callee)
                called = self._read(callee).runbook
                if called is not None:
                    todo.append(called)
        return found

    def summary(self, path: Path) -> tuple[dict[str, Any], int]:
        """What `runbook list` shows of a file (name, kind, title, tags, schedule) and its
        number of errors: from the cache when the file is unchanged, else validated."""
        key = self._key(self._resolved(path))
        if self.cache is not None and key is not None:
            entry = self.cache.listed(key)  # one index for every file listed
            if entry is not None:
                return entry.info, entry.errors
        try:
            return _info(self.load(path), self.config), 0
        except InvalidInput as error:
            return {}, len(error.errors)

    def _resolved(self, path: Path) -> Path:
        """path.resolve(), from its folder resolved once when the file is no symlink: one
        lstat rather than one per part of the path, for each runbook `list` shows."""
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        resolved = folder / path.name
        return path.resolve() if resolved.is_symlink() else resolved

    def calls_of(self, name: str) -> list[str]:
        """The runbooks that runbook `name` calls (steps, nested steps, on_failure)."""
        path = self.path_of("runbook", name)
        if path is None:
            return []
        model = self._read(path).runbook
        return model.calls() if model is not None else []

    def call_cycle(self, me: Any, start: str) -> list[str] | None:
        """The chain from runbook `me` back to itself through a call of `start`, if any."""
        if not isinstance(me, str):
            return None
        seen: set[str] = set()
        chain = [me]

        def visit(name: str) -> bool:
            chain.append(name)
            if name == me:
                return True
            if name not in seen:
                seen.add(name)
                if any(visit(callee) for callee in self.calls_of(name)):
                    return True
            chain.pop()
            return False

        return chain if visit(start) else None

    def known_tags(self) -> frozenset[str] | None:
        """The notification tags runner.yaml routes; None: not known or nothing configured."""
        return self._tags(self.config) if self._tags is not None else None

    def unknown_name_message(self, kind: str, name: str) -> str:
        close = closest(name, self.names(kind))
        folders = ", ".join(
            display_path(p)
            for p in (self.config.runbook_dirs if kind == "runbook" else self.config.check_dirs)
        )
        message = f"no {kind} named {name!r} in {folders or 'the configured folders'}"
        if close:
            return f"{message}; did you mean {close!r}?"
        known = self.names(kind)
        if known:
            return f"{message}; known: {', '.join(known[:20])}"
        return message

    def runbook(self, name_or_path: str) -> Runbook:
        candidate = Path(name_or_path)
        if candidate.suffix in SUFFIXES and candidate.is_file():
            return self.load(candidate)
        return self.load(self.find("runbook", name_or_path))

    def check(self, name: str) -> Runbook:
        return self.load(self.find("check", name))


class _Read(Struct, frozen=True):
    """A file parsed, checked against the schema and built."""

    problems: tuple[Problem, ...]  # of YAML, schema and building
    runbook: Runbook | None  # None when the file is not a YAML mapping


def listed_title(model: Runbook, config: Config) -> str:
    """A runbook's `title:` as `runbook list`, `status` and the dashboard show it: a
    template rendered as a run without `--param` renders it in its header, from the
    defaults of its inputs and the vars of runner.yaml and the runbook. A title that
    needs more (an input without a default or declared secret, `env`, `now`, a step's
    result) is shown as written, as a title that cannot be rendered always is."""
    from runner.language.templates import is_template, render_title

    if not is_template(model.title):
        return model.title
    defaults = {
        spec.name: spec.default for spec in model.inputs if spec.has_default and not spec.secret
    }
    scope = {"inputs": defaults, "vars": {**config.vars, **model.vars}}
    return render_title(model.title, scope)


def _info(model: Runbook, config: Config) -> dict[str, Any]:
    from runner.language.scheduling import effective_grace

    grace = effective_grace(model) if model.schedule else None
    return {
        "name": model.name,
        "kind": model.kind,
        "title": listed_title(model, config),
        "schedule": model.schedule,
        "tags": list(model.tags),
        # what `runbook status` needs to tell a late runbook (schedule/lateness.py)
        "timing": {"timezone": model.timezone, "grace": grace} if grace is not None else None,
    }


def _read(
    path: Path, config: Config, step_types: StepTypes[StepDeclaration], *, schema: bool = True
) -> _Read:
    from runner.language.build import build
    from runner.language.yamlload import load_file

    display = display_path(path)
    try:
        document = load_file(path, display)
    except InvalidInput as error:
        return _Read(tuple(error.problems), None)
    if not isinstance(document, dict):
        problem = Problem("a runbook must be a mapping with `runbook:` and `steps:`", display, 1, 1)
        return _Read((problem,), None)
    kind = "check" if "check" in document and "runbook" not in document else "runbook"
    found: list[Problem] = []
    if schema:  # not for a file the cache knows valid: JSON Schema is the costly part
        from runner.language.schema import validate_document

        found = list(validate_document(document, kind, display))
    built = build(document, display, config, step_types)
    return _Read((*found, *built.problems), built.runbook)
