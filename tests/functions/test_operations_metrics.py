"""The metrics template.yaml alarms on, as the functions emit them (EMF on stdout): session status changes
by status and reason (bans, logouts), counted once per change, the sweeper's count of shards without a
live connector and its sessions by status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.leases import Leases, LeaseTimes, shard_lease_key
from tests.functions.test_sessions_api import deliver
from tests.support.lambdas import ApiCaller, LambdaContext
from wagate import wiring
from wagate.domain.events import EventType, SessionEvent


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """Metric name (`name{label=value,...}` for a labelled one) → sum of the values printed since the last
    call. Every record is in namespace wagate with dimension service (and its labels)."""
    totals: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "wagate" and all(
                d[0] == "service" for d in directive["Dimensions"]
            )
            labels = ",".join(f"{k}={record[k]}" for k in directive["Dimensions"][-1][1:])
            for metric in directive["Metrics"]:
                values = record[metric["Name"]]
                name = f"{metric['Name']}{{{labels}}}" if labels else metric["Name"]
                totals[name] = totals.get(name, 0) + sum(values if isinstance(values, list) else [values])
        assert record["service"] == "wagate"
    return totals


def event(session: dict[str, Any], kind: EventType, fence: int, **data: Any) -> SessionEvent:
    return SessionEvent(
        type=kind, tenant_id=session["tenant_id"], session_id=session["id"], fence=fence, at=1.0, data=data
    )


def test_bans_and_logouts_are_counted_once_by_status_and_reason(
    call: ApiCaller, key: str, functions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    a = call("POST", "/v1/sessions", key, body={"name": "A", "provider": "sandbox"})[1]
    b = call("POST", "/v1/sessions", key, body={"name": "B", "provider": "sandbox"})[1]
    deliver(functions, event(a, EventType.CONNECTION_SUCCESS, 1), event(b, EventType.CONNECTION_SUCCESS, 1))
    connected = "wagate_session_status_changes_total{status=connected,reason=none}"
    assert emitted(capsys)[connected] == 2
    banned = event(a, EventType.SESSION_FAILED, 1, reason="temporarily_banned", detail="402")
    assert deliver(functions, banned) == {"batchItemFailures": []}
    assert emitted(capsys) == {
        "wagate_session_status_changes_total{status=failed,reason=temporarily_banned}": 1
    }
    assert deliver(functions, banned) == {"batchItemFailures": []}  # SQS redelivers it
    assert emitted(capsys) == {}
    deliver(functions, event(b, EventType.LOGGED_OUT, 1, reason="logged_out", detail="unlinked"))
    assert emitted(capsys) == {"wagate_session_status_changes_total{status=logged_out,reason=logged_out}": 1}


def test_the_sweeper_counts_shards_without_a_live_owner(
    local_deps: wiring.Deps, functions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    shards = local_deps.settings.shards
    capsys.readouterr()
    assert functions["sweeper"].lambda_handler({}, LambdaContext())["shards_without_owner"] == shards
    counted = emitted(capsys)
    assert counted["ShardsWithoutOwner"] == counted["wagate_shards_without_owner"] == shards
    assert counted["wagate_sessions{status=connected}"] == 0
    leases = Leases(local_deps.table, local_deps.clock, "connector-1")
    for shard in range(shards - 1):
        assert leases.acquire(shard_lease_key(shard), LeaseTimes.for_ttl(30)) is not None
    assert functions["sweeper"].lambda_handler({}, LambdaContext())["shards_without_owner"] == 1
    counted = emitted(capsys)
    assert counted["ShardsWithoutOwner"] == counted["wagate_shards_without_owner"] == 1
