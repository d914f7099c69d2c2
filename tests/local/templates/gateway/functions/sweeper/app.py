"""Test scheduled handler: records what each run received."""

from sweeper_records import _lock, runs  # one record shared by every warm container of this function


def handler(event, context):
    with _lock:
        runs.append(event)
    return {"swept": len(runs)}
