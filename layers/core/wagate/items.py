"""Rules every Table adapter applies to items the same way: key checks, index keys, TTL, size, cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from wagate.domain.errors import InvalidInput, ItemTooLarge
from wagate.ports import INDEXES, MAX_ITEM_BYTES, TTL_ATTRIBUTE, Item, TransactOp

KEY_ATTRIBUTES = ("pk", "sk")
INDEX_KEY_ATTRIBUTES = tuple(f"{index}{part}" for index in INDEXES for part in ("pk", "sk"))


def check_key(pk: Any, sk: Any) -> None:
    if not isinstance(pk, str) or not pk or not isinstance(sk, str) or not sk:
        raise InvalidInput("pk and sk must be non-empty strings", details={"pk": pk, "sk": sk})


def check_item(item: Mapping[str, Any]) -> None:
    """Raises InvalidInput for bad keys/index keys/values and ItemTooLarge past DynamoDB's 400 KB."""
    check_item_keys(item)
    size = approximate_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(f"item is {size} bytes; the limit is {MAX_ITEM_BYTES}", details={"bytes": size})


def check_item_keys(item: Mapping[str, Any]) -> None:
    """check_item's first part, before any value is sized: the key, index keys and TTL."""
    check_key(item.get("pk"), item.get("sk"))
    for attr in INDEX_KEY_ATTRIBUTES:
        if attr in item and (not isinstance(item[attr], str) or not item[attr]):
            raise InvalidInput(f"{attr} must be a non-empty string", details={attr: item[attr]})
    ttl = item.get(TTL_ATTRIBUTE)
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
        raise InvalidInput(f"{TTL_ATTRIBUTE} must be epoch seconds")


def approximate_size(value: Any) -> int:
    """DynamoDB's item size rule (names + values, UTF-8), close enough to enforce the same limit.

    Every write pays this, so plain dicts and lists of plain values are sized in one loop each, without a
    call per attribute; anything else takes `_size`, the rule spelled out. Both give the same size and
    raise the same error at the same value (the first bad one in iteration order)."""
    kind = type(value)
    if kind is dict:
        return _dict_size(value)
    if kind is list or kind is tuple:
        return _list_size(value)
    if kind is str:
        return len(value) if value.isascii() else len(value.encode())
    if kind is float:  # the DynamoDB adapter checks each float it converts
        if value - value != 0.0:
            raise InvalidInput("numbers must be finite")
        return 21
    return _size(value)


def _dict_size(value: dict[Any, Any]) -> int:
    try:
        names = "".join(value)
    except TypeError:  # a name that is not a string: str(name) decides its size
        return _size(value)
    if not names.isascii():  # multi-byte names, or lone surrogates that must fail where they did
        return _size(value)
    size = 3 + len(names)
    for name, item in value.items():
        if type(name) is not str:  # a str subclass may print differently (str() of an Enum member)
            return _size(value)
        kind = type(item)
        if kind is int:
            size += 21
        elif kind is str:
            size += len(item) if item.isascii() else len(item.encode())
        elif kind is float:
            if item - item != 0.0:  # inf - inf and nan - nan are nan
                raise InvalidInput("numbers must be finite")
            size += 21
        elif item is None or kind is bool:
            size += 1
        elif kind is dict:
            size += _dict_size(item)
        elif kind is list:
            size += _list_size(item)
        elif kind is bytes:
            size += len(item)
        else:
            size += approximate_size(item)
    return size


def _list_size(value: list[Any] | tuple[Any, ...]) -> int:
    size = 3 + len(value)
    for item in value:
        kind = type(item)
        if kind is str:
            size += len(item) if item.isascii() else len(item.encode())
        elif kind is int:
            size += 21
        elif kind is float:
            if item - item != 0.0:
                raise InvalidInput("numbers must be finite")
            size += 21
        elif item is None or kind is bool:
            size += 1
        elif kind is dict:
            size += _dict_size(item)
        elif kind is list:
            size += _list_size(item)
        elif kind is bytes:
            size += len(item)
        else:
            size += approximate_size(item)
    return size


def _size(value: Any) -> int:
    """The rule for any value (subclasses, other Mappings, bytes, odd names); nested values go back
    through approximate_size."""
    if isinstance(value, Mapping):
        return sum(len(str(k).encode()) + approximate_size(v) for k, v in value.items()) + 3
    if isinstance(value, list | tuple):
        return sum(approximate_size(v) + 1 for v in value) + 3
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput("numbers must be finite")
        return 21
    raise InvalidInput(f"unsupported value type {type(value).__name__}")


def index_key(item: Mapping[str, Any], index: str) -> tuple[str, str] | None:
    """The item's key in a sparse index, or None when it is not in that index."""
    pk, sk = item.get(f"{index}pk"), item.get(f"{index}sk")
    if isinstance(pk, str) and isinstance(sk, str):
        return pk, sk
    return None


def is_expired(item: Mapping[str, Any], now: float) -> bool:
    ttl = item.get(TTL_ATTRIBUTE)
    return isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl < now


def check_query(index: str | None, limit: int | None) -> None:
    if index is not None and index not in INDEXES:
        raise InvalidInput(f"unknown index {index!r}", details={"indexes": list(INDEXES)})
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1")


def check_update(set_: Mapping[str, Any], remove: Sequence[str], add: Mapping[str, int | float]) -> None:
    touched = [*set_, *remove, *add]
    if any(name in KEY_ATTRIBUTES for name in touched):
        raise InvalidInput("pk and sk cannot be updated; delete and put instead")
    if len(touched) != len(set(touched)):
        raise InvalidInput("an attribute may appear only once in set, remove and add")
    if not touched:
        raise InvalidInput("an update must set, remove or add something")
    for name, amount in add.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise InvalidInput(f"add needs a number for {name}")


def check_transaction(ops: Sequence[TransactOp]) -> None:
    if not ops:
        raise InvalidInput("a transaction needs at least one operation")
    if len(ops) > 100:
        raise InvalidInput("a transaction takes at most 100 operations")
    keys = [op_key(op) for op in ops]
    if len(keys) != len(set(keys)):
        raise InvalidInput("a transaction may touch each item only once")


def check_batch(puts: Sequence[Item], deletes: Sequence[tuple[str, str]]) -> None:
    """A batch write's rules, the same everywhere: valid items and keys, each item at most once."""
    for item in puts:
        check_item(item)
    for pk, sk in deletes:
        check_key(pk, sk)
    keys = [(str(item.get("pk")), str(item.get("sk"))) for item in puts] + [tuple(k) for k in deletes]
    if len(keys) != len(set(keys)):
        raise InvalidInput("a batch write may touch each item only once")


def op_key(op: TransactOp) -> tuple[str, str]:
    from wagate.ports import Put

    if isinstance(op, Put):
        return str(op.item.get("pk")), str(op.item.get("sk"))
    return op.pk, op.sk


def encode_cursor(payload: Mapping[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("the cursor is not one this API returned", details={"cursor": cursor}) from exc
    if not isinstance(value, dict):
        raise InvalidInput("the cursor is not one this API returned", details={"cursor": cursor})
    return value


def new_item_from_update(
    pk: str, sk: str, old: Item | None, set_: Mapping[str, Any], remove: Sequence[str], add: Mapping[str, Any]
) -> Item:
    """Apply an update the way DynamoDB does: upsert, ADD counts from zero."""
    item: Item = dict(old) if old is not None else {"pk": pk, "sk": sk}
    item.update(set_)
    for name in remove:
        item.pop(name, None)
    for name, amount in add.items():
        current = item.get(name, 0)
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise InvalidInput(f"cannot add to {name}: it is not a number")
        item[name] = current + amount
    return item
