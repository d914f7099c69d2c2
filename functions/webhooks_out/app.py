"""Lambda handler of the webhooks queue: one attempt per record, every record of a batch at once.

The records of a batch are independent deliveries (to one CRM or to several), so they run in parallel
threads: a CRM that takes its whole timeout holds up no other record. Failed records are reported with
ReportBatchItemFailures; an attempt the CRM refused is not a failure here (it was recorded and its
retry queued), only storage or queue trouble is.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)

from wagate.compose import services
from wagate.observability import logger, traced

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A processor and a pool per invocation: `wagate serve` may run several batches of this function
    # at once (ScalingConfig), and a processor keeps the batch it works on.
    processor = AsyncBatchProcessor(event_type=EventType.SQS)
    attempts = services().webhook_attempts
    opened = services().ports.open_body
    with ThreadPoolExecutor(max_workers=max(1, len(event.get("Records") or ()))) as pool:

        async def record_handler(record: SQSRecord) -> None:
            await asyncio.get_running_loop().run_in_executor(pool, attempts.process, opened(record.body))

        response = async_process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    return dict(response)
