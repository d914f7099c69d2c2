"""Test WebSocket handler for every route: records each event; behaviour is chosen by the client."""

import json

from ws_records import _lock, events  # one record shared by every warm container of this function


def handler(event, context):
    with _lock:
        events.append(event)
    route = event["requestContext"]["routeKey"]
    if route == "$connect":
        query = event.get("queryStringParameters") or {}
        if query.get("refuse") == "yes":
            return {"statusCode": 401}
        if query.get("crash") == "yes":
            raise RuntimeError("connect failed on purpose")
        return {"statusCode": 200}
    if route == "echo":
        return {"statusCode": 200, "body": json.dumps({"echo": json.loads(event["body"])})}
    if route == "$default" and event.get("body") == "raise":
        raise RuntimeError("message failed on purpose")
    return {"statusCode": 200}
