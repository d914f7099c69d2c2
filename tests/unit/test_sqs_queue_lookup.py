"""SQS queues are found by their URL variable, or by the stack's name prefix (the shard queues)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from wagate.adapters.aws.sqs_queue import SqsQueues
from wagate.domain.errors import NotFound


@mock_aws
def test_queues_by_variable_or_by_stack_name() -> None:
    client = boto3.client("sqs", region_name="eu-west-1")
    fifo = {"FifoQueue": "true"}
    events = client.create_queue(QueueName="other.fifo", Attributes=fifo)["QueueUrl"]
    shard = client.create_queue(QueueName="wagate-CommandQueue2.fifo", Attributes=fifo)["QueueUrl"]
    queues = SqsQueues(lambda: client, env={"EVENTS_QUEUE_URL": events}, name_prefix="wagate-")
    assert queues.get("EventsQueue").fifo
    found = queues.get("CommandQueue2")
    assert found.fifo and found.url == shard
    found.send("hello", group_id="s1", dedup_id="d1")
    assert [m.body for m in found.receive()] == ["hello"]
    with pytest.raises(NotFound, match="WAGATE_QUEUE_NAME_PREFIX"):
        queues.get("CommandQueue9")
    with pytest.raises(NotFound):
        SqsQueues(lambda: client, env={}).get("CommandQueue2")
