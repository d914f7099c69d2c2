"""Watches every AWS call of one process (a function worker or the connector) in the AWS-mode test.

`install()` hooks the default boto3 session before any client exists, so every client the code builds
(adapters, Powertools idempotency) reports through it. For each call it:
  * checks the IAM action and resource ARN against the process's own role policy (tests/aws/policy.py):
    a call the policy would not allow raises AccessDeniedException before it leaves, as AWS would answer,
    and is logged as a denial; moto's own denials (AccessDenied answers) are logged too;
  * logs the call with its DynamoDB capacity units and SQS entries, for bench/aws_calls_per_message.py.

DynamoDB capacity is computed from item sizes as DynamoDB bills it (reads: 4 KB units, half for eventually
consistent reads; writes: 1 KB units of the larger of the item before and after; transactions count
double), with the before/after images read by an uninstrumented admin client (moto's ConsumedCapacity
is a constant, not a measurement); only when AWSE2E_CAPACITY=1 (the benchmark), since those extra reads
slow the test down. Configuration comes from AWSE2E_* variables set by the harness.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError

from tests.aws.policy import allowed, key_arn, requested

_lock = threading.Lock()
_WRITES = ("PutItem", "UpdateItem", "DeleteItem")


def install() -> None:
    """Hook the default boto3 session (call before the code under test makes its clients)."""
    statements = json.loads(open(os.environ["AWSE2E_POLICY"]).read())
    recorder = _Recorder(statements)
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-parameter-build", recorder.before)
    session.events.register("after-call", recorder.after)


class _Recorder:
    def __init__(self, statements: list[dict[str, Any]]) -> None:
        self.statements = statements
        self.process = os.environ["AWSE2E_PROCESS"]
        self.path = os.environ["AWSE2E_RECORD"]
        self.socket_api = os.environ["AWSE2E_SOCKET_API"]
        self.stage = os.environ["AWSE2E_SOCKET_STAGE"]
        self.capacity = os.environ.get("AWSE2E_CAPACITY") == "1"  # the benchmark's, not the test's
        self._shadow: Any = None
        self._schemas: dict[str, list[str]] = {}
        self._local = threading.local()

    # -- hooks -------------------------------------------------------------------------------------------
    def before(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        context["awse2e_params"] = dict(params)
        for action, resource in requested(service, operation, params, self.socket_api, self.stage):
            if resource and not allowed(self.statements, action, resource):
                self._write({"svc": service, "op": operation, "denied": f"{action} on {resource}"})
                raise ClientError(
                    {
                        "Error": {
                            "Code": "AccessDeniedException",
                            "Message": f"{self.process}'s role is not authorized to perform: {action} "
                            f"on resource: {resource} (tests/aws/recorder.py, the role's translated policy)",
                        },
                        "ResponseMetadata": {"HTTPStatusCode": 400},
                    },
                    operation,
                )
        if self.capacity and service == "dynamodb" and operation in (*_WRITES, "TransactWriteItems"):
            context["awse2e_before"] = self._images(operation, params)

    def after(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        service = model.service_model.service_name
        operation = model.name
        params = context.get("awse2e_params") or {}
        error = (parsed.get("Error") or {}).get("Code") if isinstance(parsed, Mapping) else None
        entry: dict[str, Any] = {"svc": service, "op": operation}
        if error:
            entry["err"] = error
            if "AccessDenied" in error or http_response.status_code == 403:
                entry["denied"] = str((parsed.get("Error") or {}).get("Message"))
        if service == "kms" and operation == "Decrypt" and not error and not params.get("KeyId"):
            arn = key_arn(str(parsed.get("KeyId", "")))
            if not allowed(self.statements, "kms:Decrypt", arn):
                entry["denied"] = f"kms:Decrypt on {arn}"
        if self.capacity and service == "dynamodb":
            entry.update(self._capacity(operation, params, parsed, context.get("awse2e_before"), error))
        if service == "sqs":
            entries = params.get("Entries")
            entry["entries"] = len(entries) if isinstance(entries, list) else 1
            if operation == "ReceiveMessage" and not error:
                entry["received"] = len(parsed.get("Messages") or [])
        self._write(entry)

    # -- DynamoDB capacity -------------------------------------------------------------------------------
    def _capacity(
        self,
        operation: str,
        params: Mapping[str, Any],
        parsed: Mapping[str, Any],
        before: Any,
        error: str | None,
    ) -> dict[str, float]:
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        if operation == "GetItem":
            return {"rcu": _read_units(_size(parsed.get("Item") or {}), factor)}
        if operation in ("Query", "Scan"):
            total = sum(_size(item) for item in parsed.get("Items") or [])
            return {"rcu": _read_units(total, factor)}
        if operation == "BatchGetItem":
            items = [i for rows in (parsed.get("Responses") or {}).values() for i in rows]
            return {"rcu": sum(_read_units(_size(i), factor) for i in items)}
        if operation == "TransactGetItems":
            return {
                "rcu": sum(
                    _read_units(_size(r.get("Item") or {}), 2.0) for r in parsed.get("Responses") or []
                )
            }
        if operation in _WRITES or operation == "TransactWriteItems":
            after = [] if error else self._images(operation, params)
            sizes = [max(a, b) for a, b in zip(before or [], after or [0] * len(before or []), strict=False)]
            units = sum(max(1, math.ceil(s / 1024)) for s in sizes) or 1
            return {"wcu": float(units * (2 if operation == "TransactWriteItems" else 1))}
        if operation == "BatchWriteItem":
            requests = [r for rows in (params.get("RequestItems") or {}).values() for r in rows]
            return {
                "wcu": float(
                    sum(
                        max(1, math.ceil(_size((r.get("PutRequest") or {}).get("Item") or {}) / 1024))
                        for r in requests
                    )
                )
            }
        return {}

    def _images(self, operation: str, params: Mapping[str, Any]) -> list[int]:
        """Sizes of the items a write touches, as they are now (read without instrumentation)."""
        targets: list[tuple[str, Mapping[str, Any]]] = []
        if operation == "TransactWriteItems":
            for item in params.get("TransactItems") or []:
                (kind, body), *_ = item.items()
                key = body.get("Key") or self._key_of(body["TableName"], body.get("Item") or {})
                targets.append((body["TableName"], key))
        else:
            key = params.get("Key") or self._key_of(params["TableName"], params.get("Item") or {})
            targets.append((params["TableName"], key))
        sizes = []
        for table, key in targets:
            item = self.shadow().get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")
            sizes.append(_size(item or {}))
        return sizes

    def _key_of(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        if table not in self._schemas:
            schema = self.shadow().describe_table(TableName=table)["Table"]["KeySchema"]
            self._schemas[table] = [k["AttributeName"] for k in schema]
        return {name: item[name] for name in self._schemas[table]}

    def shadow(self) -> Any:
        if self._shadow is None:
            self._shadow = boto3.session.Session().client(
                "dynamodb",
                endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                region_name="us-east-1",
                aws_access_key_id=os.environ["AWSE2E_ADMIN_KEY"],
                aws_secret_access_key=os.environ["AWSE2E_ADMIN_SECRET"],
            )
        return self._shadow

    def _write(self, entry: dict[str, Any]) -> None:
        entry["p"] = self.process
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with _lock, open(self.path, "a") as log:
            log.write(line)


def _read_units(size: int, factor: float) -> float:
    return max(1, math.ceil(size / 4096)) * factor


def _size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (low-level typed form)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(Decimal(str(data))).lstrip("-").replace(".", "")
        return len(digits.lstrip("0") or "0") // 2 + 1 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS"):
        return sum(len(v) if isinstance(v, bytes) else len(str(v).encode()) for v in data)
    if kind == "NS":
        return sum(_value_size({"N": v}) for v in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in data.items())
    return 0
