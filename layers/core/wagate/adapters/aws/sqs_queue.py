"""The Queue port on Amazon SQS: the only boto3 use for queues; SQS errors become domain errors.

A logical name from template.yaml ("EventsQueue") is found through the environment variable the template
sets on every function (`EVENTS_QUEUE_URL`); the queue is FIFO iff its URL ends in `.fifo`.

Error mapping (codes are compared without the `AWS.SimpleQueueService.` prefix):
  * throttling, any 5xx, connection and read timeouts           -> TransientError
  * invalid / missing parameters, bad body, batch errors        -> InvalidInput
  * unknown queue                                               -> NotFound
  * `ReceiptHandleIsInvalid` (a receipt SQS never issued)       -> NotFound
  * change_visibility on a message no longer in flight under that receipt (`MessageNotInflight`, or
    `InvalidParameterValue` about the ReceiptHandle: deleted, expired or re-received)   -> ConflictError
  * delete with a superseded or expired receipt: a no-op, as SQS itself treats a standard queue's stale
    receipt (the newer holder of the message will delete it)
  * anything else                                               -> WagateError with the AWS code

What SQS would refuse is checked before calling it, with the rules in `wagate.queue_rules` that the
SQLite adapter applies too, so both adapters refuse the same things and a batch is all or nothing (SQS
alone would send the valid entries).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotoConnectionError

from wagate.domain.errors import ConflictError, InvalidInput, NotFound, TransientError, WagateError
from wagate.ports import OutgoingMessage, ReceivedMessage
from wagate.queue_rules import validate_batch, validate_receive, validate_visibility

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import MessageSystemAttributeNameType
    from mypy_boto3_sqs.type_defs import ReceiveMessageRequestTypeDef, SendMessageBatchRequestEntryTypeDef

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestThrottledException",
        "KmsThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
    }
)
_INVALID_CODES = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "MissingParameter",
        "InvalidMessageContents",
        "ValidationError",
        "UnsupportedOperation",
        "InvalidAttributeName",
        "InvalidAttributeValue",
        "InvalidIdFormat",
        "InvalidAddress",
        "EmptyBatchRequest",
        "TooManyEntriesInBatchRequest",
        "BatchEntryIdsNotDistinct",
        "BatchRequestTooLong",
        "InvalidBatchEntryId",
    }
)
_NOT_FOUND_CODES = frozenset({"NonExistentQueue", "QueueDoesNotExist", "ResourceNotFoundException"})
_SYSTEM_ATTRIBUTES: list[MessageSystemAttributeNameType] = [
    "ApproximateReceiveCount",
    "SentTimestamp",
    "MessageGroupId",
]


def url_variable(logical_name: str) -> str:
    """The environment variable holding a queue's URL: "EventsQueue" -> "EVENTS_QUEUE_URL"."""
    return _WORD_BOUNDARY.sub("_", logical_name).upper() + "_URL"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")).removeprefix("AWS.SimpleQueueService.")


def _domain_error(exc: BotoCoreError | ClientError) -> WagateError:
    """Translate a botocore error; the receipt-specific cases are handled by the operations."""
    if isinstance(exc, ParamValidationError):
        return InvalidInput(str(exc))
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return TransientError(f"SQS unreachable: {exc}")
    if isinstance(exc, BotoCoreError):
        return WagateError(f"SQS client error: {exc}", code="sqs_client_error")
    code = _error_code(exc)
    message = str(exc.response.get("Error", {}).get("Message", "")) or code
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientError(f"SQS: {message}", details={"aws_code": code})
    if code in _NOT_FOUND_CODES:
        return NotFound(f"SQS: {message}", details={"aws_code": code})
    if code in _INVALID_CODES:
        return InvalidInput(f"SQS: {message}", details={"aws_code": code})
    return WagateError(f"SQS: {message}", details={"aws_code": code}, code=f"sqs_{code or 'error'}")


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise _domain_error(exc) from exc


def _about_receipt(exc: ClientError) -> bool:
    return _error_code(exc) == "InvalidParameterValue" and "receipthandle" in str(exc).lower()


def _check_receipt(receipt: str) -> None:
    if not isinstance(receipt, str) or not receipt:
        raise NotFound("not a receipt SQS issued")


class SqsQueues:
    """Finds SQS queues by logical name; the client comes from `client_factory` on first use."""

    def __init__(
        self,
        client_factory: Callable[[], SQSClient],
        env: Mapping[str, str] = os.environ,
        *,
        name_prefix: str | None = None,
    ) -> None:
        """`env` holds the `{LOGICAL_NAME}_QUEUE_URL` variables of the template (names not known in advance);
        `name_prefix` is `Settings.queue_name_prefix` (WAGATE_QUEUE_NAME_PREFIX)."""
        self._factory = client_factory
        self._env = env
        self._prefix = name_prefix
        self._client: SQSClient | None = None
        self._lock = threading.Lock()
        self._queues: dict[str, SqsQueue] = {}

    def get(self, logical_name: str) -> SqsQueue:
        """Raises NotFound when neither the queue's URL variable nor a queue with its stack name exists.

        Queues the template makes with Fn::ForEach (one per connector shard) cannot each get a variable;
        they are named `{WAGATE_QUEUE_NAME_PREFIX}{logical name}[.fifo]` and looked up once by name.
        """
        queue = self._queues.get(logical_name)
        if queue is None:
            variable = url_variable(logical_name)
            url = self._env.get(variable) or self._url_by_name(logical_name)
            if not url:
                raise NotFound(
                    f"no queue {logical_name!r}: set {variable} or WAGATE_QUEUE_NAME_PREFIX to look it up"
                )
            queue = self._queues.setdefault(logical_name, SqsQueue(logical_name, url, self.client))
        return queue

    def _url_by_name(self, logical_name: str) -> str | None:
        if not self._prefix:
            return None
        for name in (f"{self._prefix}{logical_name}.fifo", f"{self._prefix}{logical_name}"):
            try:
                return self.client().get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as exc:
                if _error_code(exc) not in _NOT_FOUND_CODES:
                    raise _domain_error(exc) from exc
        return None

    def client(self) -> SQSClient:
        # Lazily: a client made at import time escapes moto and slows every cold start.
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client


class SqsQueue:
    """One SQS queue by URL."""

    def __init__(self, name: str, url: str, client: Callable[[], SQSClient]) -> None:
        self._name = name
        self._url = url
        self._client = client
        self._fifo = url.endswith(".fifo")

    @property
    def name(self) -> str:
        return self._name

    @property
    def fifo(self) -> bool:
        return self._fifo

    @property
    def url(self) -> str:
        return self._url

    def send(
        self, body: str, *, group_id: str | None = None, dedup_id: str | None = None, delay_seconds: int = 0
    ) -> str:
        """Returns the message id. Raises InvalidInput, TransientError."""
        # Through SendMessageBatch (same IAM action, same price): one code path, one error mapping.
        return self.send_batch([OutgoingMessage(body, group_id, dedup_id, delay_seconds)])[0]

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Raises InvalidInput before sending anything when a message is invalid.

        If SQS still fails some entries, the others were sent: InvalidInput (sender's fault) or
        TransientError, with `details` = {"failed": [...], "sent": {index: message_id}}. Resending a whole
        FIFO batch is safe (deduplicated); a standard queue may then hold duplicates (at-least-once).
        """
        validate_batch(messages, fifo=self._fifo)
        if not messages:
            return []
        entries = [self._entry(str(index), message) for index, message in enumerate(messages)]
        with _translated():
            response = self._client().send_message_batch(QueueUrl=self._url, Entries=entries)
        sent = {entry["Id"]: entry["MessageId"] for entry in response.get("Successful", [])}
        failed = response.get("Failed", [])
        if failed:
            details = {
                "failed": [
                    {"index": int(f["Id"]), "code": f["Code"], "message": f.get("Message")} for f in failed
                ],
                "sent": {int(index): message_id for index, message_id in sent.items()},
            }
            if all(f["SenderFault"] for f in failed):
                raise InvalidInput(f"SQS refused {len(failed)} of {len(messages)} messages", details=details)
            raise TransientError(f"SQS failed {len(failed)} of {len(messages)} messages", details=details)
        return [sent[str(index)] for index in range(len(messages))]

    def _entry(self, entry_id: str, message: OutgoingMessage) -> SendMessageBatchRequestEntryTypeDef:
        entry: SendMessageBatchRequestEntryTypeDef = {"Id": entry_id, "MessageBody": message.body}
        if message.group_id is not None:
            entry["MessageGroupId"] = message.group_id
        if self._fifo and message.dedup_id is not None:
            entry["MessageDeduplicationId"] = message.dedup_id
        if message.delay_seconds:
            entry["DelaySeconds"] = message.delay_seconds
        return entry

    def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0, visibility_timeout: int | None = None
    ) -> list[ReceivedMessage]:
        """Long-polls up to `wait_seconds` (rounded up to whole seconds, as SQS counts them)."""
        validate_receive(max_messages, wait_seconds, visibility_timeout)
        request: ReceiveMessageRequestTypeDef = {
            "QueueUrl": self._url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": math.ceil(wait_seconds),
            "MessageSystemAttributeNames": _SYSTEM_ATTRIBUTES,
        }
        if visibility_timeout is not None:
            request["VisibilityTimeout"] = visibility_timeout
        with _translated():
            response = self._client().receive_message(**request)
        received = []
        for message in response.get("Messages", []):
            attributes = message.get("Attributes", {})
            received.append(
                ReceivedMessage(
                    message_id=message["MessageId"],
                    body=message["Body"],
                    receipt=message["ReceiptHandle"],
                    receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
                    group_id=attributes.get("MessageGroupId"),
                    sent_at=int(attributes.get("SentTimestamp", "0")) / 1000,
                )
            )
        return received

    def delete(self, receipt: str) -> None:
        """No-op for an already deleted message or a superseded receipt. Raises NotFound (bad receipt)."""
        _check_receipt(receipt)
        try:
            self._client().delete_message(QueueUrl=self._url, ReceiptHandle=receipt)
        except ClientError as exc:
            if _about_receipt(exc):
                return  # FIFO: "the receipt handle has expired"; someone else may hold the message now
            if _error_code(exc) == "ReceiptHandleIsInvalid":
                raise NotFound(
                    "not a receipt SQS issued", details={"aws_code": "ReceiptHandleIsInvalid"}
                ) from exc
            raise _domain_error(exc) from exc
        except BotoCoreError as exc:
            raise _domain_error(exc) from exc

    def change_visibility(self, receipt: str, timeout_seconds: int) -> None:
        """Raises ConflictError when the message is no longer in flight under this receipt."""
        _check_receipt(receipt)
        validate_visibility(timeout_seconds)
        try:
            self._client().change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=receipt, VisibilityTimeout=timeout_seconds
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code == "MessageNotInflight" or _about_receipt(exc):
                raise ConflictError(
                    "the message is not in flight under this receipt", details={"aws_code": code}
                ) from exc
            if code == "ReceiptHandleIsInvalid":
                raise NotFound("not a receipt SQS issued", details={"aws_code": code}) from exc
            raise _domain_error(exc) from exc
        except BotoCoreError as exc:
            raise _domain_error(exc) from exc

    def approximate_depth(self) -> int:
        with _translated():
            response = self._client().get_queue_attributes(
                QueueUrl=self._url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )
        return sum(int(value) for value in response.get("Attributes", {}).values())
