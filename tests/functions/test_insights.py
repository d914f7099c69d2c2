"""Insights against a scripted history with known answers, through the real API and events handlers, on
SQLite and on DynamoDB (moto): duplicate and out-of-order receipts, replies, first-reply times, failures by
reason, template usage, uptime and disconnects, hour and day buckets, session-scoped keys."""

from __future__ import annotations

import dataclasses
import math
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.functions.test_sessions_api import create, deliver, hold_lease
from tests.support.aws_template import create_tables
from tests.support.lambdas import ApiCaller, LambdaContext
from wagate import compose, wiring
from wagate.adapters.aws.dynamodb_table import DynamoTable
from wagate.compose import services
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.insights import bucket_bounds, latency_bucket
from wagate.domain.messages import whatsapp_message_id
from wagate.domain.sessions import Provider
from wagate.services import tenants
from wagate.store.content_cipher import ContentCipher
from wagate.store.sealed_table import SealedTable
from wagate.store.tenant_keys import TenantKeys

DAY, HOUR = 86_400, 3_600
P1, P2, P3, P9 = "+34600111001", "+34600111002", "+34600111003", "+34600111009"


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(
    request: pytest.FixtureRequest, local_deps: wiring.Deps, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        names = create_tables(client)
        dynamo = DynamoTable(names["Table"], lambda: client)
        tenant_keys = TenantKeys(dynamo, local_deps.crypto)
        sealed = SealedTable(dynamo, ContentCipher(tenant_keys))  # as wiring builds it on AWS
        wiring.install(dataclasses.replace(local_deps, table=sealed, tenant_keys=tenant_keys))
        yield "dynamodb"


@pytest.fixture
def admin(backend: str) -> str:
    d = wiring.deps()
    return tenants.create_tenant(d.table, d.clock, "Agency")[1]


def qs(params: dict[str, Any]) -> str:
    return urllib.parse.urlencode(params)


def ev(session: dict[str, Any], kind: EventType, when: float, **data: Any) -> SessionEvent:
    return SessionEvent(
        type=kind, tenant_id=session["tenant_id"], session_id=session["id"], fence=1, at=when, data=data
    )


class Script:
    def __init__(self, call: ApiCaller, key: str, functions: dict[str, Any]) -> None:
        self.call, self.key, self.functions = call, key, functions

    def send(self, session: dict[str, Any], to: str, template: bool = False) -> str:
        body: dict[str, Any] = {"session_id": session["id"], "to": to}
        if template:
            body["template"] = {"name": "promo", "language": "en", "variables": {"name": "Ana"}}
        else:
            body["text"] = "Hola"
        status, message, _ = self.call("POST", "/v1/messages", self.key, body=body)
        assert status == 202, message
        return str(message["id"])

    def sent(self, session: dict[str, Any], message_id: str, at: float) -> None:
        provider = whatsapp_message_id(message_id)
        deliver(
            self.functions,
            ev(
                session,
                EventType.MESSAGE_SENT,
                at,
                message_id=message_id,
                provider_message_id=provider,
                at=at,
            ),
        )

    def receipt(self, session: dict[str, Any], message_id: str, status: str, at: float) -> None:
        ids = [whatsapp_message_id(message_id)]
        deliver(
            self.functions,
            ev(session, EventType.MESSAGE_STATUS, at, provider_message_ids=ids, status=status, at=at),
        )

    def failed(self, session: dict[str, Any], message_id: str, reason: str, at: float) -> None:
        deliver(
            self.functions,
            ev(session, EventType.MESSAGE_STATUS, at, message_id=message_id, status="failed", reason=reason),
        )

    def incoming(self, session: dict[str, Any], provider_id: str, phone: str, at: float) -> None:
        deliver(
            self.functions,
            ev(
                session,
                EventType.INCOMING_MESSAGE,
                at,
                provider_message_id=provider_id,
                chat_jid=f"{phone[1:]}@s.whatsapp.net",
                sender_jid=f"{phone[1:]}@s.whatsapp.net",
                sender_phone=phone,
                timestamp=at,
                text="Sí",
                type="text",
            ),
        )


def history(
    call: ApiCaller, key: str, functions: dict[str, Any], d0: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two numbers over two days (d0, d0 + 1 day); the answers are in the test below."""
    status, _, _ = call(
        "POST", "/v1/templates", key, body={"name": "promo", "language": "en", "body": "Hi {name}"}
    )
    assert status == 201
    s = Script(call, key, functions)
    a, b = create(call, key, name="A"), create(call, key, name="B")
    for session in (a, b):
        hold_lease(session)
    deliver(functions, ev(a, EventType.CONNECTION_SUCCESS, d0 + 8 * HOUR, phone="+34600000001"))
    m1, m2, m3, m4, m8 = (
        s.send(a, P1),
        s.send(a, P2, True),
        s.send(a, P3, True),
        s.send(a, P3),
        s.send(a, P1),
    )
    t = d0 + 10 * HOUR
    s.sent(a, m1, t)
    s.receipt(a, m1, "delivered", t + 5)
    s.receipt(a, m1, "delivered", t + 5)  # twice
    s.receipt(a, m1, "read", t + 65)
    s.receipt(a, m1, "delivered", t + 9)  # late and older: changes nothing
    s.receipt(a, m1, "read", t + 65)
    s.receipt(a, m2, "read", t + 100)  # read before its sent: sent and delivered are implied, at once
    s.sent(a, m2, t + 30)  # the sent event, late: changes nothing
    s.incoming(a, "IN1", P1, t + 300)  # P1 answers m1
    s.incoming(a, "IN1", P1, t + 300)  # redelivered
    s.sent(a, m8, t + 420)  # our answer to P1, 120 s after they wrote
    s.sent(a, m3, d0 + 11 * HOUR)
    s.receipt(a, m3, "delivered", d0 + 11 * HOUR + 20)
    s.receipt(a, m3, "delivered", d0 + 11 * HOUR + 20)
    s.failed(a, m4, "not_on_whatsapp", d0 + 12 * HOUR)
    s.failed(a, m4, "not_on_whatsapp", d0 + 12 * HOUR)
    s.incoming(a, "IN3", P3, d0 + 13 * HOUR)  # P3 answers m3 (m4 failed unsent: not a send to answer)
    deliver(  # ... and the account answers P3 from its phone, 30 s later
        functions,
        ev(
            a,
            EventType.INCOMING_MESSAGE,
            d0 + 13 * HOUR + 30,
            provider_message_id="PH1",
            from_me=True,
            chat_jid=f"{P3[1:]}@s.whatsapp.net",
            sender_jid="34600000001@s.whatsapp.net",
            timestamp=d0 + 13 * HOUR + 30,
            text="Gracias",
            type="text",
        ),
    )
    deliver(functions, ev(a, EventType.CONNECTION_LOST, d0 + 20 * HOUR, reason="network"))
    deliver(functions, ev(a, EventType.CONNECTION_SUCCESS, d0 + 21 * HOUR, phone="+34600000001"))
    # Day two, number B (never linked): someone writes first; we answer a minute later.
    d1 = d0 + DAY
    m6, m7, m9 = s.send(b, P2), s.send(b, P3), s.send(b, P9)
    s.incoming(b, "IN9", P9, d1 + 8 * HOUR)
    s.sent(b, m9, d1 + 8 * HOUR + 60)
    s.sent(b, m6, d1 + 9 * HOUR)
    s.receipt(b, m6, "delivered", d1 + 9 * HOUR + 2)
    s.receipt(b, m6, "read", d1 + 9 * HOUR + 600)
    s.failed(b, m7, "Timeout!", d1 + 9 * HOUR + 1800)
    return a, b


def near(value: float | None, exact: float) -> bool:
    """Within the histogram's error: the sample's own bucket."""
    if value is None:
        return False
    low, high = bucket_bounds(latency_bucket(exact))
    return low - 1e-6 <= value <= high + 1e-6 or math.isclose(value, exact)


def test_a_scripted_history_gives_the_known_answers(
    call: ApiCaller, functions: dict[str, Any], admin: str
) -> None:
    now = wiring.deps().clock.now()
    d0 = math.floor(now / DAY) * DAY - 3 * DAY
    a, b = history(call, admin, functions, d0)
    two_days = {"from": d0, "to": d0 + 2 * DAY}
    # The counters wait in the journal until the sweeper folds them into the rollups (a minute at most).
    status, report, _ = call("GET", "/v1/insights", admin, query=qs(two_days))
    assert status == 200 and report["totals"]["sent"] == 0, report
    assert functions["sweeper"].lambda_handler({}, LambdaContext())["insights_folded"] > 0
    assert services().insights.journal.pending() == 0
    status, report, _ = call("GET", "/v1/insights", admin, query=qs(two_days))
    assert status == 200, report
    totals = report["totals"]
    assert (totals["sent"], totals["delivered"], totals["read"], totals["failed"]) == (7, 4, 3, 2)
    assert totals["failed_by_reason"] == {"not_on_whatsapp": 1, "timeout": 1}
    assert (totals["replied"], totals["inbound"]) == (2, 3)
    assert totals["delivery_rate"] == round(4 / 7, 4) and totals["read_rate"] == round(3 / 7, 4)
    assert totals["reply_rate"] == round(2 / 7, 4)
    assert totals["templates"] == {"promo": 2}
    assert totals["time_to_delivered"]["count"] == 4  # 5 s, 0 s (implied by read), 20 s, 2 s
    assert totals["time_to_read"]["count"] == 3  # 65 s, 0 s, 600 s
    assert near(totals["time_to_read"]["p90"], 600) and near(totals["time_to_read"]["p50"], 65)
    frt = totals["first_reply_time"]
    assert frt["count"] == 3 and near(frt["p90"], 120)  # 120 s, 60 s, 30 s (typed on the phone)
    assert totals["disconnects"] == 1 and totals["sessions_linked"] == 1
    # A: connected 08:00-20:00 and 21:00-on; B never.
    assert totals["connected_seconds"] == pytest.approx(12 * HOUR + 27 * HOUR)
    uptime = {u["session_id"]: u for u in report["sessions"]}
    assert uptime[a["id"]]["disconnects"] == 1 and uptime[b["id"]]["connected_seconds"] == 0
    assert [p["bucket"] for p in report["series"]][:1] == [report["series"][0]["bucket"]]
    assert [p["sent"] for p in report["series"]] == [5, 2]

    # Hours of day one: m1, m2 (its read made it sent at 10:01:40) and m8 at 10:00; m3 at 11:00.
    hours = call("GET", "/v1/insights", admin, query=qs({"from": d0, "to": d0 + DAY, "granularity": "hour"}))[
        1
    ]
    by_hour = {p["bucket"][-2:]: p for p in hours["series"]}
    assert len(hours["series"]) == 24
    assert (by_hour["10"]["sent"], by_hour["10"]["replied"], by_hour["10"]["read"]) == (3, 1, 2)
    assert (by_hour["11"]["sent"], by_hour["11"]["delivered"], by_hour["12"]["failed"]) == (1, 1, 1)
    assert (by_hour["11"]["replied"], by_hour["13"]["sent"], by_hour["13"]["inbound"]) == (1, 1, 1)
    assert by_hour["08"]["connected_seconds"] == HOUR and by_hour["20"]["connected_seconds"] == 0

    # In Tonga's days (UTC+13 all year): day one ends at 11:00 UTC, so m3 (sent at 11:00) and the rest of
    # UTC day one fall on the next local day with day two's sends; uptime is cut at the same instant.
    tonga = {"from": d0 - 13 * HOUR, "to": d0 + 35 * HOUR, "tz": "Pacific/Tongatapu"}
    status, local, _ = call("GET", "/v1/insights", admin, query=qs(tonga))
    assert status == 200 and local["tz"] == "Pacific/Tongatapu", local
    assert [p["bucket"] for p in local["series"]] == [
        report["series"][0]["bucket"],
        report["series"][1]["bucket"],
    ]
    assert [p["start"] for p in local["series"]] == [d0 - 13 * HOUR, d0 + 11 * HOUR]
    assert [(p["sent"], p["replied"], p["read"]) for p in local["series"]] == [(3, 1, 2), (4, 1, 1)]
    assert [p["connected_seconds"] for p in local["series"]] == [3 * HOUR, 23 * HOUR]
    assert local["totals"]["sent"] == 7 and report["tz"] == "UTC"
    tonga_hours = {
        "from": d0 + 10 * HOUR,
        "to": d0 + 12 * HOUR,
        "granularity": "hour",
        "tz": "Pacific/Tongatapu",
    }
    hours_there = call("GET", "/v1/insights", admin, query=qs(tonga_hours))[1]["series"]
    assert [p["bucket"][-12:] for p in hours_there] == ["T23:00+13:00", "T00:00+13:00"]
    assert [p["sent"] for p in hours_there] == [3, 1]

    # Per session, per template, and one of each as a filter.
    sessions = call("GET", "/v1/insights/sessions", admin, query=qs(two_days))[1]["items"]
    assert {i["key"]: i["metrics"]["sent"] for i in sessions} == {a["id"]: 5, b["id"]: 2}
    templates = call("GET", "/v1/insights/templates", admin, query=qs(two_days))[1]["items"]
    assert [
        (i["key"], i["metrics"]["sent"], i["metrics"]["delivered"], i["metrics"]["read"]) for i in templates
    ] == [("promo", 2, 2, 1)]
    assert templates[0]["metrics"]["replied"] == 1  # m3's answer
    only_b = call("GET", "/v1/insights", admin, query=qs({**two_days, "session_id": b["id"]}))[1]["totals"]
    assert (only_b["sent"], only_b["failed"], only_b["inbound"], only_b["first_reply_time"]["count"]) == (
        2,
        1,
        1,
        1,
    )

    # Sessions created (today, by the real clock) and linked (day one): the connection rate.
    wide = call("GET", "/v1/insights", admin, query=qs({"from": d0, "to": now + DAY}))[1]["totals"]
    assert (wide["sessions_created"], wide["sessions_linked"], wide["connection_rate"]) == (2, 1, 0.5)

    # A key scoped to B sees B's numbers only, and no template totals.
    status, scoped, _ = call(
        "POST", "/v1/keys", admin, body={"name": "b", "scopes": ["read"], "sessions": [b["id"]]}
    )
    assert status == 201, scoped
    mine = call("GET", "/v1/insights", scoped["secret"], query=qs(two_days))[1]
    assert mine["totals"]["sent"] == 2 and [u["session_id"] for u in mine["sessions"]] == [b["id"]]
    other = qs({**two_days, "session_id": a["id"]})
    assert call("GET", "/v1/insights", scoped["secret"], query=other)[0] == 404
    assert call("GET", "/v1/insights/templates", scoped["secret"], query=qs(two_days))[0] == 403


def test_a_reply_that_overtakes_its_sends_report_still_counts_once(
    call: ApiCaller, functions: dict[str, Any], admin: str
) -> None:
    """The contact's answer is applied before the connector's `message_sent` of the send it answers (their
    reports race): the send still counts as replied, once, and our next answer is the first reply."""
    now = wiring.deps().clock.now()
    t = math.floor(now / DAY) * DAY - 2 * DAY + 10 * HOUR
    s = Script(call, admin, functions)
    a = create(call, admin, name="A")
    hold_lease(a)
    m1, m2 = s.send(a, P1), s.send(a, P1)
    s.incoming(a, "IN1", P1, t + 300)  # P1 answers m1 ...
    s.sent(a, m1, t)  # ... whose report arrives after the answer
    s.incoming(a, "IN1", P1, t + 300)  # redelivered: nothing more
    s.sent(a, m2, t + 420)  # our answer, 120 s after they wrote
    # Another send that went out before their answer, reported even later: their one answer counted once.
    m3 = s.send(a, P2)
    s.sent(a, m3, t + 500)
    s.incoming(a, "IN2", P2, t + 600)
    m4 = s.send(a, P2)
    s.sent(a, m4, t + 550)
    assert functions["sweeper"].lambda_handler({}, LambdaContext())["insights_folded"] > 0
    day = {"from": t - 10 * HOUR, "to": t + 14 * HOUR}
    totals = call("GET", "/v1/insights", admin, query=qs(day))[1]["totals"]
    assert (totals["sent"], totals["inbound"], totals["replied"]) == (4, 2, 2), totals
    frt = totals["first_reply_time"]
    assert frt["count"] == 1 and near(frt["p50"], 120), frt


def test_bad_ranges_are_422(call: ApiCaller, key: str) -> None:
    for query in (
        {"from": 2000, "to": 1000},
        {"from": 0, "to": 500 * DAY},
        {"from": 0, "to": 40 * DAY, "granularity": "hour"},
        {"granularity": "week"},
        {"from": "yesterday"},
        {"template": "Not A Name"},
        {"tz": "Mars/Olympus_Mons"},
        {"tz": "../../etc/passwd"},
        {"tz": ""},
        {"tz": "Asia/Kolkata"},  # +05:30: its days cannot be cut from UTC hour rows
        {"from": 253_402_000_000, "to": 253_402_300_799, "tz": "Pacific/Kiritimati"},  # past 9999 there
        {"from": 253_402_290_000, "to": 253_402_300_799, "granularity": "hour", "tz": "Pacific/Kiritimati"},
    ):
        status, body, _ = call("GET", "/v1/insights", key, query=qs(query))
        assert status == 422, (query, body)
        assert body["error"]["code"] in ("validation_failed", "invalid_input")
        assert set(body["error"]) == {"code", "message", "details"}
    for path in ("/v1/insights/sessions", "/v1/insights/templates"):
        status, body, _ = call("GET", path, key, query=qs({"tz": "Nowhere/Special"}))
        assert status == 422 and body["error"]["details"]["field"] == "tz", body
    hours = qs({"from": 0, "to": 2 * HOUR, "granularity": "hour", "tz": "Asia/Kolkata"})
    status, body, _ = call("GET", "/v1/insights", key, query=hours)
    assert status == 200 and [p["bucket"] for p in body["series"]][0] == "1970-01-01T05:30+05:30", body


def test_with_counting_off_no_change_writes_to_the_journal(local_deps: wiring.Deps) -> None:
    settings = local_deps.settings.model_copy(update={"insights": False})
    root = compose.Services(dataclasses.replace(local_deps, settings=settings))
    assert root.counting is None and root.insights is not None  # reports still read what was counted
    tenant = tenants.create_tenant(root.table, root.ports.clock, "Quiet")[0]
    root.sessions.create(tenant.id, name="A", provider=Provider.SANDBOX, phone=None, metadata={})
    assert root.insights.journal.pending() == 0
    counted = compose.Services(local_deps)  # the default counts: the same creation writes an entry
    counted.sessions.create(tenant.id, name="B", provider=Provider.SANDBOX, phone=None, metadata={})
    assert counted.insights.journal.pending() == 1


def test_the_tenants_time_zone_is_the_default_of_its_reports(call: ApiCaller, key: str) -> None:
    assert call("GET", "/v1/settings/insights", key)[1] == {"time_zone": "UTC"}
    week = {"from": 1_800_000_000 - 7 * DAY, "to": 1_800_000_000}
    assert call("GET", "/v1/insights", key, query=qs(week))[1]["tz"] == "UTC"
    status, body, _ = call("PUT", "/v1/settings/insights", key, body={"time_zone": "America/Bogota"})
    assert status == 200 and body == {"time_zone": "America/Bogota"}, body
    report = call("GET", "/v1/insights", key, query=qs(week))[1]
    assert report["tz"] == "America/Bogota"
    assert report["series"][0]["start"] == 1_800_000_000 - 7 * DAY - 3 * HOUR  # midnight in Bogotá (UTC-5)
    assert call("GET", "/v1/insights/sessions", key, query=qs(week))[1]["tz"] == "America/Bogota"
    asked = call("GET", "/v1/insights", key, query=qs({**week, "tz": "UTC"}))[1]
    assert asked["tz"] == "UTC" and asked["series"][0]["bucket"] == "2027-01-08"  # a request's tz wins
    for refused in ("Mars/Olympus_Mons", "Asia/Kolkata", ""):
        status, body, _ = call("PUT", "/v1/settings/insights", key, body={"time_zone": refused})
        assert status == 422 and set(body["error"]) == {"code", "message", "details"}, body
    assert call("GET", "/v1/settings/insights", key)[1] == {"time_zone": "America/Bogota"}
    status, reader, _ = call("POST", "/v1/keys", key, body={"name": "r", "scopes": ["read"]})
    assert status == 201
    assert call("PUT", "/v1/settings/insights", reader["secret"], body={"time_zone": "UTC"})[0] == 403
    assert call("GET", "/v1/settings/insights", reader["secret"])[0] == 200
