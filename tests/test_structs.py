"""runner.base.structs: the value classes of the model, the configuration and results."""

from __future__ import annotations

import pickle
from typing import ClassVar

import pytest

from runner.base import structs
from runner.base.structs import Struct, asdict, field, replace


class Point(Struct, frozen=True):
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    kind: ClassVar[str] = "point"


class Labelled(Point, frozen=True):
    label: str = ""


class Bag(Struct):
    name: str
    items: list[int] = []
    extra: dict[str, int] = field(default_factory=dict)


def _made_many(cls: type, *args: object) -> None:
    """Make enough instances for the class to compile its own __init__."""
    for _ in range(structs.COMPILE_AFTER + 1):
        cls(*args)


@pytest.mark.parametrize("compiled", [False, True], ids=["generic", "compiled"])
def test_fields_by_position_and_name_with_defaults(compiled: bool) -> None:
    class Pair(Struct):
        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)

    if compiled:
        _made_many(Pair, 1)
    first, second = Pair(1), Pair(2, c=[3])
    assert (first.a, first.b, first.c, second.a, second.c) == (1, "b", [], 2, [3])
    assert Pair(1).c is not Pair(1).c  # a fresh list each time
    assert Pair(a=1, b="x") == Pair(1, "x")
    for bad in (
        lambda: Pair(),
        lambda: Pair(1, z=2),
        lambda: Pair(1, a=2),
        lambda: Pair(1, 2, 3, 4),
    ):
        with pytest.raises(TypeError):
            bad()


def test_a_base_class_s_fields_come_first_and_class_vars_are_not_fields() -> None:
    assert Labelled.__struct_fields__ == ("x", "y", "tags", "label")
    assert Labelled(1, 2, (), "a") == Labelled(x=1, y=2, label="a")
    assert Labelled(1).kind == "point"
    assert "kind" not in Point.__struct_fields__


def test_field_without_a_default_is_required() -> None:
    class Needs(Struct):
        a: int = field()

    with pytest.raises(TypeError, match="missing required field 'a'"):
        Needs()
    assert Needs(1).a == 1


def test_a_required_field_after_a_default_is_refused() -> None:
    with pytest.raises(TypeError, match="required field 'z' follows"):

        class Bad(Point):
            z: int


def test_frozen_refuses_assignment_and_hashes_by_value() -> None:
    point = Point(1, 2)
    with pytest.raises(AttributeError, match="immutable type: 'Point'"):
        point.x = 5  # type: ignore[misc]
    assert hash(point) == hash(Point(1, 2)) and {point, Point(1, 2)} == {point}


def test_a_mutable_struct_is_not_hashable_and_its_empty_defaults_are_not_shared() -> None:
    bag = Bag("a")
    bag.items.append(1)
    bag.name = "b"
    assert Bag("c").items == [] and bag.items == [1] and bag.name == "b"
    with pytest.raises(TypeError):
        hash(bag)
    with pytest.raises(AttributeError):
        bag.other = 1  # type: ignore[attr-defined]  # slots: no stray attributes


def test_equality_repr_replace_asdict_and_pickle() -> None:
    point = Labelled(1, tags=("t",), label="p")
    assert point != Point(1, tags=("t",))  # another class is never equal
    assert repr(point) == "Labelled(x=1, y=0, tags=('t',), label='p')"
    assert replace(point, y=5) == Labelled(1, 5, ("t",), "p") and point.y == 0
    assert asdict(point) == {"x": 1, "y": 0, "tags": ("t",), "label": "p"}
    assert pickle.loads(pickle.dumps(point)) == point
    assert pickle.loads(pickle.dumps(Bag("a", [1]))) == Bag("a", [1])
    with pytest.raises(TypeError, match="no field 'z'"):
        replace(point, z=1)


def test_a_class_made_often_gets_a_compiled_init() -> None:
    class Often(Struct):
        a: int

    generic = Often.__init__
    _made_many(Often, 1)
    assert Often.__init__ is not generic and Often(3).a == 3
