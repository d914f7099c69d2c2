"""Lambda handler of the delay queue: when a scheduled message's delay ends, hand it to the connector; when
a broadcast's step is due, turn its next recipients into messages (services/broadcasts.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from wagate.compose import services
from wagate.observability import logger, traced
from wagate.services import broadcasts, scheduler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    root = services()
    body = root.ports.open_body(record.body)
    request = json.loads(body)
    if broadcasts.is_step(request):
        root.broadcasts.step(request["tenant_id"], request["broadcast_id"])
        return
    scheduler.forward(root.ports.table, root.messages, body)


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
