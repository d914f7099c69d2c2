"""Feeds a local queue to its function like Lambda's SQS event source mapping.

Batches of up to BatchSize records shaped exactly like Lambda's, successes deleted, failures left in
flight so they reappear after the visibility timeout (and reach the DLQ after maxReceiveCount: that is
the queue adapter's job). With ReportBatchItemFailures only the listed records fail; on FIFO queues
every later record of a failed record's group fails with it, so the group keeps its order. A raised
exception, or a response Lambda cannot read, fails the whole batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from local.functions import FunctionError, FunctionRuntime
from local.intrinsics import LOCAL_REGION
from local.template_model import QueueSpec, QueueSubscriptionSpec
from wagate.ports import Queue, ReceivedMessage

log = logging.getLogger("wagate.local.queues")

# Lambda's poller is the sender of record for what it reads; a fixed, AWS-looking id.
_SENDER_ID = "AIDAWAGATELOCALSENDER"
_MAX_RECEIVE = 10  # SQS returns at most 10 messages per ReceiveMessage


def sqs_record(message: ReceivedMessage, queue: QueueSpec, received_at: float) -> dict[str, Any]:
    """One Lambda SQS event record. The Queue port does not keep the first receive time: on a
    redelivery ApproximateFirstReceiveTimestamp is this receive's."""
    attributes = {
        "ApproximateReceiveCount": str(message.receive_count),
        "SentTimestamp": str(int(message.sent_at * 1000)),
        "SenderId": _SENDER_ID,
        "ApproximateFirstReceiveTimestamp": str(int(received_at * 1000)),
    }
    if queue.fifo and message.group_id is not None:
        attributes["MessageGroupId"] = message.group_id
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": LOCAL_REGION,
    }


class MalformedBatchResponse(ValueError):
    """A ReportBatchItemFailures response Lambda treats as a failure of the whole batch."""


def failed_ids(result: Any, records: Sequence[dict[str, Any]], *, fifo: bool) -> set[str]:
    """Message ids that stay on the queue, from a ReportBatchItemFailures response.

    Raises MalformedBatchResponse (the whole batch fails): not an object, an itemIdentifier that is
    missing, empty or not in the batch.
    """
    if result is None:
        return set()
    if not isinstance(result, dict):
        raise MalformedBatchResponse(f"response is a {type(result).__name__}, not an object")
    failures = result.get("batchItemFailures") or []
    if not isinstance(failures, list):
        raise MalformedBatchResponse("batchItemFailures must be a list")
    in_batch = [r["messageId"] for r in records]
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in in_batch:
            raise MalformedBatchResponse(f"itemIdentifier {identifier!r} is not a message of this batch")
        failed.add(identifier)
    if fifo and failed:
        blocked: set[str] = set()
        for record in records:
            group = record["attributes"].get("MessageGroupId")
            if record["messageId"] in failed:
                blocked.add(group)
            elif group in blocked:
                failed.add(record["messageId"])
    return failed


@dataclass(frozen=True)
class BatchOutcome:
    received: int
    deleted: int
    failed: int


class QueueRunner:
    """One SQS event source mapping: a loop of receive → invoke → delete, one batch at a time."""

    def __init__(
        self,
        subscription: QueueSubscriptionSpec,
        queue_spec: QueueSpec,
        queue: Queue,
        runtime: FunctionRuntime,
        *,
        poll_seconds: float = 1.0,
    ) -> None:
        self.subscription = subscription
        self._queue_spec = queue_spec
        self._queue = queue
        self._runtime = runtime
        self._poll_seconds = poll_seconds
        # Its own thread for the long polls: in the shared default executor (cpus + 4 threads) a few
        # runners each holding a thread for a whole poll starve every other asyncio.to_thread caller
        # in the process (the connector's Table and queue calls above all).
        self._poller = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=f"poll-{queue_spec.logical_id}"
        )
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"queue {self.subscription.name}")

    async def stop(self) -> None:
        """Take no new batch; wait for the batch under way to finish (deletes included)."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._poller.shutdown(wait=False)

    async def run_once(self, wait_seconds: float | None = None) -> BatchOutcome:
        """Receive one batch (waiting up to `wait_seconds` for it) and process it."""
        messages = await self._receive(self._poll_seconds if wait_seconds is None else wait_seconds)
        if not messages:
            return BatchOutcome(0, 0, 0)
        return await self._process(messages)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = await self._receive(self._poll_seconds)
                if messages and self._stopping.is_set():
                    await self._release(messages)  # taken while stopping: not ours to process
                    return
                if messages:
                    await self._process(messages)
            except Exception:
                log.exception("queue runner %s failed; retrying", self.subscription.name)
                await asyncio.sleep(self._poll_seconds)

    async def _receive(self, wait_seconds: float) -> list[ReceivedMessage]:
        wanted = self.subscription.batch_size
        messages = await self._poll(min(wanted, _MAX_RECEIVE), wait_seconds)
        window = self.subscription.batching_window_seconds
        if not messages or (wanted <= _MAX_RECEIVE and window == 0):
            return messages
        # Batches over 10 and batching windows are filled by further receives, as Lambda's poller does.
        deadline = time.monotonic() + window
        by_id = {m.message_id: m for m in messages}
        while len(by_id) < wanted:
            more = await self._poll(
                min(wanted - len(by_id), _MAX_RECEIVE), min(max(0.0, deadline - time.monotonic()), 20.0)
            )
            if not more:
                break
            # A message can come back within the window (visibility timeout 0): its newest receipt counts.
            by_id.update((m.message_id, m) for m in more)
        return list(by_id.values())

    async def _poll(self, max_messages: int, wait_seconds: float) -> list[ReceivedMessage]:
        receive = functools.partial(self._queue.receive, max_messages=max_messages, wait_seconds=wait_seconds)
        return await asyncio.get_running_loop().run_in_executor(self._poller, receive)

    async def _process(self, messages: list[ReceivedMessage]) -> BatchOutcome:
        now = time.time()
        records = [sqs_record(m, self._queue_spec, now) for m in messages]
        self.batches += 1
        fifo = self._queue_spec.fifo
        try:
            result = await self._runtime.invoke(self.subscription.function_id, {"Records": records})
            if self.subscription.report_batch_item_failures:
                failed = failed_ids(result, records, fifo=fifo)
            else:
                failed = set()
        except FunctionError:
            failed = {r["messageId"] for r in records}
        except MalformedBatchResponse as exc:
            log.error("%s: %s; the whole batch fails", self.subscription.name, exc)
            failed = {r["messageId"] for r in records}
        done = [m.receipt for m in messages if m.message_id not in failed]
        if done:
            await asyncio.to_thread(self._delete_all, done)
        return BatchOutcome(len(messages), len(done), len(messages) - len(done))

    def _delete_all(self, receipts: list[str]) -> None:
        for receipt in receipts:
            self._queue.delete(receipt)

    async def _release(self, messages: list[ReceivedMessage]) -> None:
        def release() -> None:
            for message in messages:
                try:
                    self._queue.change_visibility(message.receipt, 0)
                except Exception:  # already expired: it is visible again anyway
                    log.debug("could not release %s", message.message_id)

        await asyncio.to_thread(release)
