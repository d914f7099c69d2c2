"""Number pools: CRUD, tenant isolation, and which number a pooled send goes out from (priority, failover,
least recently used, pacing budget)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.clock import FakeClock
from tests.functions.test_messages_api import drain
from tests.functions.test_sessions_api import deliver
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.compose import pool_service
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.pools import NewPool, PoolMember
from wagate.domain.tenants import Scope
from wagate.services import tenants
from wagate.services.pools import PoolService


@pytest.fixture
def clock(local_deps: wiring.Deps) -> Iterator[FakeClock]:
    """Moved by hand between sends, so "least recently used" never depends on timer resolution."""
    fake = FakeClock()
    wiring.install(dataclasses.replace(local_deps, clock=fake))  # type: ignore[arg-type]
    yield fake


@pytest.fixture
def call(functions: dict[str, Any], clock: FakeClock) -> ApiCaller:
    return ApiCaller(functions["api"], functions["authorizer"])


@pytest.fixture
def key(clock: FakeClock) -> str:
    d = wiring.deps()
    return tenants.create_tenant(d.table, d.clock, "Rarity Leads")[1]


@pytest.fixture
def numbers(call: ApiCaller, key: str, functions: dict[str, Any]) -> list[str]:
    """Three connected sandbox numbers."""
    ids = []
    for name in ("A", "B", "C"):
        body = call("POST", "/v1/sessions", key, body={"name": name, "provider": "sandbox"})[1]
        drain(body["id"])
        ids.append(body["id"])
        move(functions, body, EventType.CONNECTION_SUCCESS)
    return ids


def move(functions: dict[str, Any], session: dict[str, Any], kind: EventType, **data: Any) -> None:
    event = SessionEvent(
        type=kind, tenant_id=session["tenant_id"], session_id=session["id"], fence=1, at=1.0, data=data
    )
    assert deliver(functions, event) == {"batchItemFailures": []}


def pool(call: ApiCaller, key: str, name: str, *members: tuple[str, int]) -> dict[str, Any]:
    body = {"name": name, "members": [{"session_id": s, "priority": p} for s, p in members]}
    status, created, _ = call("POST", "/v1/pools", key, body=body)
    assert status == 201, created
    return dict(created)


def send_via(call: ApiCaller, key: str, name: str, clock: FakeClock, **extra: Any) -> tuple[int, Any]:
    clock.advance(1)
    body = {"pool": name, "to": "+34600123456", "text": "Hola", **extra}
    status, answer, _ = call("POST", "/v1/messages", key, body=body)
    return status, answer


def is_error(body: Any, code: str) -> bool:
    return (
        set(body) == {"error"}
        and set(body["error"]) == {"code", "message", "details"}
        and (body["error"]["code"] == code)
    )


def test_create_get_list_replace_delete(call: ApiCaller, key: str, numbers: list[str]) -> None:
    a, b, c = numbers
    created = pool(call, key, "spring-campaign", (a, 1), (b, 2))
    assert [(m["session_id"], m["priority"], m["status"]) for m in created["members"]] == [
        (a, 1, "connected"),
        (b, 2, "connected"),
    ]
    status, again, _ = call(
        "POST", "/v1/pools", key, body={"name": "spring-campaign", "members": [{"session_id": c}]}
    )
    assert status == 409 and is_error(again, "pool_exists")
    assert call("GET", "/v1/pools/spring-campaign", key)[1]["members"] == created["members"]
    status, replaced, _ = call(
        "PUT", "/v1/pools/spring-campaign", key, body={"members": [{"session_id": c, "priority": 3}]}
    )
    assert status == 200 and [m["session_id"] for m in replaced["members"]] == [c]
    pool(call, key, "autumn", (a, 1))
    assert [p["name"] for p in call("GET", "/v1/pools", key)[1]["items"]] == ["autumn", "spring-campaign"]
    status, _, _ = call("DELETE", "/v1/pools/spring-campaign", key)
    assert status == 204
    status, gone, _ = call("GET", "/v1/pools/spring-campaign", key)
    assert status == 404 and is_error(gone, "not_found") and "spring-campaign" in gone["error"]["message"]
    assert call("DELETE", "/v1/pools/spring-campaign", key)[0] == 404
    assert call("PUT", "/v1/pools/nope", key, body={"members": [{"session_id": a}]})[0] == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "Spring Campaign", "members": [{"session_id": "{a}"}]}, "name"),
        ({"name": "spring", "members": []}, "members"),
        ({"name": "spring", "members": [{"session_id": "{a}"}, {"session_id": "{a}"}]}, "listed twice"),
        ({"name": "spring", "members": [{"session_id": "{a}", "priority": 0}]}, "priority"),
        ({"name": "spring", "members": [{"session_id": "ses_nope"}]}, "members[0].session_id"),
        ({"name": "spring", "members": [{"session_id": "{a}"}, {"session_id": "{foreign}"}]}, "members[1]"),
    ],
)
def test_bad_pools_are_clear_and_store_nothing(
    call: ApiCaller, key: str, numbers: list[str], body: dict[str, Any], needle: str
) -> None:
    d = wiring.deps()
    other = tenants.create_tenant(d.table, d.clock, "Other")[1]
    foreign = call("POST", "/v1/sessions", other, body={"name": "X", "provider": "sandbox"})[1]["id"]
    for member in body["members"]:
        member["session_id"] = member["session_id"].format(a=numbers[0], foreign=foreign)
    status, error, _ = call("POST", "/v1/pools", key, body=body)
    assert status == 422, error
    assert set(error) == {"error"} and needle in str(error["error"]), error
    assert call("GET", "/v1/pools", key)[1]["items"] == []


def test_another_tenants_pool_is_not_found(
    call: ApiCaller, key: str, numbers: list[str], clock: FakeClock
) -> None:
    pool(call, key, "mine", (numbers[0], 1))
    d = wiring.deps()
    other = tenants.create_tenant(d.table, d.clock, "Other")[1]
    for method, body in (("GET", None), ("PUT", {"members": [{"session_id": numbers[0]}]}), ("DELETE", None)):
        status, error, _ = call(method, "/v1/pools/mine", other, body=body)
        assert status == 404 and is_error(error, "not_found"), (method, error)
    status, error = send_via(call, other, "mine", clock)
    assert status == 404 and "pool mine" in error["error"]["message"]
    assert call("GET", "/v1/messages", other)[1]["items"] == []
    assert call("GET", "/v1/pools/mine", key)[0] == 200


def test_priority_then_failover_when_a_number_drops(
    call: ApiCaller, key: str, numbers: list[str], functions: dict[str, Any], clock: FakeClock
) -> None:
    a, b, _ = numbers
    tenant = call("GET", f"/v1/sessions/{a}", key)[1]["tenant_id"]
    pool(call, key, "campaign", (a, 2), (b, 1))
    assert send_via(call, key, "campaign", clock)[1]["session_id"] == b  # priority 1 first
    move(functions, {"tenant_id": tenant, "id": b}, EventType.CONNECTION_LOST, reason="network")
    assert send_via(call, key, "campaign", clock)[1]["session_id"] == a  # b dropped: fail over to a
    move(functions, {"tenant_id": tenant, "id": a}, EventType.SESSION_STATUS, status="connecting")
    # None connected: the best transient one keeps the message until it is back.
    status, queued = send_via(call, key, "campaign", clock)
    assert status == 202 and queued["session_id"] == b and queued["status"] == "queued"
    move(functions, {"tenant_id": tenant, "id": b}, EventType.LOGGED_OUT, reason="unlinked")
    assert send_via(call, key, "campaign", clock)[1]["session_id"] == a
    move(functions, {"tenant_id": tenant, "id": a}, EventType.SESSION_FAILED, reason="banned")
    before = call("GET", "/v1/messages", key)[1]["items"]
    for extra in ({}, {"scheduled_at": clock.now() + 3600}):
        status, error = send_via(call, key, "campaign", clock, **extra)
        assert status == 409 and is_error(error, "no_connected_number"), error
        assert (
            f"{a} is failed" in error["error"]["message"]
            and f"{b} is logged_out" in error["error"]["message"]
        )
        assert error["error"]["details"]["members"] == [
            {"session_id": a, "status": "failed"},
            {"session_id": b, "status": "logged_out"},
        ]
    assert call("GET", "/v1/messages", key)[1]["items"] == before


def test_equal_priorities_share_the_load_least_recently_used_first(
    call: ApiCaller, key: str, numbers: list[str], clock: FakeClock
) -> None:
    a, b, c = numbers
    pool(call, key, "even", (a, 1), (b, 1), (c, 1))
    picked = [send_via(call, key, "even", clock)[1]["session_id"] for _ in range(5)]
    assert picked == [a, b, c, a, b]
    last_used = {m["session_id"]: m["last_used_at"] for m in call("GET", "/v1/pools/even", key)[1]["members"]}
    assert last_used[c] < last_used[a] < last_used[b]


def test_numbers_that_cannot_send_are_never_picked(
    call: ApiCaller, key: str, numbers: list[str], clock: FakeClock
) -> None:
    pending = call("POST", "/v1/sessions", key, body={"name": "New", "provider": "sandbox"})[1]["id"]
    drain(pending)
    doomed = numbers[2]
    pool(call, key, "mixed", (pending, 1), (doomed, 1), (numbers[1], 5))
    assert call("DELETE", f"/v1/sessions/{doomed}", key)[0] == 204
    members = call("GET", "/v1/pools/mixed", key)[1]["members"]
    assert [m["status"] for m in members] == ["pending", None, "connected"]
    assert send_via(call, key, "mixed", clock)[1]["session_id"] == numbers[1]
    pool(call, key, "waiting", (pending, 1))
    status, error = send_via(call, key, "waiting", clock)
    assert (
        status == 409 and is_error(error, "no_connected_number") and "is pending" in error["error"]["message"]
    )


def test_a_scheduled_pooled_message_keeps_its_number(
    call: ApiCaller, key: str, numbers: list[str], clock: FakeClock
) -> None:
    pool(call, key, "later", (numbers[1], 1))
    status, message = send_via(call, key, "later", clock, scheduled_at=clock.now() + 3600)
    assert status == 202 and message["status"] == "scheduled" and message["session_id"] == numbers[1]


def test_scopes(call: ApiCaller, key: str, numbers: list[str], clock: FakeClock) -> None:
    d = wiring.deps()
    tenant = call("GET", f"/v1/sessions/{numbers[0]}", key)[1]["tenant_id"]
    pool(call, key, "p", (numbers[0], 1))
    reader = tenants.create_key(d.table, d.clock, tenant, "reader", [Scope.READ])[1]
    assert call("GET", "/v1/pools/p", reader)[0] == 200
    status, error, _ = call("DELETE", "/v1/pools/p", reader)
    assert status == 403 and is_error(error, "forbidden")
    sender = tenants.create_key(d.table, d.clock, tenant, "sender", [Scope.SEND])[1]
    assert send_via(call, sender, "p", clock)[0] == 202


def test_pacing_budget_breaks_ties_when_known_for_all(call: ApiCaller, key: str, numbers: list[str]) -> None:
    a, b, c = numbers
    d = wiring.deps()
    tenant = call("GET", f"/v1/sessions/{a}", key)[1]["tenant_id"]
    budgets: dict[str, float | None] = {a: 1.0, b: 9.0, c: 5.0}
    service = PoolService(d.table, d.clock, pool_service().sessions, budget=lambda _t, s: budgets[s])
    service.create(tenant, NewPool(name="paced", members=[PoolMember(session_id=s) for s in numbers]))
    assert service.pick(tenant, "paced").session.id == b  # the most sends left
    budgets[c] = None  # no pacing data for one of them: least recently used (none used yet: list order)
    assert service.pick(tenant, "paced").session.id == a
