"""IAM policy evaluation for the AWS-mode test: which IAM action and resource ARN an API call asks for, and
whether a role's statements allow it (explicit Deny wins; Allow needs a matching action, resource and
condition; no statement = implicit deny). This is what moto cannot do for DynamoDB, KMS and execute-api.

Supported: Action/Resource with `*` and `?` wildcards (actions case-insensitive), Effect Allow/Deny,
Condition operators StringEquals/StringLike/ArnLike/ArnEquals on keys the call carries (a call made by
our code directly carries no `kms:ViaService`, so a statement conditioned on it does not apply).
NotAction/NotResource/NotPrincipal are refused (no policy of ours uses them).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"

# TransactWriteItems is authorized per item, by the item's own action.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# S3 calls whose IAM action has another name (the rest are named alike: PutObject, GetObject, ...).
_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
}
_CONNECTION_METHODS = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}


def requested(
    service: str, operation: str, params: Mapping[str, Any], socket_api: str, stage: str
) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorizes for one API call."""
    if service == "dynamodb":
        return _dynamodb(operation, params)
    if service == "sqs":
        action = "sqs:" + operation.removesuffix("Batch")
        if operation == "GetQueueUrl":
            return [(action, _queue_arn(str(params["QueueName"])))]
        if "QueueUrl" in params:
            return [(action, _queue_arn(str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]))]
        return [(action, "*")]
    if service == "kms":
        key = params.get("KeyId")
        return [(f"kms:{operation}", key_arn(str(key)) if key else "")]  # Decrypt: the key comes back
    if service == "apigatewaymanagementapi":
        method = _CONNECTION_METHODS.get(operation, "POST")
        connection = params.get("ConnectionId", "*")
        resource = (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{socket_api}/{stage}/{method}/@connections/{connection}"
        )
        return [("execute-api:ManageConnections", resource)]
    if service == "s3":
        action = _S3_ACTIONS.get(operation, operation)
        bucket, key = params.get("Bucket", "*"), params.get("Key")
        return [(f"s3:{action}", f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}")]
    return [(f"{service}:{operation}", "*")]


def key_arn(key: str) -> str:
    return key if key.startswith("arn:") else f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}"


def _queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def _table_arn(name: str, index: str | None = None) -> str:
    arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


def _dynamodb(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    if operation == "TransactWriteItems":
        pairs = []
        for item in params.get("TransactItems") or []:
            (kind, body), *_ = item.items()
            pairs.append((f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table_arn(body["TableName"])))
        return pairs
    if operation == "TransactGetItems":
        return [
            ("dynamodb:GetItem", _table_arn(i["Get"]["TableName"])) for i in params.get("TransactItems") or []
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", _table_arn(name)) for name in params.get("RequestItems") or {}]
    if "TableName" in params:
        return [(f"dynamodb:{operation}", _table_arn(str(params["TableName"]), params.get("IndexName")))]
    return [(f"dynamodb:{operation}", "*")]


def allowed(
    statements: Sequence[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Whether the statements allow `action` on `resource` (explicit Deny wins)."""
    verdict = False
    for statement in statements:
        for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
            if unsupported in statement:
                raise ValueError(f"{unsupported} is not supported by this evaluator: {statement}")
        if not _any(statement.get("Action"), action, fold=True):
            continue
        if not _any(statement.get("Resource", "*"), resource, fold=False):
            continue
        if not _conditions_hold(statement.get("Condition") or {}, context or {}):
            continue
        if statement.get("Effect") == "Deny":
            return False
        verdict = True
    return verdict


def _any(patterns: Any, value: str, *, fold: bool) -> bool:
    items = [patterns] if isinstance(patterns, str) else list(patterns or [])
    for pattern in items:
        if re.match(fnmatch.translate(str(pattern)), value, re.IGNORECASE if fold else 0):
            return True
    return False


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, checks in conditions.items():
        for key, expected in checks.items():
            values = [expected] if isinstance(expected, str) else list(expected)
            actual = context.get(key)
            if actual is None:
                return False
            if operator in ("StringEquals", "ArnEquals") and actual not in values:
                return False
            if operator in ("StringLike", "ArnLike") and not _any(values, actual, fold=False):
                return False
            if operator not in ("StringEquals", "ArnEquals", "StringLike", "ArnLike"):
                raise ValueError(f"condition operator {operator} is not supported by this evaluator")
    return True
