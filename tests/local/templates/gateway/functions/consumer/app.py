"""Test SQS consumer: each record's JSON body says how it goes ("ok", "fail" or "raise")."""

import json

from consumer_records import _lock, batches  # one record shared by every warm container of this function


def handler(event, context):
    records = event["Records"]
    with _lock:
        batches.append(records)
    failures = []
    for record in records:
        outcome = json.loads(record["body"]).get("outcome", "ok")
        if outcome == "raise":
            raise RuntimeError("the whole batch fails on purpose")
        if outcome == "fail":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
