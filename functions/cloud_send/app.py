"""Lambda handler of the Cloud API command queue: sends, read receipts and token checks of cloud sessions.

Records are independent (a standard queue), so each is its own item: a record that raises (storage,
queue or a Graph outage on a token check) is reported failed and SQS redelivers it; a send's own retries
and pacing waits go back to the queue with a delay (cloud/sends.py), never as failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from wagate.compose import services
from wagate.observability import flushes_metrics, logger, traced

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@flushes_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Per invocation: `wagate serve` may run several batches at once, and a processor keeps its batch.
    processor = BatchProcessor(event_type=EventType.SQS)
    commands = services().cloud_commands

    def record_handler(record: SQSRecord) -> None:
        commands.handle(services().ports.open_body(record.body))

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
