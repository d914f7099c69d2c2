"""ScalingConfig.MaximumConcurrency on an SQS event: Lambda runs that many batches at once; so do we."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from local.runner import MAX_LOCAL_POLLERS, LocalRunner, bind
from local.template import load_template
from wagate.adapters.local.sqlite_queue import SqliteQueues

ROOT = Path(__file__).resolve().parents[2]


def test_each_subscription_gets_as_many_pollers_as_its_maximum_concurrency(tmp_path: Path) -> None:
    template = load_template(ROOT / "template.yaml")
    concurrency = {s.name: s.max_concurrency for s in template.queue_subscriptions}
    assert concurrency["WebhooksOutFunction.Attempts"] == 10
    assert concurrency["EventsFunction.Events"] == 1  # no ScalingConfig: one batch at a time, as before
    queues = SqliteQueues(tmp_path / "queues.db", template.queue_definitions())
    listener = bind("127.0.0.1", 0)
    try:
        runner = LocalRunner(template, listener, queues=queues)
        pollers = Counter(r.subscription.name for r in runner.queue_runners)
        assert pollers["WebhooksOutFunction.Attempts"] == min(10, MAX_LOCAL_POLLERS)
        assert pollers["EventsFunction.Events"] == 1 and pollers["DispatcherFunction.Due"] == 1
    finally:
        listener.close()
        queues.close()
