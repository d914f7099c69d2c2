"""SQS event source emulation over the real SQLite queues: deletes, partial failures, DLQ, FIFO order."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from local.functions import FunctionRuntime
from local.queue_runner import BatchOutcome, MalformedBatchResponse, QueueRunner, failed_ids
from local.template_model import Template
from tests.local.harness import RunningGateway
from wagate.adapters.local.sqlite_queue import SqliteQueues


class Harness:
    def __init__(self, template: Template, queues: SqliteQueues) -> None:
        self.template = template
        self.queues = queues
        self.runtime = FunctionRuntime({"ConsumerFunction": template.functions["ConsumerFunction"]})
        subscriptions = {s.queue_id: s for s in template.queue_subscriptions}
        self.runners = {
            queue_id: QueueRunner(s, template.queues[queue_id], queues.get(queue_id), self.runtime)
            for queue_id, s in subscriptions.items()
        }

    def send(self, queue_id: str, *outcomes: str, group: str | None = None) -> list[str]:
        queue = self.queues.get(queue_id)
        return [
            queue.send(json.dumps({"outcome": outcome, "n": uuid.uuid4().hex}), group_id=group)
            for i, outcome in enumerate(outcomes)
        ]

    def run_once(self, queue_id: str) -> BatchOutcome:
        return asyncio.run(self.runners[queue_id].run_once(wait_seconds=0))

    def batches(self) -> list[list[dict[str, Any]]]:
        return list(self.runtime.module("ConsumerFunction").batches)

    def depth(self, queue_id: str) -> int:
        return self.queues.get(queue_id).approximate_depth()


@pytest.fixture
def harness(gateway_template: Template, tmp_path: Path) -> Iterator[Harness]:
    queues = SqliteQueues(tmp_path / "queues.db", gateway_template.queue_definitions())
    yield Harness(gateway_template, queues)
    queues.close()


def test_successes_are_deleted_and_records_look_like_lambdas(harness: Harness) -> None:
    ids = harness.send("WorkQueue", "ok", "ok", "ok")
    assert harness.run_once("WorkQueue") == BatchOutcome(received=3, deleted=3, failed=0)
    assert harness.depth("WorkQueue") == 0
    (batch,) = harness.batches()
    SqsModel.model_validate({"Records": batch})
    assert [r["messageId"] for r in batch] == ids
    record = batch[0]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:000000000000:WorkQueue"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"].isdigit()
    assert "MessageGroupId" not in record["attributes"]


def test_batches_hold_at_most_batch_size_records(harness: Harness) -> None:
    harness.send("WorkQueue", *["ok"] * 7)
    assert harness.run_once("WorkQueue").received == 5  # BatchSize: 5
    assert harness.run_once("WorkQueue").received == 2


def test_reported_failures_are_retried_then_dead_lettered(harness: Harness) -> None:
    ok_id, failing_id = harness.send("WorkQueue", "ok", "fail")
    assert harness.run_once("WorkQueue") == BatchOutcome(received=2, deleted=1, failed=1)
    assert harness.run_once("WorkQueue") == BatchOutcome(received=1, deleted=0, failed=1)
    retried = harness.batches()[-1][0]
    assert retried["messageId"] == failing_id and retried["attributes"]["ApproximateReceiveCount"] == "2"
    # maxReceiveCount is 2: the next receive moves it to the DLQ instead of delivering it.
    assert harness.run_once("WorkQueue") == BatchOutcome(0, 0, 0)
    (dead,) = harness.queues.get("WorkDlq").receive(max_messages=10)
    assert dead.message_id == failing_id != ok_id


def test_a_raised_exception_fails_the_whole_batch(harness: Harness) -> None:
    harness.send("WorkQueue", "ok", "raise")
    assert harness.run_once("WorkQueue") == BatchOutcome(received=2, deleted=0, failed=2)
    assert harness.depth("WorkQueue") == 2


def test_without_report_batch_item_failures_the_response_is_ignored(harness: Harness) -> None:
    harness.send("PlainQueue", "ok", "fail")
    assert harness.run_once("PlainQueue") == BatchOutcome(received=2, deleted=2, failed=0)


def test_fifo_keeps_a_failed_record_and_the_rest_of_its_group(harness: Harness) -> None:
    first = harness.send("OrderQueue", "ok", "fail", group="A")
    other = harness.send("OrderQueue", "ok", group="B")
    last = harness.queues.get("OrderQueue").send(json.dumps({"outcome": "ok", "n": 9}), group_id="A")
    assert harness.run_once("OrderQueue") == BatchOutcome(received=4, deleted=2, failed=2)
    batch = harness.batches()[-1]
    assert [r["messageId"] for r in batch] == [*first, *other, last]
    assert [r["attributes"]["MessageGroupId"] for r in batch] == ["A", "A", "B", "A"]
    # The failed record and the later one of its group come back, in order.
    harness.run_once("OrderQueue")
    retried = harness.batches()[-1]
    assert [r["messageId"] for r in retried] == [first[1], last]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in retried] == ["2", "2"]


def records(*groups: str | None) -> list[dict[str, Any]]:
    return [
        {"messageId": f"m{i}", "attributes": {"MessageGroupId": g} if g else {}} for i, g in enumerate(groups)
    ]


@pytest.mark.parametrize("result", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_empty_responses_mean_success(result: Any) -> None:
    assert failed_ids(result, records(None, None), fifo=False) == set()


@pytest.mark.parametrize(
    "result",
    [
        "ok",
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "m0"}]},
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
    ],
)
def test_responses_lambda_cannot_read_fail_the_batch(result: Any) -> None:
    with pytest.raises(MalformedBatchResponse):
        failed_ids(result, records(None, None), fifo=False)


def test_fifo_failures_block_only_later_records_of_the_same_group() -> None:
    batch = records("A", "B", "A", "B", "A")
    result = {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert failed_ids(result, batch, fifo=True) == {"m2", "m4"}
    assert failed_ids(result, batch, fifo=False) == {"m2"}


def test_the_running_gateway_consumes_its_queues_in_the_background(gateway: RunningGateway) -> None:
    assert gateway.queues is not None
    message_id = gateway.queues.get("WorkQueue").send(json.dumps({"outcome": "ok", "n": "background"}))
    consumer = gateway.module("ConsumerFunction")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(r["messageId"] == message_id for batch in consumer.batches for r in batch):
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the queue runner never delivered the message")
    while gateway.queues.get("WorkQueue").approximate_depth() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gateway.queues.get("WorkQueue").approximate_depth() == 0
