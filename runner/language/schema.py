"""The JSON Schemas of runbooks, checks and runner.yaml, and validation against them.

The schemas in schemas/ are the published contract: editors use them for completion
and help, CI for validation. This module validates a marked YAML document against
them; schema_messages.py turns every jsonschema error into a `Problem` naming the file,
line, key and fix, such as `unknown key 'tresholds' (did you mean 'thresholds'?)`. Every
error is reported, not only the first.

check.schema.json and runner.schema.json reuse the runbook schema's `$defs` through
relative `$ref`s (`runbook.schema.json#/$defs/step`), so the step language is written
once. The schemas carry no `$id`: a relative `$ref` then resolves against the schema
file's own location, so editors, check-jsonschema and a copy served from a web site all
find the sibling file, offline where the schemas are local. Here a `referencing.Registry`
holding all three schemas, each under its file's URI (`schema_uri`), resolves them. The
validator works on a copy with the non-recursive refs inlined, which is what makes
validation fast (see `_inline`).

Most documents are valid, and for those the answer is all that is needed: jsonschema-rs
(compiled, about 60x faster) says so first, and the jsonschema validator, whose errors
the messages are built from, runs only when it does not. See `_certainly_valid` for why
its "valid" is trusted, and the test that holds it to that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.base.errors import Problem
from runner.language.schema_messages import Explainer

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

KINDS = ("runbook", "check", "runner")

# -- the schema files ----------------------------------------------------------------


def schemas_dir() -> Path:
    """The folder holding the schemas: inside the installed wheel, else the repository's."""
    packaged = Path(__file__).resolve().parent.parent / "_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


def schema_path(kind: str) -> Path:
    """The file of the schema for `kind` ("runbook", "check" or "runner")."""
    if kind not in KINDS:
        raise ValueError(f"unknown schema {kind!r}: choose one of {', '.join(KINDS)}")
    return schemas_dir() / f"{kind}.schema.json"


def schema_text(kind: str) -> str:
    """The schema for `kind` as pretty JSON text (what `runbook schema` prints)."""
    return schema_path(kind).read_text(encoding="utf-8")


def schema_uri(kind: str) -> str:
    """The URI the schema for `kind` is known by: its file's, which its relative `$ref`s
    resolve against (the schemas have no `$id`, so tools do the same)."""
    return schema_path(kind).as_uri()


@cache
def load_schema(kind: str) -> dict[str, Any]:
    """The parsed schema for `kind`; shared, do not modify it."""
    schema: dict[str, Any] = json.loads(schema_text(kind))
    return schema


@cache
def _validator(kind: str) -> Draft202012Validator:
    """A compiled validator per kind, built once: the schemas never change at run time."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    inlined = _inlined_schemas()
    registry = Registry().with_resources(
        (uri, Resource.from_contents(schema)) for uri, schema in inlined.items()
    )
    return Draft202012Validator(inlined[schema_uri(kind)], registry=registry)


@cache
def _inlined_schemas() -> dict[str, Any]:
    """Every schema by its URI (`schema_uri`), with its non-recursive refs inlined
    (`_inline`); shared by both validators, do not modify."""
    originals = {schema_uri(name): load_schema(name) for name in KINDS}
    return {uri: _inline(schema, uri, originals) for uri, schema in originals.items()}


# `$ref`s that stay references: the step language is recursive (a step holds steps).
_RECURSIVE_DEFS = frozenset({"step"})
# Keywords that may sit beside a `$ref` and be merged into the inlined copy harmlessly.
_ANNOTATIONS = frozenset({"title", "description", "examples"})


def _inline(node: Any, base: str, schemas: Mapping[str, Any]) -> Any:
    """A copy of `node` with every non-recursive `$ref` replaced by its target.

    Resolving a `$ref` costs jsonschema a registry lookup on every visit, about a third
    of the validation time of a runbook; the schemas are static, so resolve them once.
    The references left (to the recursive step) are made absolute so that they resolve
    wherever they were copied to.
    """
    if isinstance(node, list):
        return [_inline(item, base, schemas) for item in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return {key: _inline(value, base, schemas) for key, value in node.items()}
    from urllib.parse import urljoin

    uri, _, pointer = urljoin(base, ref).partition("#")
    siblings = {key: _inline(value, base, schemas) for key, value in node.items() if key != "$ref"}
    if pointer.rsplit("/", 1)[-1] in _RECURSIVE_DEFS or not siblings.keys() <= _ANNOTATIONS:
        return {**siblings, "$ref": f"{uri}#{pointer}"}
    target: Any = schemas[uri]
    for part in filter(None, pointer.split("/")):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return {**_inline(target, uri, schemas), **siblings}


@cache
def _fast_validator(kind: str) -> Any:
    """jsonschema-rs's validator for `kind`, on the same inlined schemas; None without it."""
    try:
        import jsonschema_rs
    except ImportError:  # an optional speed-up: jsonschema alone gives the same answers
        return None
    inlined = _inlined_schemas()
    registry = jsonschema_rs.Registry(list(inlined.items()))
    return jsonschema_rs.validator_for(inlined[schema_uri(kind)], registry=registry)


_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def _json_shaped(value: Any) -> bool:
    """Whether `value` holds only what JSON holds: str-keyed mappings, lists, strings,
    integers, finite floats, booleans and null (YAML can also make dates, sets, bytes,
    and `!!omap` lists of tuples, which jsonschema-rs would judge differently)."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return True
    if isinstance(value, dict):
        return all(type(key) is str and _json_shaped(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_json_shaped(item) for item in value)
    return kind is float and value - value == 0  # not NaN or infinite


def _certainly_valid(document: Any, kind: str) -> bool:
    """True only when jsonschema-rs finds `document` valid for `kind`.

    A "no" proves nothing (the regex dialects differ: Python's `$` also matches before
    a final newline, its `\\d` any Unicode digit), so jsonschema decides then and its
    answer stands. A "yes" is trusted for JSON-shaped documents: tests/test_schema.py
    checks both validators agree on thousands of mutations of the fixtures.
    """
    validator = _fast_validator(kind)
    if validator is None:
        return False
    # what yamlload loaded it knows the answer of: a second walk of a 10,000-step file
    # costs about a twentieth of validating it
    shaped = getattr(document, "json_shaped", None)
    try:
        if shaped is None:
            shaped = _json_shaped(document)
        return bool(shaped) and bool(validator.is_valid(document))
    except Exception:  # a value it cannot convert, nesting too deep: jsonschema decides
        return False


# -- validation ----------------------------------------------------------------------


def validate_document(document: Any, kind: str, filename: str) -> list[Problem]:
    """Every way `document` (from yamlload) breaks the schema of `kind`, in file order."""
    if _certainly_valid(document, kind):
        return []
    explainer = Explainer(document, kind, filename)
    problems: list[Problem] = []
    for error in _validator(kind).iter_errors(document):
        problems.extend(explainer.explain(error))
    unique = {(p.line, p.col, p.key, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: (p.line or 0, p.col or 0, p.key or "", p.message))
