"""The Table port on DynamoDB (low-level client): conditions rendered as expressions, errors mapped.

Values are converted at this edge only: floats go in as Decimal and numbers come back as int or float,
binary comes back as bytes. TTL is enforced on read (DynamoDB removes expired items lazily, up to days
later), so an expired item is invisible and counts as absent for conditions, exactly as in SQLite.
One known gap: `update` of an expired but not yet removed item keeps its stale attributes here; write
items with a TTL with `put`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from wagate import items as rules
from wagate.conditions import (
    And,
    BeginsWith,
    Compare,
    Condition,
    Exists,
    In,
    Not,
    NotExists,
    Or,
    SortKey,
)
from wagate.domain.errors import ConflictError, InvalidInput, ItemTooLarge, TransientError
from wagate.ports import TTL_ATTRIBUTE, Delete, Item, Page, Put, TransactOp, Update

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
}

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoTable:
    """Implements `wagate.ports.Table` on one DynamoDB table (pk/sk + sparse GSIs gsi1, gsi2)."""

    def __init__(
        self,
        table_name: str,
        client_factory: Callable[[], DynamoDBClient],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._name = table_name
        self._factory = client_factory
        self._client: DynamoDBClient | None = None
        self._clock = clock

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    # ---- reads --------------------------------------------------------------------------------------

    def get(self, pk: str, sk: str) -> Item | None:
        rules.check_key(pk, sk)
        response = self._call(
            self.client.get_item, TableName=self._name, Key=_key(pk, sk), ConsistentRead=True
        )
        raw = response.get("Item")
        if raw is None:
            return None
        item = _from_dynamo(raw)
        return None if rules.is_expired(item, self._clock()) else item

    def scan(self) -> Iterator[Item]:
        """Every live item, page by page (operator tools: migration, audits); eventually consistent."""
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"TableName": self._name}
            if start is not None:
                kwargs["ExclusiveStartKey"] = start
            response = self._call(self.client.scan, **kwargs)
            now = self._clock()
            for raw in response.get("Items", []):
                item = _from_dynamo(raw)
                if not rules.is_expired(item, now):
                    yield item
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Item | None]:
        for pk, sk in keys:
            rules.check_key(pk, sk)
        found: dict[tuple[str, str], Item] = {}
        unique = list(dict.fromkeys((str(pk), str(sk)) for pk, sk in keys))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            wanted: Any = {
                self._name: {"Keys": [_key(pk, sk) for pk, sk in unique[start : start + _BATCH_GET_LIMIT]]}
            }
            wanted[self._name]["ConsistentRead"] = True
            for attempt in range(_BATCH_GET_TRIES):
                response = self._call(self.client.batch_get_item, RequestItems=wanted)
                for raw in response.get("Responses", {}).get(self._name, []):
                    got = _from_dynamo(raw)
                    found[(str(got["pk"]), str(got["sk"]))] = got
                wanted = response.get("UnprocessedKeys") or {}
                if not wanted:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled keys come back: back off and ask again
            else:
                raise TransientError("DynamoDB left keys of a batch read unprocessed; retry")
        now = self._clock()
        live = {key: item for key, item in found.items() if not rules.is_expired(item, now)}
        return [live.get((str(pk), str(sk))) for pk, sk in keys]

    def query(
        self,
        pk: str,
        *,
        sk: SortKey | None = None,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        rules.check_query(index, limit)
        names = _Names()
        pcol, scol = (f"{index}pk", f"{index}sk") if index else ("pk", "sk")
        expression = f"{names.ref(pcol)} = :p"
        values: dict[str, Any] = {":p": {"S": pk}, ":now": {"N": str(int(self._clock()))}}
        if sk is not None:
            expression += " AND " + _sort_expression(names.ref(scol), sk, values)
        kwargs: dict[str, Any] = {
            "TableName": self._name,
            "KeyConditionExpression": expression,
            "FilterExpression": f"attribute_not_exists({names.ref(TTL_ATTRIBUTE)}) OR "
            f"{names.ref(TTL_ATTRIBUTE)} >= :now",
            "ExpressionAttributeNames": names.mapping,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
        }
        if index is not None:
            kwargs["IndexName"] = index
        else:
            kwargs["ConsistentRead"] = True
        if limit is not None:
            kwargs["Limit"] = limit
        if cursor is not None:
            position = rules.decode_cursor(cursor)
            start = position.get("k")
            if position.get("p") != pk or position.get("i") != index or not isinstance(start, dict):
                raise InvalidInput("the cursor belongs to another query", details={"cursor": cursor})
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        response = self._call(self.client.query, **kwargs)
        last = response.get("LastEvaluatedKey")
        next_cursor = None
        if last:
            next_cursor = rules.encode_cursor(
                {"p": pk, "i": index, "k": {k: v["S"] for k, v in last.items()}}
            )
        return Page(items=[_from_dynamo(raw) for raw in response.get("Items", [])], cursor=next_cursor)

    # ---- writes -------------------------------------------------------------------------------------

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        rules.check_item(item)
        kwargs: dict[str, Any] = {"TableName": self._name, "Item": _to_dynamo(item)}
        self._add_condition(kwargs, condition)
        self._call(self.client.put_item, **kwargs)

    def update(
        self,
        pk: str,
        sk: str,
        *,
        set: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        add: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
    ) -> Item:
        rules.check_key(pk, sk)
        kwargs = self._update_kwargs(Update(pk, sk, set or {}, tuple(remove), add or {}, condition))
        response = self._call(self.client.update_item, ReturnValues="ALL_NEW", **kwargs)
        return _from_dynamo(response["Attributes"])

    def delete(self, pk: str, sk: str, *, condition: Condition | None = None) -> Item | None:
        rules.check_key(pk, sk)
        kwargs: dict[str, Any] = {"TableName": self._name, "Key": _key(pk, sk), "ReturnValues": "ALL_OLD"}
        self._add_condition(kwargs, condition)
        response = self._call(self.client.delete_item, **kwargs)
        raw = response.get("Attributes")
        if raw is None:
            return None
        old = _from_dynamo(raw)
        return None if rules.is_expired(old, self._clock()) else old

    def transact_write(self, ops: Sequence[TransactOp]) -> None:
        rules.check_transaction(ops)
        entries: list[dict[str, Any]] = []
        for op in ops:
            if isinstance(op, Put):
                rules.check_item(op.item)
                put: dict[str, Any] = {"TableName": self._name, "Item": _to_dynamo(op.item)}
                self._add_condition(put, op.condition)
                entries.append({"Put": put})
            elif isinstance(op, Update):
                rules.check_key(op.pk, op.sk)
                entries.append({"Update": self._update_kwargs(op)})
            elif isinstance(op, Delete):
                rules.check_key(op.pk, op.sk)
                delete: dict[str, Any] = {"TableName": self._name, "Key": _key(op.pk, op.sk)}
                self._add_condition(delete, op.condition)
                entries.append({"Delete": delete})
            else:
                check: dict[str, Any] = {"TableName": self._name, "Key": _key(op.pk, op.sk)}
                self._add_condition(check, op.condition)
                entries.append({"ConditionCheck": check})
        try:
            self.client.transact_write_items(TransactItems=entries)  # type: ignore[arg-type]
        except ClientError as exc:
            if _code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
                if failed:
                    raise ConflictError(
                        "the condition on this transaction did not hold", details={"failed": failed}
                    ) from exc
                if any(r.get("Code") in ("TransactionConflict", "ThrottlingError") for r in reasons):
                    raise TransientError("the transaction collided with another write; retry") from exc
                if not reasons and "ConditionalCheckFailed" in str(exc):
                    raise ConflictError("the condition on this transaction did not hold") from exc
            raise _domain_error(exc) from exc

    def write_batch(self, puts: Sequence[Item] = (), deletes: Sequence[tuple[str, str]] = ()) -> None:
        rules.check_batch(puts, deletes)
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": _to_dynamo(item)}} for item in puts]
        requests += [{"DeleteRequest": {"Key": _key(pk, sk)}} for pk, sk in deletes]
        chunks = [requests[i : i + _BATCH_WRITE_LIMIT] for i in range(0, len(requests), _BATCH_WRITE_LIMIT)]
        if len(chunks) <= 1:
            for chunk in chunks:
                self._write_chunk(chunk)
            return
        # Several requests in flight at once: a round trip each is what a bulk write waits on.
        with ThreadPoolExecutor(max_workers=min(_BATCH_WRITE_THREADS, len(chunks))) as pool:
            for done in [pool.submit(self._write_chunk, chunk) for chunk in chunks]:
                done.result()

    def _write_chunk(self, pending: list[dict[str, Any]]) -> None:
        for attempt in range(_BATCH_WRITE_TRIES):
            response = self._call(self.client.batch_write_item, RequestItems={self._name: pending})
            pending = response.get("UnprocessedItems", {}).get(self._name, [])
            if not pending:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off, as AWS advises
        raise TransientError("DynamoDB left items of a batch write unprocessed; retry")

    # ---- plumbing -----------------------------------------------------------------------------------

    def _update_kwargs(self, op: Update) -> dict[str, Any]:
        rules.check_update(op.set, op.remove, op.add)
        names, values = _Names(), {}
        clauses = []
        if op.set:
            parts = []
            for i, (name, value) in enumerate(op.set.items()):
                values[f":s{i}"] = _serializer.serialize(_to_native(value))
                parts.append(f"{names.ref(name)} = :s{i}")
            clauses.append("SET " + ", ".join(parts))
        if op.remove:
            clauses.append("REMOVE " + ", ".join(names.ref(name) for name in op.remove))
        if op.add:
            parts = []
            for i, (name, amount) in enumerate(op.add.items()):
                values[f":a{i}"] = _serializer.serialize(_to_native(amount))
                parts.append(f"{names.ref(name)} :a{i}")
            clauses.append("ADD " + ", ".join(parts))
        kwargs: dict[str, Any] = {
            "TableName": self._name,
            "Key": _key(op.pk, op.sk),
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": names.mapping,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        self._add_condition(kwargs, op.condition, names)
        return kwargs

    def _add_condition(
        self, kwargs: dict[str, Any], condition: Condition | None, names: _Names | None = None
    ) -> None:
        if condition is None:
            return
        names = names or _Names()
        values: dict[str, Any] = dict(kwargs.get("ExpressionAttributeValues", {}))
        renderer = _Renderer(names, values)
        ttl = names.ref(TTL_ATTRIBUTE)
        values[":cnow"] = {"N": str(int(self._clock()))}
        body = renderer.render(condition)
        # An expired item is absent: the condition must hold as it would on no item at all.
        if condition.holds(None):
            expression = f"({ttl} < :cnow) OR ({body})"
        else:
            expression = f"(attribute_not_exists({ttl}) OR {ttl} >= :cnow) AND ({body})"
        kwargs["ConditionExpression"] = expression
        kwargs["ExpressionAttributeNames"] = names.mapping
        kwargs["ExpressionAttributeValues"] = values

    def _call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except ClientError as exc:
            raise _domain_error(exc) from exc


_BATCH_GET_LIMIT = 100  # keys per BatchGetItem call
_BATCH_GET_TRIES = 5
_BATCH_WRITE_LIMIT = 25  # puts and deletes per BatchWriteItem call
_BATCH_WRITE_TRIES = 8
_BATCH_WRITE_THREADS = 8


class _Names:
    """Expression attribute names (#n0, #n1, ...) so no attribute collides with a reserved word."""

    def __init__(self) -> None:
        self.mapping: dict[str, str] = {}
        self._by_name: dict[str, str] = {}

    def ref(self, name: str) -> str:
        if name not in self._by_name:
            placeholder = f"#n{len(self._by_name)}"
            self._by_name[name] = placeholder
            self.mapping[placeholder] = name
        return self._by_name[name]


class _Renderer:
    def __init__(self, names: _Names, values: dict[str, Any]) -> None:
        self._names = names
        self._values = values

    def value(self, value: Any) -> str:
        placeholder = f":c{len(self._values)}"
        self._values[placeholder] = _serializer.serialize(_to_native(value))
        return placeholder

    def render(self, node: Condition) -> str:
        if isinstance(node, Exists):
            return f"attribute_exists({self._names.ref(node.attr)})"
        if isinstance(node, NotExists):
            return f"attribute_not_exists({self._names.ref(node.attr)})"
        if isinstance(node, Compare):
            return f"{self._names.ref(node.attr)} {node.op} {self.value(node.value)}"
        if isinstance(node, In):
            if not node.values:
                raise InvalidInput("is_in needs at least one value")
            options = ", ".join(self.value(v) for v in node.values)
            return f"{self._names.ref(node.attr)} IN ({options})"
        if isinstance(node, BeginsWith):
            return f"begins_with({self._names.ref(node.attr)}, {self.value(node.prefix)})"
        if isinstance(node, And):
            return " AND ".join(f"({self.render(p)})" for p in node.parts)
        if isinstance(node, Or):
            return " OR ".join(f"({self.render(p)})" for p in node.parts)
        if isinstance(node, Not):
            return f"NOT ({self.render(node.part)})"
        raise InvalidInput(f"unsupported condition {type(node).__name__}")


def _sort_expression(column: str, sk: SortKey, values: dict[str, Any]) -> str:
    values[":s"] = {"S": sk.value}
    if sk.op == "begins_with":
        return f"begins_with({column}, :s)"
    if sk.op == "between":
        assert sk.upper is not None
        values[":u"] = {"S": sk.upper}
        return f"{column} BETWEEN :s AND :u"
    return f"{column} {sk.op} :s"


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _to_native(value: Any) -> Any:
    """Python values → what boto3's TypeSerializer accepts (Decimal instead of float)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        rules.approximate_size(value)  # rejects NaN/inf with InvalidInput
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _to_native(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_native(v) for v in value]
    return value


def _from_native(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return value.__bytes__()
    if isinstance(value, dict):
        return {k: _from_native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_native(v) for v in value]
    return value


def _to_dynamo(item: Item) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_native(v)) for k, v in item.items()}


def _from_dynamo(raw: Mapping[str, Any]) -> Item:
    return {k: _from_native(_deserializer.deserialize(v)) for k, v in raw.items()}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _domain_error(exc: ClientError) -> Exception:
    code, message = _code(exc), str(exc.response.get("Error", {}).get("Message", exc))
    if code == "ConditionalCheckFailedException":
        return ConflictError("the condition on this write did not hold")
    if code in _TRANSIENT:
        return TransientError("DynamoDB is busy; retry", details={"code": code})
    if code == "ValidationException" and "size" in message.lower():
        return ItemTooLarge("item is over DynamoDB's 400 KB limit", details={"error": message})
    if code == "ValidationException":
        return InvalidInput(message, details={"code": code})
    return TransientError(f"DynamoDB failed: {code or message}", details={"code": code})
