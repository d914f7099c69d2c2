"""Test handler that leaves markers in the data dir and takes its time (for the drain test)."""

import os
import pathlib
import time


def handler(event, context):
    data = pathlib.Path(os.environ["WAGATE_DATA_DIR"])
    if "Records" in event:
        (data / "batch-started").touch()
        time.sleep(1.5)
        (data / "batch-finished").touch()
        return None
    (data / "request-started").touch()
    time.sleep(float(event["queryStringParameters"]["seconds"]))
    return {"statusCode": 200, "body": "finished"}
