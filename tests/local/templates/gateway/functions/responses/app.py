"""Test handler: returns each kind of result a payload 2.0 integration can return."""

import base64
import datetime

PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF, 0xFE])


def handler(event, context):
    kind = event["pathParameters"]["kind"]
    if kind == "bare-dict":
        return {"hello": "world"}
    if kind == "bare-str":
        return "plain text"
    if kind == "full":
        return {
            "statusCode": 201,
            "headers": {"X-One": "1", "Content-Type": "text/plain"},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
            "cookies": ["a=1", "b=2; Path=/"],
            "body": "created",
        }
    if kind == "binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "body": base64.b64encode(PNG).decode(),
            "isBase64Encoded": True,
        }
    if kind == "raise":
        raise RuntimeError("the handler failed on purpose")
    if kind == "malformed":
        return {"statusCode": "teapot"}
    if kind == "unserializable":
        return {"statusCode": 200, "body": datetime.datetime.now()}
    return {"statusCode": 400, "body": "unknown kind"}
