"""Test scheduled handler: records what each run received."""

import threading

runs = []
_lock = threading.Lock()


def handler(event, context):
    with _lock:
        runs.append(event)
    return {"swept": len(runs)}
