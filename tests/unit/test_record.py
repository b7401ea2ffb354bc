"""Record: fields, defaults, immutability, equality — what the value types rely on."""

import pytest

from distill.record import FrozenError, Record, fresh


class Point(Record):
    x: int
    y: int = 0
    note: str = ""

    _uncompared = frozenset({"note"})


class Point3(Point):
    z: int = 0


class Bag(Record, frozen=False):
    name: str
    items: list = fresh(list)


def test_positional_keyword_and_default_arguments():
    assert (Point(1).x, Point(1).y) == (1, 0)
    assert Point(1, 2) == Point(x=1, y=2) == Point(y=2, x=1)
    assert Point3(1, 2, "n", 3).z == 3 and Point3._fields == ("x", "y", "note", "z")


def test_bad_arguments_are_type_errors():
    with pytest.raises(TypeError, match="missing argument 'x'"):
        Point()
    with pytest.raises(TypeError, match="unexpected or repeated argument 'w'"):
        Point(1, w=2)
    with pytest.raises(TypeError, match="repeated argument 'x'"):
        Point(1, x=2)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        Point(1, 2, "", 4)


def test_frozen_by_default_and_hashable():
    p = Point(1, 2)
    with pytest.raises(FrozenError):
        p.x = 5
    with pytest.raises(AttributeError):
        del p.y
    assert {p, Point(1, 2)} == {p}


def test_uncompared_fields_and_types_in_equality():
    assert Point(1, 2, "a") == Point(1, 2, "b") and hash(Point(1, 2, "a")) == hash(Point(1, 2, "b"))
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 2) != Point3(1, 2)  # another type is never equal, as with dataclasses


def test_mutable_records_get_fresh_defaults_and_no_hash():
    a, b = Bag("a"), Bag("b")
    a.items.append(1)
    assert b.items == [] and a.items == [1]
    a.name = "renamed"
    assert a == Bag("renamed", [1])
    with pytest.raises(TypeError):
        hash(a)


def test_replace_and_repr():
    p = Point3(1, 2, z=3)
    assert p.replace(y=9) == Point3(1, 9, z=3) and p.y == 2
    assert repr(p) == "Point3(x=1, y=2, note='', z=3)"


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="'b' without a default"):
        class Bad(Record):
            a: int = 0
            b: int
