"""Lambda handler of Meta's webhooks (GET/POST /webhooks/meta, public: Meta signs, no API key is asked).

The raw body (base64-decoded when API Gateway encoded it) and the headers go to the service untouched:
the signature is over those exact bytes. The service answers (status, body); this only translates it.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from wagate.cloud.webhooks import WebhookResponse
from wagate.compose import services
from wagate.observability import flushes_metrics, logger, traced

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Meta documents webhook payloads of up to 3 MB; refusing one makes Meta retry it for days.
MAX_BODY_BYTES = 3 * 1024 * 1024


@logger.inject_lambda_context(clear_state=True, correlation_id_path="requestContext.requestId")
@flushes_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.thread_safe_clear_keys()  # `wagate serve` runs concurrent invocations in one process
    root = services()
    service = root.meta_webhooks
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST")
    if method == "GET":
        response = service.verify(event.get("queryStringParameters") or {})
    else:
        raw = _raw_body(event)
        if len(raw) > MAX_BODY_BYTES:
            response = WebhookResponse(413, b"the body is over Meta's documented 3 MB")
        else:
            response = service.receive(raw, event.get("headers") or {})
    return {
        "statusCode": response.status,
        "headers": {"Content-Type": response.content_type},
        "body": response.body.decode("utf-8", "replace"),
        "isBase64Encoded": False,
    }


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode("utf-8")
