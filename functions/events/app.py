"""Lambda handler of the events queue: persist what the connector reports, then tell the dashboards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

from wagate.compose import services
from wagate.observability import flushes_metrics, logger, traced

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

# FIFO: after a failed record, the rest of its batch is reported failed too, so each session's events
# stay in order when SQS redelivers them.
processor = SqsFifoPartialProcessor()


def record_handler(record: SQSRecord) -> None:
    root = services()
    root.events.handle(root.ports.open_body(record.body))


@logger.inject_lambda_context(clear_state=True)
@flushes_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
