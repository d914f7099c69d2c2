"""Conditions and sort-key ranges for the Table port, as plain data.

Services say *what* must hold (`Attr("status").eq("queued") & Attr("version").eq(3)`); each Table adapter
decides *how*: DynamoDB renders a ConditionExpression, SQLite evaluates `holds(item)` inside its
transaction. Only top-level attributes are addressed: that is all the repositories need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

CompareOp = Literal["=", "<>", "<", "<=", ">", ">="]

_MISSING = object()


class Condition:
    """Base of every condition node; combine with `&` and `|`, negate with `~`."""

    def __and__(self, other: Condition) -> Condition:
        return And((self, other))

    def __or__(self, other: Condition) -> Condition:
        return Or((self, other))

    def __invert__(self) -> Condition:
        return Not(self)

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        """Evaluate against an item (None = no item). Used by adapters without a native engine."""
        raise NotImplementedError


@dataclass(frozen=True)
class Exists(Condition):
    attr: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return item is not None and self.attr in item


@dataclass(frozen=True)
class NotExists(Condition):
    attr: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return item is None or self.attr not in item


@dataclass(frozen=True)
class Compare(Condition):
    attr: str
    op: CompareOp
    value: Any

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        if item is None or self.attr not in item:
            # DynamoDB: a missing attribute equals nothing, so only `<>` holds.
            return self.op == "<>"
        return _compare(item[self.attr], self.op, self.value)


@dataclass(frozen=True)
class In(Condition):
    attr: str
    values: tuple[Any, ...]

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        if item is None or self.attr not in item:
            return False
        return any(_compare(item[self.attr], "=", v) for v in self.values)


@dataclass(frozen=True)
class BeginsWith(Condition):
    attr: str
    prefix: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        if item is None:
            return False
        value = item.get(self.attr, _MISSING)
        return isinstance(value, str) and value.startswith(self.prefix)


@dataclass(frozen=True)
class And(Condition):
    parts: tuple[Condition, ...]

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return all(p.holds(item) for p in self.parts)


@dataclass(frozen=True)
class Or(Condition):
    parts: tuple[Condition, ...]

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return any(p.holds(item) for p in self.parts)


@dataclass(frozen=True)
class Not(Condition):
    part: Condition

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return not self.part.holds(item)


@dataclass(frozen=True)
class Attr:
    """Builder: `Attr("status").eq("queued")`, `Attr("lease_until").lt(now)`, `Attr("owner").exists()`."""

    name: str

    def eq(self, value: Any) -> Condition:
        return Compare(self.name, "=", value)

    def ne(self, value: Any) -> Condition:
        return Compare(self.name, "<>", value)

    def lt(self, value: Any) -> Condition:
        return Compare(self.name, "<", value)

    def le(self, value: Any) -> Condition:
        return Compare(self.name, "<=", value)

    def gt(self, value: Any) -> Condition:
        return Compare(self.name, ">", value)

    def ge(self, value: Any) -> Condition:
        return Compare(self.name, ">=", value)

    def is_in(self, values: Sequence[Any]) -> Condition:
        return In(self.name, tuple(values))

    def begins_with(self, prefix: str) -> Condition:
        return BeginsWith(self.name, prefix)

    def exists(self) -> Condition:
        return Exists(self.name)

    def not_exists(self) -> Condition:
        return NotExists(self.name)


def item_exists() -> Condition:
    """The item is there (and not expired)."""
    return Exists("pk")


def item_absent() -> Condition:
    """No item with this key (an expired one counts as absent)."""
    return NotExists("pk")


def _compare(left: Any, op: CompareOp, right: Any) -> bool:
    # DynamoDB never orders values of different types: such a comparison is simply false.
    if _kind(left) != _kind(right):
        return op == "<>"
    if op == "=":
        return bool(left == right)
    if op == "<>":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


# ---- sort-key conditions for queries -------------------------------------------------------------

SortOp = Literal["=", "<", "<=", ">", ">=", "between", "begins_with"]


@dataclass(frozen=True)
class SortKey:
    """A sort-key condition for `Table.query`: `SortKey.prefix("MSG#")`, `SortKey.between(a, b)`."""

    op: SortOp
    value: str
    upper: str | None = None

    @classmethod
    def prefix(cls, value: str) -> SortKey:
        return cls("begins_with", value)

    @classmethod
    def between(cls, low: str, high: str) -> SortKey:
        """Inclusive on both ends, like DynamoDB's BETWEEN."""
        return cls("between", low, high)

    @classmethod
    def eq(cls, value: str) -> SortKey:
        return cls("=", value)

    @classmethod
    def lt(cls, value: str) -> SortKey:
        return cls("<", value)

    @classmethod
    def le(cls, value: str) -> SortKey:
        return cls("<=", value)

    @classmethod
    def gt(cls, value: str) -> SortKey:
        return cls(">", value)

    @classmethod
    def ge(cls, value: str) -> SortKey:
        return cls(">=", value)

    def matches(self, sk: str) -> bool:
        # Python compares str by code point, which orders like DynamoDB's UTF-8 byte order.
        if self.op == "begins_with":
            return sk.startswith(self.value)
        if self.op == "between":
            assert self.upper is not None
            return self.value <= sk <= self.upper
        return _compare(sk, self.op, self.value)
