"""Suspend and resume cut short after every one of their writes (table writes and the connector commands
they queue: a Lambda timeout, a crash), on both
backends (SQLite, DynamoDB under moto): the same call again answers the tenant and leaves exactly what an
uninterrupted call leaves — keys, session and lease marks, which sessions are stopped and started again
(not one a person stopped, nor a logged-out one), the broadcast, the commands the connector gets — and the
other action waits (409 `busy`) while a cut-short one may still run, then takes it over."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connector.leases import Leases, LeaseTimes, session_lease_key
from tests.fakes.clock import FakeClock
from tests.support.aws_template import create_tables
from tests.support.crashing import Crash, CrashingQueues, CrashingTable
from wagate import compose, wiring
from wagate.adapters.aws.dynamodb_table import DynamoTable
from wagate.conditions import SortKey
from wagate.domain.broadcasts import BroadcastRequest, Recipient
from wagate.domain.errors import ConflictError
from wagate.domain.events import Command
from wagate.domain.sessions import Provider
from wagate.domain.tenants import Tenant
from wagate.ports import Item
from wagate.services import suspension, tenants
from wagate.services.sessions import command_queue
from wagate.services.suspension import LEASE_SECONDS
from wagate.store import keys
from wagate.store.content_cipher import ContentCipher
from wagate.store.sealed_table import SealedTable
from wagate.store.sessions import SessionRepository
from wagate.store.tenant_keys import TenantKeys

ROLES = ("running", "linked", "stopped_by_person", "logged_out")


@dataclasses.dataclass
class World:
    deps: wiring.Deps
    table: CrashingTable
    clock: FakeClock
    # Crash after every write, or every other one (moto is slow; a step always has a write and a progress
    # write, so every step is still cut short somewhere).
    stride: int = 1

    @property
    def services(self) -> compose.Services:
        return compose.services(self.deps)


@pytest.fixture(params=["sqlite", "dynamodb"])
def world(
    request: pytest.FixtureRequest, local_deps: wiring.Deps, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    clock = FakeClock()
    if request.param == "sqlite":
        # A progress write after every session: a cut-short step is carried on from the session after.
        monkeypatch.setattr(suspension, "BATCH", 1)
        crashing = CrashingTable(local_deps.table)
        queues = CrashingQueues(local_deps.queues, crashing)
        yield World(
            dataclasses.replace(local_deps, table=crashing, queues=queues, clock=clock), crashing, clock
        )
        return
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        dynamo = DynamoTable(create_tables(client)["Table"], lambda: client)
        tenant_keys = TenantKeys(dynamo, local_deps.crypto)
        crashing = CrashingTable(SealedTable(dynamo, ContentCipher(tenant_keys)))  # as on AWS
        queues = CrashingQueues(local_deps.queues, crashing)
        deps = dataclasses.replace(
            local_deps, table=crashing, queues=queues, tenant_keys=tenant_keys, clock=clock
        )
        yield World(deps, crashing, clock, stride=2)


def a_tenant(w: World) -> tuple[str, dict[str, str]]:
    """A tenant with two keys, a running broadcast, and a session in each role (two hold a lease)."""
    s = w.services
    tenant_id = tenants.create_tenant(w.table, w.clock, "Agency")[0].id
    tenants.create_key(w.table, w.clock, tenant_id, "spare", tenants.ALL_SCOPES)
    ids = {}
    for role in ROLES:
        made = s.sessions.create(tenant_id, name=role, provider=Provider.SANDBOX, phone=None, metadata={})
        ids[role] = made.id
    for role in ("running", "stopped_by_person"):
        lease = session_lease_key(tenant_id, ids[role])
        assert Leases(w.table, w.clock, "connector-1").acquire(lease, LeaseTimes.for_ttl(60)) is not None
    s.sessions.disconnect(tenant_id, ids["stopped_by_person"])
    rows = SessionRepository(w.table)
    rows.write_status(rows.get(tenant_id, ids["logged_out"]), {"status": "logged_out"})
    request = BroadcastRequest(
        session_id=ids["linked"], text="Hola", recipients=[Recipient(to="+34600123456")]
    )
    s.broadcasts.create(tenant_id, request)
    commands(w)  # what setting up asked of the connector
    return tenant_id, ids


def commands(w: World) -> list[Command]:
    """Takes every command queued for the connector, on every shard."""
    found = []
    for shard in range(w.deps.settings.shards):
        queue = w.deps.queues.get(command_queue(shard))
        while batch := queue.receive(max_messages=10):
            for message in batch:
                found.append(Command.model_validate_json(message.body))
                queue.delete(message.receipt)
    return found


def state(w: World, tenant_id: str, ids: dict[str, str], sent: list[Command]) -> dict[str, Any]:
    """What a suspend or resume leaves, by role (not by id: each run has a tenant of its own)."""
    row = w.table.get(*keys.tenant(tenant_id))
    assert row is not None
    at = row.get("suspended_at")
    role_of = {session_id: role for role, session_id in ids.items()}

    def mark(item: Item | None) -> str | None:
        if item is None or item.get("suspended_at") is None:
            return None
        return "the suspension's" if item["suspended_at"] == at else f"another: {item['suspended_at']}"

    key_rows = w.table.query(keys.api_keys_index(tenant_id), index="gsi1").items
    sessions = {}
    for role, session_id in ids.items():
        record = SessionRepository(w.table).get(tenant_id, session_id)
        lease = w.table.get(*keys.session_lease(tenant_id, session_id))
        sessions[role] = (
            record.desired,
            record.status.value,
            mark({"suspended_at": record.suspended_at}),
            mark(lease) if lease is not None else "no lease",
        )
    broadcasts, _ = w.services.broadcasts.list(tenant_id)
    audit = w.services.audit.page(tenant_id, limit=50).entries
    return {
        "tenant": {k: v for k, v in row.items() if k.startswith("pending") or k in ("status",)},
        "suspended": at is not None,
        "stopped": sorted(role for role in ids if stopped_by_suspension(w, tenant_id, ids[role])),
        "keys": sorted(mark(k) or "none" for k in key_rows),
        "sessions": sessions,
        "broadcasts": [(b.status.value, b.status_reason) for b in broadcasts],
        "commands": sorted({(role_of[c.session_id], c.type.value, str(c.data)) for c in sent}),
        "audited": sorted({e.action for e in audit if e.action in ("tenant.suspended", "tenant.resumed")}),
    }


def stopped_by_suspension(w: World, tenant_id: str, session_id: str) -> bool:
    return SessionRepository(w.table).get(tenant_id, session_id).suspension_stopped


def act(w: World, action: str, tenant_id: str) -> Tenant:
    admin = w.services.tenant_admin
    result: Tenant = admin.suspend(tenant_id) if action == "suspend" else admin.resume(tenant_id)
    assert result.pending is None
    return result


def writes_of(w: World, action: str, tenant_id: str) -> int:
    before = w.table.writes
    act(w, action, tenant_id)
    return w.table.writes - before


def crashed(w: World, action: str, tenant_id: str, after: int) -> None:
    w.table.limit = w.table.writes + after
    try:
        with pytest.raises(Crash):
            act(w, action, tenant_id)
    finally:
        w.table.limit = None


def test_a_suspend_cut_short_anywhere_is_finished_by_calling_it_again(world: World) -> None:
    tenant_id, ids = a_tenant(world)
    total = writes_of(world, "suspend", tenant_id)
    expected = state(world, tenant_id, ids, commands(world))
    assert expected["stopped"] == ["linked", "running"] and expected["suspended"]
    assert expected["tenant"] == {"status": "suspended"}
    assert expected["keys"] == ["the suspension's"] * 2
    assert expected["sessions"]["stopped_by_person"] == (
        "stopped",
        "pending",
        "the suspension's",
        "the suspension's",
    )
    assert expected["broadcasts"] == [("paused", "tenant_suspended")]
    assert {(role, kind) for role, kind, _ in expected["commands"]} == {
        ("running", "disconnect"),
        ("linked", "disconnect"),
    }
    # A repeat once done: the tenant as it is, nothing written or asked again.
    again = world.table.writes
    assert (
        act(world, "suspend", tenant_id).suspended_at
        == world.table.get(*keys.tenant(tenant_id))["suspended_at"]
    )
    assert world.table.writes == again and commands(world) == []

    for after in range(0, total, world.stride):
        tenant_id, ids = a_tenant(world)
        crashed(world, "suspend", tenant_id, after)
        first = commands(world)
        shown = world.services.tenant_admin.get(tenant_id)
        assert after == 0 or shown.pending == "suspend", after
        act(world, "suspend", tenant_id)
        sent = first + commands(world)
        assert state(world, tenant_id, ids, sent) == expected, f"cut after {after} writes"
        if suspension.BATCH == 1:  # carried on from the session after the last one recorded done
            assert len(sent) - len(expected["commands"]) <= 1, f"cut after {after} writes"


def test_a_resume_cut_short_anywhere_is_finished_by_calling_it_again(world: World) -> None:
    tenant_id, ids = a_tenant(world)
    act(world, "suspend", tenant_id)
    commands(world)
    total = writes_of(world, "resume", tenant_id)
    expected = state(world, tenant_id, ids, commands(world))
    assert (
        expected["tenant"] == {"status": "active"} and not expected["suspended"] and expected["stopped"] == []
    )
    assert expected["keys"] == ["none", "none"]
    assert {role: s[2:] for role, s in expected["sessions"].items()} == {
        "running": (None, None),
        "linked": (None, "no lease"),
        "stopped_by_person": (None, None),
        "logged_out": (None, "no lease"),
    }
    assert expected["sessions"]["stopped_by_person"][0] == "stopped"
    assert expected["broadcasts"] == [("running", None)]
    # Only those the suspension stopped start again: not the one a person stopped, not the logged-out one.
    assert {(role, kind) for role, kind, _ in expected["commands"]} == {
        ("running", "connect"),
        ("linked", "connect"),
    }

    for after in range(0, total, world.stride):
        tenant_id, ids = a_tenant(world)
        act(world, "suspend", tenant_id)
        commands(world)
        crashed(world, "resume", tenant_id, after)
        first = commands(world)
        act(world, "resume", tenant_id)
        sent = first + commands(world)
        assert state(world, tenant_id, ids, sent) == expected, f"cut after {after} writes"
        if suspension.BATCH == 1:
            assert len(sent) - len(expected["commands"]) <= 1, f"cut after {after} writes"


def test_the_other_action_waits_for_a_cut_short_one_then_takes_it_over(world: World) -> None:
    tenant_id, ids = a_tenant(world)
    act(world, "suspend", tenant_id)
    act(world, "resume", tenant_id)
    expected = state(world, tenant_id, ids, commands(world))

    for after in (3, 9, 14):  # within the keys, the session marks, the stops
        tenant_id, ids = a_tenant(world)
        crashed(world, "suspend", tenant_id, after)
        with pytest.raises(ConflictError) as busy:
            act(world, "resume", tenant_id)
        assert busy.value.code == "busy" and busy.value.details["pending"] == "suspend"
        world.clock.advance(LEASE_SECONDS + 1)  # the cut-short call is surely gone
        act(world, "resume", tenant_id)
        got = state(world, tenant_id, ids, commands(world))
        # Some steps of the cut-short suspension never ran (its disconnects, its audit): the rest is equal.
        assert {k: v for k, v in got.items() if k not in ("commands", "audited")} == {
            k: v for k, v in expected.items() if k not in ("commands", "audited")
        }, f"cut after {after} writes"
        assert "tenant.resumed" in got["audited"]

    # A suspend taking over a resume cut short between its two session starts: the one started is running
    # (so stopped again), the other still marked; the next resume starts both.
    for after in range(40):
        tenant_id, ids = a_tenant(world)
        act(world, "suspend", tenant_id)
        commands(world)
        crashed(world, "resume", tenant_id, after)
        marked = [
            role for role in ("linked", "running") if stopped_by_suspension(world, tenant_id, ids[role])
        ]
        if len(marked) == 1:
            break
        world.clock.advance(LEASE_SECONDS + 1)
    else:
        raise AssertionError("no cut between the two starts")
    [started_first] = {"linked", "running"} - set(marked)
    assert [(c.session_id, c.type.value) for c in commands(world)] == [(ids[started_first], "connect")]
    world.clock.advance(LEASE_SECONDS + 1)
    act(world, "suspend", tenant_id)
    assert state(world, tenant_id, ids, [])["stopped"] == ["linked", "running"]
    act(world, "resume", tenant_id)
    started = {(c.session_id, c.type.value) for c in commands(world)}
    assert {(ids["running"], "connect"), (ids["linked"], "connect")} <= started
    assert state(world, tenant_id, ids, [])["stopped"] == []


def test_a_repeat_while_the_first_call_runs_joins_it(world: World) -> None:
    """Two copies of the same call at once (a client retrying too early) do the same idempotent steps."""
    tenant_id, ids = a_tenant(world)
    crashed(world, "suspend", tenant_id, 8)  # stands for a first call still running
    act(world, "suspend", tenant_id)  # no wait: it is the same action
    assert world.services.tenant_admin.get(tenant_id).status == "suspended"
    rows = world.table.query(keys.tenant_partition(tenant_id), sk=SortKey.prefix(keys.SESSION_PREFIX)).items
    assert all(r.get("suspended_at") is not None for r in rows)


def test_a_tenant_suspended_by_the_version_before_resumes_the_sessions_it_listed(world: World) -> None:
    tenant_id, ids = a_tenant(world)
    act(world, "suspend", tenant_id)
    commands(world)
    # As the version before left it: the list on the tenant row, no mark on the session rows.
    for role in ("running", "linked"):
        assert SessionRepository(world.table).unmark_stopped(tenant_id, ids[role])
    world.table.update(*keys.tenant(tenant_id), set={"stopped": [ids["running"], ids["linked"]]})
    act(world, "resume", tenant_id)
    started = {(c.session_id, c.type.value) for c in commands(world)}
    assert started == {(ids["running"], "connect"), (ids["linked"], "connect")}
    assert "stopped" not in (world.table.get(*keys.tenant(tenant_id)) or {})
