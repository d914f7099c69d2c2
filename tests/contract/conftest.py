"""Fixtures for the contract suites: each port's adapters, built from one shared description."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from wagate.adapters.aws.sqs_queue import SqsQueues, url_variable
from wagate.adapters.local.sqlite_queue import QueueDefinition, SqliteQueues
from wagate.ports import Queues

# ---- queues -----------------------------------------------------------------------------------------

# Short visibility timeouts: moto runs visibility on the real clock.
QUEUE_DEFINITIONS: dict[str, QueueDefinition] = {
    definition.name: definition
    for definition in (
        QueueDefinition("StandardQueue", fifo=False, visibility_timeout=1),
        QueueDefinition("OrderedQueue", fifo=True, visibility_timeout=1),
        QueueDefinition("ExplicitDedupQueue", fifo=True, visibility_timeout=1, content_based_dedup=False),
        QueueDefinition("RetriedQueue", fifo=False, visibility_timeout=1, dlq="RetriedDLQ", max_receives=2),
        QueueDefinition("RetriedDLQ", fifo=False, visibility_timeout=1),
        QueueDefinition(
            "RetriedOrderedQueue", fifo=True, visibility_timeout=1, dlq="RetriedOrderedDLQ", max_receives=2
        ),
        QueueDefinition("RetriedOrderedDLQ", fifo=True, visibility_timeout=1),
    )
}


def create_sqs_queues(client: Any, definitions: Mapping[str, QueueDefinition]) -> dict[str, str]:
    """Create one SQS queue per definition, with the attributes it describes; returns the URL env vars."""
    env: dict[str, str] = {}
    arns: dict[str, str] = {}
    # Dead-letter queues first: a RedrivePolicy names its DLQ by ARN.
    for definition in sorted(definitions.values(), key=lambda d: d.dlq is not None):
        attributes = {"VisibilityTimeout": str(definition.visibility_timeout)}
        if definition.fifo:
            attributes["FifoQueue"] = "true"
            attributes["ContentBasedDeduplication"] = str(definition.content_based_dedup).lower()
        if definition.dlq is not None:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[definition.dlq], "maxReceiveCount": definition.max_receives}
            )
        name = definition.name + (".fifo" if definition.fifo else "")
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arns[definition.name] = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        env[url_variable(definition.name)] = url
    return env


@pytest.fixture
def queues_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can reach a real account."""
    for variable in ("AWS_PROFILE", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.fixture(params=["sqlite", "sqs"])
def queue_adapter(request: pytest.FixtureRequest) -> str:
    """Which Queue adapter a contract test runs against."""
    return str(request.param)


@pytest.fixture
def queues_port(queue_adapter: str, tmp_path: Path, queues_aws_credentials: None) -> Iterator[Queues]:
    """The Queues port, every queue of QUEUE_DEFINITIONS present and empty."""
    if queue_adapter == "sqlite":
        local = SqliteQueues(tmp_path / "queues.db", QUEUE_DEFINITIONS)
        yield local
        local.close()
        return
    with mock_aws():
        client = boto3.client("sqs", region_name="eu-west-1")
        env = create_sqs_queues(client, QUEUE_DEFINITIONS)
        yield SqsQueues(lambda: client, env)
