"""Test HTTP API authorizer (payload 2.0, simple responses), driven by the X-Token header."""

from authorizer_records import _lock, calls  # one record shared by every warm container of this function


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
