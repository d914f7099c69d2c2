"""Lambda handler of the dashboard WebSocket API: $connect checks the token, $default (un)subscribes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from wagate.compose import services
from wagate.domain.errors import Gone, InvalidInput, Unauthenticated
from wagate.observability import logger, traced
from wagate.services import realtime

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route, connection_id = request.get("routeKey"), str(request.get("connectionId"))
    d = services().ports
    if route == "$connect":
        token = (event.get("queryStringParameters") or {}).get("token")
        try:
            tenant_id = realtime.connect(d.table, d.clock, connection_id, token)
        except Unauthenticated as exc:
            logger.info("dashboard socket refused", extra={"reason": exc.code})
            return {"statusCode": 401, "body": exc.message}
        logger.append_keys(tenant_id=tenant_id)
        return {"statusCode": 200}
    if route == "$disconnect":
        realtime.disconnect(d.table, connection_id)
        return {"statusCode": 200}
    try:
        reply = realtime.handle_message(d.table, connection_id, event.get("body"))
    except InvalidInput as exc:
        reply = {"event": "error", "data": {"code": exc.code, "message": exc.message}}
    except Gone:
        return {"statusCode": 410}
    if d.push is not None:
        try:
            d.push.post(connection_id, json.dumps(reply).encode())
        except Gone:
            realtime.disconnect(d.table, connection_id)
    return {"statusCode": 200}
