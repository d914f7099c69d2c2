"""Test WebSocket $connect authorizer (REQUEST type, IAM policy responses)."""


def handler(event, context):
    token = (event.get("queryStringParameters") or {}).get("token")
    if token == "boom":
        raise RuntimeError("the authorizer failed on purpose")
    effect = "Allow" if token == "good" else "Deny"
    return {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}],
        },
        "context": {"user": "alice", "plan": "pro"},
    }
