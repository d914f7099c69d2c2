"""Test handler: answers with the event and context it was given (and proves sibling imports work)."""

import json

from echo_shape import describe_context


def handler(event, context):
    body = {"event": event, "context": describe_context(context)}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
