"""Test HTTP API authorizer (payload 2.0, simple responses), driven by the X-Token header."""

import threading

calls = []
_lock = threading.Lock()


def handler(event, context):
    with _lock:
        calls.append(event)
    token = (event.get("headers") or {}).get("x-token", "")
    if token == "boom":
        raise RuntimeError("the authorizer failed on purpose")
    if token == "malformed":
        return {"isAuthorized": "yes"}
    if token == "bad":
        return {"isAuthorized": False}
    who = "alice" if token == "good" else "anonymous"
    return {"isAuthorized": True, "context": {"who": who, "level": 3}}
