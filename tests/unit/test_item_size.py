"""The item size rule (items.approximate_size / check_item) after its fast paths: the same sizes and the
same errors as the rule written out plainly (tests/support/item_size_reference.py).

Random nested items mix what production writes (plain dicts, lists, strings, numbers, bytes, bools,
None) with what only a careless caller would: non-ASCII and lone-surrogate strings, names that are not
strings or that print differently (a str-mixin Enum), subclasses, other Mappings, NaN and infinities,
unsupported objects. Both implementations must agree on the size, or raise the same error (type and
message) for the same first bad value.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.item_size_reference import reference_size
from wagate import items
from wagate.adapters.local import sqlite_table
from wagate.domain.errors import InvalidInput, ItemTooLarge
from wagate.ports import INDEXES, MAX_ITEM_BYTES, TTL_ATTRIBUTE

# ---- the reference check_item: the rule as it was written before the fast paths ------------------------


def reference_check_item(item: Mapping[str, Any]) -> None:
    items.check_key(item.get("pk"), item.get("sk"))
    for index in INDEXES:
        for attr in (f"{index}pk", f"{index}sk"):
            if attr in item and (not isinstance(item[attr], str) or not item[attr]):
                raise InvalidInput(f"{attr} must be a non-empty string", details={attr: item[attr]})
    ttl = item.get(TTL_ATTRIBUTE)
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
        raise InvalidInput(f"{TTL_ATTRIBUTE} must be epoch seconds")
    size = reference_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(f"item is {size} bytes; the limit is {MAX_ITEM_BYTES}", details={"bytes": size})


def outcome(rule: Callable[[Any], Any], value: Any) -> tuple[Any, ...]:
    try:
        return ("ok", rule(value))
    except Exception as exc:  # every error counts, not only ours: a UnicodeEncodeError must stay one
        return (type(exc), str(exc), getattr(exc, "details", None))


# ---- odd values a caller could hand over ------------------------------------------------------------------


class Colour(str, Enum):  # noqa: UP042 (on purpose: str() gives "Colour.RED", not its data "red")
    RED = "red"


class Level(IntEnum):
    HIGH = 3


class Shout(str):
    def __str__(self) -> str:
        return self.upper() + "!"


class Ratio(float):
    pass


class Tagged(dict[Any, Any]):
    pass


class Crumbs(list[Any]):
    pass


odd_chars = st.sampled_from('aZ0 $"\\é€\u0301😀\ud800\udfff\x00')
texts = st.one_of(
    st.text(max_size=12),
    st.text(odd_chars, max_size=8),
    st.text(st.characters(exclude_categories=()), max_size=6),  # surrogates included
)
names = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10),
    texts,
    st.integers(-5, 5),
    st.sampled_from([Colour.RED, Level.HIGH, Shout("loud"), True, None, 1.5, ("t", 1)]),
)
good_scalars = st.one_of(
    texts,
    st.binary(max_size=20),
    st.booleans(),
    st.none(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([Colour.RED, Level.HIGH, Shout("x"), Ratio(2.5), -0.0]),
)
bad_scalars = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        Ratio("nan"),
        object(),
        bytearray(b"x"),
        {1, 2},
        frozenset(),
        Decimal("1.5"),
        1j,
        memoryview(b"x"),
    ]
)


def nest(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=6),
            st.lists(children, max_size=4).map(tuple),
            st.lists(children, max_size=3).map(Crumbs),
            st.dictionaries(names, children, max_size=6),
            st.dictionaries(names, children, max_size=3).map(Tagged),
            st.dictionaries(names, children, max_size=3).map(OrderedDict),
            st.dictionaries(names, children, max_size=3).map(MappingProxyType),
        ),
        max_leaves=30,
    )


good_values = nest(good_scalars)
any_values = nest(st.one_of(good_scalars, good_scalars, bad_scalars))


@settings(max_examples=600)
@given(value=good_values)
def test_sizes_match_the_reference(value: Any) -> None:
    assert outcome(items.approximate_size, value) == outcome(reference_size, value)


@settings(max_examples=600)
@given(value=any_values)
def test_sizes_and_errors_match_the_reference(value: Any) -> None:
    assert outcome(items.approximate_size, value) == outcome(reference_size, value)


@settings(max_examples=300)
@given(
    values=st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=4), st.none()), max_size=150),
    prefix=st.sampled_from(["scope.S#ses_", "sent.", "é."]),
)
def test_rollup_like_rows_match_the_reference(values: list[Any], prefix: str) -> None:
    """Insights rollup rows: a key, a TTL and many numeric counters (floats may be NaN or infinite)."""
    row: dict[str, Any] = {"pk": "T#t#INSIGHTS", "sk": "2026-12-07#2", "expires_at": 1828164293}
    row.update({f"{prefix}{n:03d}": value for n, value in enumerate(values)})
    assert outcome(items.approximate_size, row) == outcome(reference_size, row)
    assert outcome(items.check_item, row) == outcome(reference_check_item, row)


index_names = [f"{index}{part}" for index in INDEXES for part in ("pk", "sk")]
item_attrs = st.dictionaries(
    st.one_of(st.sampled_from([*index_names, TTL_ATTRIBUTE, "body"]), names), any_values, max_size=6
)


@settings(max_examples=600)
@given(
    pk=st.one_of(st.text(max_size=3), st.integers(), st.none()),
    sk=st.one_of(st.text(max_size=3), st.just(Colour.RED)),
    attrs=item_attrs,
    body=st.one_of(st.none(), st.integers(MAX_ITEM_BYTES - 80, MAX_ITEM_BYTES + 80)),
)
def test_check_item_matches_the_reference(pk: Any, sk: Any, attrs: dict[Any, Any], body: int | None) -> None:
    item: dict[Any, Any] = {"pk": pk, "sk": sk, **attrs}
    if body is not None and outcome(reference_size, {**item, "filler": ""})[0] == "ok":
        # around the 400 KB limit: off by one byte would show
        item["filler"] = "x" * (body - reference_size({**item, "filler": ""}))
    assert outcome(items.check_item, item) == outcome(reference_check_item, item)


@pytest.mark.parametrize("extra", [0, 1])
def test_the_limit_is_exact_for_plain_and_odd_items(extra: int) -> None:
    for item in (
        {"pk": "a", "sk": "b", "data": ""},
        {"pk": "a", "sk": "b", "é": [b"x", {"n": 1}], Colour.RED: 1, "data": ""},
    ):
        left = MAX_ITEM_BYTES + extra - reference_size(item)
        item["data"] = "é" * (left // 2) + "x" * (left % 2)  # two bytes per "é"
        assert reference_size(item) == items.approximate_size(item) == MAX_ITEM_BYTES + extra
        if extra:
            with pytest.raises(ItemTooLarge):
                items.check_item(item)
        else:
            items.check_item(item)


def test_a_bad_value_deep_inside_a_valid_item_is_still_found() -> None:
    """No early exit: the last value of a big item, nested, is checked like the first."""
    row: dict[str, Any] = {"pk": "a", "sk": "b", **{f"n{i}": i for i in range(200)}}
    for bad, message in (
        (float("nan"), "numbers must be finite"),
        (object(), "unsupported value type object"),
    ):
        row["deep"] = {"x": [1, "two", {"y": [bad]}]}
        with pytest.raises(InvalidInput, match=message):
            items.check_item(row)


def test_an_item_that_contains_itself_fails_instead_of_looping() -> None:
    looped: dict[str, Any] = {"pk": "a", "sk": "b"}
    looped["self"] = looped
    with pytest.raises(RecursionError):
        items.approximate_size(looped)


# ---- the SQLite adapter's update: sizes only what changed, refuses exactly what check_item refused ---


def reference_updated_row(new: dict[Any, Any]) -> tuple[Any, ...]:
    reference_check_item(new)
    return sqlite_table._row(new)


plain_names = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=6) | texts
plain_values = nest(
    st.one_of(
        st.text(odd_chars, max_size=6),
        st.binary(max_size=8),
        st.booleans(),
        st.none(),
        st.integers(-9, 10**20),
    )
)
stored_docs = st.sampled_from(  # written by something else than this adapter: JSON it would never write
    ['{"pk":"a","sk":"b","x":NaN}', '{"pk":"a","sk":"b","x":"\\ud800"}', '{"pk":"a","sk":"b","\\udfff":1}']
)


@settings(max_examples=500)
@given(
    attrs=st.dictionaries(plain_names, plain_values, max_size=6),
    zeros=st.one_of(st.just(0), st.integers(18_600, 18_640)),  # one-digit numbers: 21 bytes for 2 characters
    filler=st.one_of(st.none(), st.integers(-60, 60)),
    odd_doc=st.one_of(st.none(), stored_docs),
    set_=st.dictionaries(
        st.one_of(st.sampled_from([*index_names, TTL_ATTRIBUTE]), names), any_values | bad_scalars, max_size=3
    ),
    add=st.dictionaries(plain_names, st.one_of(st.integers(), st.floats()), max_size=2),
    drop=st.integers(0, 3),
)
def test_sqlite_update_refuses_what_check_item_refused(
    attrs: dict[str, Any],
    zeros: int,
    filler: int | None,
    odd_doc: str | None,
    set_: dict[Any, Any],
    add: dict[str, Any],
    drop: int,
) -> None:
    stored: dict[str, Any] = {**attrs, "pk": "a", "sk": "b", "zeros": [0] * zeros}
    stored_size = outcome(reference_size, {**stored, "filler": ""})
    if filler is not None and stored_size[0] == "ok":  # this many bytes under (over) the limit
        stored["filler"] = "x" * max(0, MAX_ITEM_BYTES - filler - stored_size[1])
    if odd_doc is None and outcome(lambda _: reference_updated_row(stored), None)[0] != "ok":
        return  # the adapter never stores it
    old = sqlite_table._load(odd_doc or sqlite_table._dump(stored))
    remove = [name for name in list(old)[2 : 2 + drop] if name not in set_ and name not in add]
    try:
        items.check_update(set_, remove, add)
        new = items.new_item_from_update("a", "b", old, set_, remove, add)
    except InvalidInput:
        return  # refused before the item is built, the same way by both
    changed = [*set_, *add]
    assert outcome(lambda _: sqlite_table._updated_row(new, old, changed), None) == outcome(
        lambda _: reference_updated_row(new), None
    )


@pytest.mark.parametrize("under", [-1, 0, 1])
def test_sqlite_update_near_the_limit_with_many_small_numbers(tmp_path: Any, under: int) -> None:
    """Counters written as one digit weigh 21 bytes for 2 characters of JSON: the bound must see it."""
    table = sqlite_table.SqliteTable(tmp_path / "t.db")
    try:
        stored: dict[str, Any] = {"pk": "a", "sk": "b", "n": [0] * 18_000}
        table.put(stored)
        grown = {**stored, "pad": ""}
        grown["pad"] = "x" * (MAX_ITEM_BYTES - under - reference_size(grown))
        if under < 0:
            with pytest.raises(ItemTooLarge, match=f"item is {MAX_ITEM_BYTES + 1} bytes"):
                table.update("a", "b", set={"pad": grown["pad"]})
            assert table.get("a", "b") == stored
        else:
            assert table.update("a", "b", set={"pad": grown["pad"]}) == grown
            assert table.get("a", "b") == grown
    finally:
        table.close()


@pytest.mark.parametrize(
    "set_",
    [
        {"blob": bytearray(b"x")},  # JSON would write it, check_item refuses it
        {"deep": {"list": [1, (bytearray(),)]}},
        {"n": float("nan")},
        {"o": object(), "n": float("inf")},
        {"s": "\ud800"},
        {"\udfff": 1},
        {Colour.RED: "x" * 300, ("t",): 1},
        {"gsi1pk": 5},
        {TTL_ATTRIBUTE: "soon"},
        {"fine": ["é", b"\x00", None, True, 1.5]},
    ],
)
def test_sqlite_update_refuses_odd_values_like_check_item(set_: dict[Any, Any]) -> None:
    old = sqlite_table._load(sqlite_table._dump({"pk": "a", "sk": "b", "n0": 1, "text": "hola"}))
    new = items.new_item_from_update("a", "b", old, set_, (), {})
    assert outcome(lambda _: sqlite_table._updated_row(new, old, [*set_]), None) == outcome(
        lambda _: reference_updated_row(new), None
    )
