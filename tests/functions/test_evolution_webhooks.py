"""Evolution's webhook/set and webhook/find, and Evolution-shaped events through wagate's webhook pipeline.

A receiver on 127.0.0.1 verifies every call's Standard Webhooks signature (tests/support/crm_receiver.py)
and the bodies are read the way Evolution documents them: `{event, instance, data, destination,
date_time, sender, server_url, apikey}`, `event` dotted (`messages.upsert`), webhookByEvents appending
`/messages-upsert` to the URL.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.leases import session_lease_key
from local.queue_runner import sqs_record
from local.template import load_template
from tests.functions.test_conversations_api import incoming
from tests.functions.test_sessions_api import deliver, event, hold_lease
from tests.support.aws_template import TEMPLATE
from tests.support.crm_receiver import Received, Receiver, crm_receiver
from tests.support.evolution import EvolutionCaller
from tests.support.lambdas import ApiCaller, LambdaContext
from wagate import wiring
from wagate.adapters.http_crm_webhooks import HttpWebhookSender
from wagate.domain.events import CommandType, EventType
from wagate.domain.ids import new_id
from wagate.domain.sessions import Session
from wagate.evolution import events as evolution_events
from wagate.evolution import instances
from wagate.services import tenants
from wagate.services.sessions import SessionService
from wagate.store.keys import media_object

SPECS = load_template(TEMPLATE)


@pytest.fixture
def world(local_deps: wiring.Deps, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[wiring.Deps, Receiver]]:
    """wagate allowed to call the receiver on 127.0.0.1 (operator settings), and the receiver."""
    monkeypatch.setattr(instances, "QR_WAIT_SECONDS", 0.2)
    settings = local_deps.settings.model_copy(
        update={
            "webhooks_allow_http": True,
            "webhooks_allow_private": True,
            "evolution": local_deps.settings.evolution.model_copy(
                update={"server_url": "https://wagate.example/evolution"}
            ),
        }
    )
    sender = HttpWebhookSender.create(timeout=2.0)
    deps = dataclasses.replace(local_deps, settings=settings, webhook_sender=sender)
    wiring.install(deps)
    with crm_receiver() as receiver:
        yield deps, receiver
    sender.client.close()


def pump(functions: dict[str, Any], deps: wiring.Deps) -> int:
    """The webhooks queue's function, as Lambda's event source runs it, until nothing is visible."""
    queue = deps.queues.get("WebhooksQueue")
    spec = SPECS.queues["WebhooksQueue"]
    handled = 0
    while messages := queue.receive(max_messages=10):
        records = [sqs_record(m, spec, time.time()) for m in messages]
        result = functions["webhooks_out"].lambda_handler({"Records": records}, LambdaContext())
        assert not result["batchItemFailures"], result
        for message in messages:
            queue.delete(message.receipt)
        handled += len(messages)
    return handled


ORDER = ["qrcode-updated", "connection-update", "messages-upsert", "send-message", "messages-update"]


def _order(received: Received) -> tuple[int, str]:
    data = received.json["data"]
    return ORDER.index(received.path.rsplit("/", 1)[1]), str(data.get("status") or "").replace(
        "DELIVERY", "A"
    )


def instance(evo: EvolutionCaller, key: str, name: str = "advisor-ana") -> dict[str, Any]:
    status, created, _ = evo(
        "POST", "/instance/create", key, body={"instanceName": name, "integration": "WAGATE-SANDBOX"}
    )
    assert status == 201, created
    return {
        "id": created["instance"]["instanceId"],
        "tenant_id": tenants.authenticate(wiring.deps().table, key).tenant_id,
        "token": created["hash"],
        "name": name,
    }


def test_set_and_find_as_evolution_answers(
    evo: EvolutionCaller, call: ApiCaller, key: str, world: tuple[wiring.Deps, Receiver]
) -> None:
    _, receiver = world
    ana = instance(evo, key)
    assert evo("GET", "/webhook/find/advisor-ana", key)[:2] == (200, None)
    for bad, problem in [
        ({}, 'instance requires property "webhook"'),
        ({"webhook": {"url": receiver.url("/x")}}, 'webhook requires property "enabled"'),
        (
            {"webhook": {"enabled": True, "url": receiver.url("/x"), "events": ["NOT_AN_EVENT"]}},
            "webhook.events.0",
        ),
        (
            {"webhook": {"enabled": True, "url": receiver.url("/x"), "headers": {"jwt_key": "k"}}},
            "webhook.headers jwt_key",
        ),
        ({"webhook": {"enabled": "yes", "url": receiver.url("/x")}}, "webhook.enabled"),
    ]:
        status, body, _ = evo("POST", "/webhook/set/advisor-ana", key, body=bad)
        assert status == 400 and body["error"] == "Bad Request", (bad, body)
        assert body["response"]["message"][0].startswith(problem), (bad, body)
    status, body, _ = evo(
        "POST",
        "/webhook/set/advisor-ana",
        key,
        body={"webhook": {"enabled": True, "url": "ftp://crm.example/x"}},
    )
    assert status == 400, body
    status, body, _ = evo(
        "POST", "/webhook/set/nobody", key, body={"webhook": {"enabled": True, "url": "https://a.b"}}
    )
    assert (status, body["response"]["message"]) == (404, ['The "nobody" instance does not exist'])

    given = {
        "enabled": True,
        "url": receiver.url("/hooks/evo"),
        "headers": {"x-crm-tenant": "wellness-7", "content-type": "text/plain"},
        "byEvents": True,
        "base64": False,
        "events": ["MESSAGES_UPSERT", "QRCODE_UPDATED"],
    }
    status, made, _ = evo("POST", "/webhook/set/advisor-ana", ana["token"], body={"webhook": given})
    assert status == 201, made
    assert made["secret"].startswith("whsec_") and made["instanceId"] == ana["id"]
    assert {k: made[k] for k in ("url", "enabled", "events", "webhookByEvents", "webhookBase64")} == {
        "url": given["url"],
        "enabled": True,
        "events": ["MESSAGES_UPSERT", "QRCODE_UPDATED"],
        "webhookByEvents": True,
        "webhookBase64": False,
    }
    status, found, _ = evo("GET", "/webhook/find/advisor-ana", key)
    assert status == 200 and "secret" not in found and found["id"] == made["id"]
    assert found["headers"] == {"x-crm-tenant": "wellness-7", "content-type": "text/plain"}
    # Set again: the same webhook changes (Evolution upserts one per instance); no new secret.
    status, again, _ = evo("POST", "/webhook/set/advisor-ana", key, body={"webhook": {**given, "events": []}})
    assert status == 201 and again["id"] == made["id"] and "secret" not in again
    assert "CONNECTION_UPDATE" in again["events"] and len(again["events"]) > 20  # none listed: all
    status, off, _ = evo(
        "POST", "/webhook/set/advisor-ana", key, body={"webhook": {**given, "enabled": False}}
    )
    assert off["enabled"] is False and off["events"] == []
    # wagate sees it as one of the tenant's webhooks, limited to the session (deliveries, replays).
    listed = call("GET", "/v1/webhooks", key)[1]["items"]
    assert [(w["id"], w["session_id"]) for w in listed] == [(made["id"], ana["id"])]
    # Another instance's token cannot read or change it.
    other = instance(evo, key, "other")
    assert evo("GET", "/webhook/find/advisor-ana", other["token"])[0] == 401
    # Deleting the instance deletes its webhook.
    assert evo("DELETE", "/instance/delete/advisor-ana", key)[0] == 200
    assert call("GET", "/v1/webhooks", key)[1]["items"] == []


def test_events_arrive_in_evolutions_shape_signed(
    evo: EvolutionCaller,
    call: ApiCaller,
    key: str,
    functions: dict[str, Any],
    world: tuple[wiring.Deps, Receiver],
) -> None:
    deps, receiver = world
    ana = instance(evo, key)
    bob = instance(evo, key, "advisor-bob")
    given = {
        "enabled": True,
        "url": receiver.url("/hooks/evo"),
        "headers": {"x-crm-tenant": "wellness-7", "webhook-signature": "forged"},
        "byEvents": True,
        "events": [
            "MESSAGES_UPSERT",
            "QRCODE_UPDATED",
            "CONNECTION_UPDATE",
            "SEND_MESSAGE",
            "MESSAGES_UPDATE",
        ],
    }
    made = evo("POST", "/webhook/set/advisor-ana", key, body={"webhook": given})[1]
    for path in ("messages-upsert", "qrcode-updated", "connection-update", "send-message", "messages-update"):
        receiver.secret(f"/hooks/evo/{path}", made["secret"])
    # A tenant-wide wagate webhook keeps wagate's own shape.
    plain = call("POST", "/v1/webhooks", key, body={"url": receiver.url("/hooks/plain")})[1]
    receiver.secret("/hooks/plain", plain["secret"])

    expires = deps.clock.now() + 60
    deliver(functions, event(ana, EventType.QR_CODE, qr="2@evo,qr", expires_at=expires))
    hold_lease(ana)
    deliver(functions, event(ana, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    deliver(functions, incoming(ana, "PROV1", "Hola, ¿tienes cita mañana?"))
    deliver(functions, incoming(bob, "PROV2", "Not for Ana's webhook"))
    pump(functions, deps)

    assert receiver.problems() == []
    # One webhooks_out batch attempts deliveries in parallel: their order of arrival is not theirs.
    evo_calls = sorted((r for r in receiver.received if r.path.startswith("/hooks/evo/")), key=_order)
    assert [r.path for r in evo_calls] == [
        "/hooks/evo/qrcode-updated",
        "/hooks/evo/connection-update",
        "/hooks/evo/messages-upsert",
    ]
    assert all(r.verified for r in evo_calls)
    assert all(r.headers.get("x-crm-tenant") == "wellness-7" for r in evo_calls)
    qr, connection, upsert = (r.json for r in evo_calls)
    assert set(upsert) == {
        "event",
        "instance",
        "data",
        "destination",
        "date_time",
        "sender",
        "server_url",
        "apikey",
    }
    assert qr["event"] == "qrcode.updated" and qr["instance"] == "advisor-ana"
    assert qr["data"]["qrcode"]["code"] == "2@evo,qr"
    assert qr["data"]["qrcode"]["base64"].startswith("data:image/png;base64,")
    assert connection["event"] == "connection.update"
    assert connection["data"] == {
        "instance": "advisor-ana",
        "wuid": "15550001111@s.whatsapp.net",
        "profileName": None,
        "profilePictureUrl": None,
        "state": "open",
        "statusReason": 200,
    }
    # MESSAGES_UPSERT read as Evolution documents it (an n8n flow's expressions).
    assert upsert["event"] == "messages.upsert"
    assert upsert["destination"] == receiver.url("/hooks/evo/messages-upsert")
    assert upsert["apikey"] == ana["token"] and upsert["server_url"] == "https://wagate.example/evolution"
    assert upsert["sender"] == "15550001111@s.whatsapp.net" and upsert["date_time"].endswith("Z")
    data = upsert["data"]
    assert data["key"]["remoteJid"] == "34600999888@s.whatsapp.net" and data["key"]["fromMe"] is False
    assert data["key"]["id"] == "PROV1" and data["pushName"] == "Lucía"
    assert data["message"]["conversation"] == "Hola, ¿tienes cita mañana?"
    assert data["messageType"] == "conversation" and data["instanceId"] == ana["id"]
    # The tenant-wide webhook got both sessions' messages, in wagate's shape.
    plain_types = [r.json["type"] for r in receiver.received if r.path == "/hooks/plain"]
    assert plain_types.count("incoming_message") == 2

    # Outbound: SEND_MESSAGE when WhatsApp took it, MESSAGES_UPDATE for each receipt.
    message = call(
        "POST",
        "/v1/messages",
        key,
        body={"session_id": ana["id"], "to": "+34600999888", "text": "Sí, a las 10"},
    )[1]
    deliver(
        functions,
        event(ana, EventType.MESSAGE_SENT, message_id=message["id"], provider_message_id="3EB0CITA"),
    )
    deliver(functions, event(ana, EventType.MESSAGE_STATUS, provider_message_ids=["3EB0CITA"], status="read"))
    pump(functions, deps)
    later = sorted((r for r in receiver.received if r.path.startswith("/hooks/evo/")), key=_order)[3:]
    assert [r.path for r in later] == [
        "/hooks/evo/send-message",
        "/hooks/evo/messages-update",
        "/hooks/evo/messages-update",
    ]
    sent = later[0].json["data"]
    assert sent["key"] == {"remoteJid": "34600999888@s.whatsapp.net", "fromMe": True, "id": "3EB0CITA"}
    assert sent["message"]["conversation"] == "Sí, a las 10" and sent["status"] == "SERVER_ACK"
    updates = [r.json["data"] for r in later[1:]]
    assert [u["status"] for u in updates] == ["DELIVERY_ACK", "READ"]  # `read` implies a `delivered` first
    assert updates[1] == {
        "keyId": "3EB0CITA",
        "remoteJid": "34600999888@s.whatsapp.net",
        "fromMe": True,
        "participant": None,
        "status": "READ",
        "instanceId": ana["id"],
        "messageId": message["id"],
    }
    # Unlinked: CONNECTION_UPDATE close (401) and LOGOUT_INSTANCE (no data), as Evolution's monitor does.
    evo("POST", "/webhook/set/advisor-ana", key, body={"webhook": {**given, "events": ["LOGOUT_INSTANCE"]}})
    receiver.secret("/hooks/evo/logout-instance", made["secret"])
    deliver(functions, event(ana, EventType.LOGGED_OUT, reason="unlinked on the phone"))
    pump(functions, deps)
    [logout] = receiver.at("/hooks/evo/logout-instance")
    assert logout.verified and logout.json["event"] == "logout.instance" and logout.json["data"] is None
    assert not [
        r
        for r in receiver.received
        if r.path == "/hooks/evo/connection-update" and r.json["data"]["state"] == "close"
    ]
    # Deliveries are wagate's: listed (and replayable) under /v1/webhooks/{id}.
    status, page, _ = call("GET", f"/v1/webhooks/{made['id']}/deliveries", key)
    assert status == 200 and len(page["items"]) == 7  # 3 + send + 2 updates + logout
    assert {d["status"] for d in page["items"]} == {"delivered"}
    first = next(d for d in page["items"] if d["event_type"] == "qr_code")
    assert first["payload"]["event"] == "qrcode.updated"  # the body as signed, Evolution's
    status, replayed, _ = call("POST", f"/v1/webhooks/{made['id']}/deliveries/{first['id']}/replay", key)
    assert status in (200, 202), replayed
    pump(functions, deps)
    assert receiver.received[-1].path == "/hooks/evo/qrcode-updated" and receiver.received[-1].verified


def test_the_first_qr_code_reaches_the_webhook_given_at_create(
    evo: EvolutionCaller,
    key: str,
    functions: dict[str, Any],
    world: tuple[wiring.Deps, Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connector that shows the QR code the moment it is asked to connect (here: at once, when the
    command is queued) still finds the instance's webhook: the instance starts once its webhook exists."""
    deps, receiver = world
    queued = SessionService._command

    def instant_connector(
        self: SessionService, session: Session, kind: CommandType, data: dict[str, Any] | None = None
    ) -> None:
        queued(self, session, kind, data)
        if kind == CommandType.CONNECT:
            shown = {"id": session.id, "tenant_id": session.tenant_id}
            deliver(
                functions, event(shown, EventType.QR_CODE, qr="2@sandbox,first", expires_at=time.time() + 60)
            )

    monkeypatch.setattr(SessionService, "_command", instant_connector)
    hook = {"enabled": True, "url": receiver.url("/hooks/evo"), "events": ["QRCODE_UPDATED"]}
    status, created, _ = evo(
        "POST",
        "/instance/create",
        key,
        body={"instanceName": "advisor-first", "integration": "WAGATE-SANDBOX", "webhook": hook},
    )
    assert status == 201, created
    receiver.secret("/hooks/evo", created["webhook"]["webhookSecret"])
    pump(functions, deps)
    [first] = receiver.at("/hooks/evo")
    assert first.verified and first.json["event"] == "qrcode.updated"
    assert first.json["data"]["qrcode"]["code"] == "2@sandbox,first"


def test_webhook_base64_inlines_small_media(
    evo: EvolutionCaller, key: str, functions: dict[str, Any], world: tuple[wiring.Deps, Receiver]
) -> None:
    deps, receiver = world
    ana = instance(evo, key)
    given = {
        "enabled": True,
        "url": receiver.url("/hooks/b64"),
        "base64": True,
        "events": ["MESSAGES_UPSERT"],
    }
    made = evo("POST", "/webhook/set/advisor-ana", key, body={"webhook": given})[1]
    receiver.secret("/hooks/b64", made["secret"])
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    # What the connector does with an attachment: the bytes into the media store, then the event.
    media_id = new_id("med", deps.clock.now())
    deps.media_store.put(media_object(ana["tenant_id"], media_id), [png], content_type="image/png")
    stored = {
        "id": media_id,
        "mime": "image/png",
        "size": len(png),
        "sha256": hashlib.sha256(png).hexdigest(),
    }
    deliver(
        functions,
        event(
            ana,
            EventType.INCOMING_MESSAGE,
            provider_message_id="PROVIMG",
            chat_jid="34600999888@s.whatsapp.net",
            sender_jid="34600999888@s.whatsapp.net",
            sender_phone="+34600999888",
            timestamp=200.0,
            type="image",
            media={"kind": "image", "mime_type": "image/png", "stored": stored},
        ),
    )
    pump(functions, deps)
    [call] = receiver.at("/hooks/b64")
    assert call.verified
    data = call.json["data"]
    assert data["messageType"] == "imageMessage"
    assert base64.b64decode(data["message"]["base64"]) == png
    assert data["message"]["mediaUrl"].startswith("http")


def test_create_with_a_webhook_as_the_n8n_node_sends_it(
    evo: EvolutionCaller, call: ApiCaller, key: str, world: tuple[wiring.Deps, Receiver]
) -> None:
    """No `enabled` (Evolution turns it on at create), the node's `webhookByEvents` spelling; a URL wagate
    refuses undoes the whole create, as Evolution deletes an instance whose create failed."""
    _, receiver = world
    status, body, _ = evo(
        "POST",
        "/instance/create",
        key,
        body={"instanceName": "refused", "webhook": {"url": "ftp://crm.example/hook", "events": []}},
    )
    assert status == 400 and body["error"] == "Bad Request", body
    assert evo("GET", "/instance/fetchInstances", key)[1] == []
    assert call("GET", "/v1/sessions", key)[1]["items"] == []
    webhook = {"url": receiver.url("/n8n"), "webhookByEvents": True, "webhookBase64": False, "events": []}
    status, created, _ = evo(
        "POST",
        "/instance/create",
        key,
        body={"instanceName": "n8n", "integration": "WAGATE-SANDBOX", "webhook": webhook},
    )
    assert status == 201, created
    assert created["webhook"]["webhookByEvents"] is True
    assert created["webhook"]["webhookSecret"].startswith("whsec_")
    found = evo("GET", "/webhook/find/n8n", key)[1]
    assert found["enabled"] is True and found["webhookByEvents"] is True and len(found["events"]) > 20
    # The node's "disable": enabled false, and `vazio` ("empty") when no URL was typed. Nothing is called.
    off = {"enabled": False, "url": "vazio", "webhookByEvents": False, "webhookBase64": False, "events": []}
    status, changed, _ = evo("POST", "/webhook/set/n8n", key, body={"webhook": off})
    assert status == 201 and changed["enabled"] is False and changed["events"] == []
    # An empty URL at create sets no webhook (the node's default).
    status, bare, _ = evo(
        "POST", "/instance/create", key, body={"instanceName": "bare", "webhook": {"url": "", "events": []}}
    )
    assert status == 201 and bare["webhook"]["webhookUrl"] is None
    assert evo("GET", "/webhook/find/bare", key)[1] is None


def test_instances_gone_outside_evolution_leave_nothing_behind(
    evo: EvolutionCaller, call: ApiCaller, key: str, world: tuple[wiring.Deps, Receiver]
) -> None:
    """A session deleted through /v1 (or expired unlinked by the sweeper) had an instance token and a
    webhook: the next instance/create forgets them, so dead instances never fill the webhook limit."""
    _, receiver = world
    webhook = {"url": receiver.url("/gone"), "events": ["MESSAGES_UPSERT"]}
    old = evo("POST", "/instance/create", key, body={"instanceName": "old", "webhook": webhook})[1]
    kept = evo("POST", "/instance/create", key, body={"instanceName": "kept", "webhook": webhook})[1]
    assert call("DELETE", f"/v1/sessions/{old['instance']['instanceId']}", key)[0] == 204
    assert len(call("GET", "/v1/webhooks", key)[1]["items"]) == 2
    assert evo("POST", "/instance/create", key, body={"instanceName": "new"})[0] == 201
    hooks = call("GET", "/v1/webhooks", key)[1]["items"]
    assert [h["session_id"] for h in hooks] == [kept["instance"]["instanceId"]]
    assert evo("GET", "/instance/fetchInstances", old["hash"])[0] == 401  # its token is revoked
    assert evo("GET", "/instance/fetchInstances", kept["hash"])[0] == 200
    names = {key["name"] for key in call("GET", "/v1/keys", key)[1]["items"]}
    assert "evolution instance old" not in names and "evolution instance kept" in names


def test_a_body_that_cannot_be_built_holds_up_nothing_else(
    evo: EvolutionCaller,
    call: ApiCaller,
    key: str,
    functions: dict[str, Any],
    world: tuple[wiring.Deps, Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in building one Evolution body is logged and skipped for that webhook: the event is applied,
    the tenant-wide webhook still gets it, and the events queue does not retry it forever."""
    deps, receiver = world
    ana = instance(evo, key)
    given = {"enabled": True, "url": receiver.url("/hooks/evo"), "events": ["MESSAGES_UPSERT"]}
    evo("POST", "/webhook/set/advisor-ana", key, body={"webhook": given})
    plain = call("POST", "/v1/webhooks", key, body={"url": receiver.url("/hooks/plain")})[1]
    receiver.secret("/hooks/plain", plain["secret"])

    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("a field the body needs")

    monkeypatch.setattr(evolution_events.shapes, "message_record", broken)
    assert deliver(functions, incoming(ana, "PROVBUG", "Hola")) == {"batchItemFailures": []}
    pump(functions, deps)
    assert [r.json["type"] for r in receiver.at("/hooks/plain")] == ["incoming_message"]
    assert receiver.at("/hooks/evo") == []


def test_settings_set_find_and_groups_ignore(
    evo: EvolutionCaller, key: str, functions: dict[str, Any], world: tuple[wiring.Deps, Receiver]
) -> None:
    deps, receiver = world
    ana = instance(evo, key)
    assert evo("GET", "/settings/find/advisor-ana", key)[1]["groupsIgnore"] is False  # as made at create
    status, body, _ = evo("POST", "/settings/set/advisor-ana", key, body={"rejectCall": True})
    assert status == 400 and body["response"]["message"][0] == 'instance requires property "groupsIgnore"'
    wanted = {
        "rejectCall": False,
        "groupsIgnore": True,
        "alwaysOnline": False,
        "readMessages": False,
        "readStatus": False,
        "syncFullHistory": False,
    }
    status, body, _ = evo("POST", "/settings/set/advisor-ana", ana["token"], body=wanted)
    assert status == 201 and body["settings"]["instanceName"] == "advisor-ana"
    assert body["settings"]["settings"] == {**wanted, "msgCall": "", "wavoipToken": ""}
    assert evo("GET", "/settings/find/advisor-ana", key)[1]["groupsIgnore"] is True
    # The token beside the settings is untouched (webhooks still carry it).
    assert evo("GET", "/instance/fetchInstances", key)[1][0]["token"] == ana["token"]
    # groupsIgnore: the webhook hears the 1:1 message, not the group's.
    given = {"enabled": True, "url": receiver.url("/hooks/groups"), "events": ["MESSAGES_UPSERT"]}
    made = evo("POST", "/webhook/set/advisor-ana", key, body={"webhook": given})[1]
    receiver.secret("/hooks/groups", made["secret"])
    group = event(
        ana,
        EventType.INCOMING_MESSAGE,
        provider_message_id="PROVGROUP",
        chat_jid="120363000000000001@g.us",
        group_jid="120363000000000001@g.us",
        sender_jid="34600999888@s.whatsapp.net",
        sender_phone="+34600999888",
        timestamp=200.0,
        text="Hola grupo",
        type="text",
    )
    deliver(functions, group)
    deliver(functions, incoming(ana, "PROVONE", "Hola a ti"))
    pump(functions, deps)
    texts = [r.json["data"]["message"]["conversation"] for r in receiver.at("/hooks/groups")]
    assert texts == ["Hola a ti"]


def test_a_lost_connector_is_a_dropped_socket_for_evolution_clients(
    evo: EvolutionCaller, key: str, functions: dict[str, Any], world: tuple[wiring.Deps, Receiver]
) -> None:
    """The sweeper tells a connector loss (session_status connecting/connector_lost): Evolution's clients get
    CONNECTION_UPDATE connecting (428), as for a dropped socket, then open when the holder is back."""
    deps, receiver = world
    ana = instance(evo, key)
    body = {"webhook": {"enabled": True, "url": receiver.url("/hooks/evo"), "events": ["CONNECTION_UPDATE"]}}
    made = evo("POST", "/webhook/set/advisor-ana", key, body=body)[1]
    receiver.secret("/hooks/evo", made["secret"])
    hold_lease(ana)
    deliver(functions, event(ana, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    pump(functions, deps)  # (one batch's deliveries go out in parallel: one at a time here)
    lease = session_lease_key(ana["tenant_id"], ana["id"])
    deps.table.update(lease.pk, lease.sk, set={"lease_until": deps.clock.now() - 1})  # nobody renewed it
    assert functions["sweeper"].lambda_handler({}, LambdaContext())["connectors_lost"] == 1
    pump(functions, deps)
    deps.table.update(lease.pk, lease.sk, set={"lease_until": deps.clock.now() + 60})  # renewed after all
    assert functions["sweeper"].lambda_handler({}, LambdaContext())["connectors_back"] == 1
    pump(functions, deps)
    assert receiver.problems() == []
    updates = [(r.json["data"]["state"], r.json["data"]["statusReason"]) for r in receiver.at("/hooks/evo")]
    assert updates == [("open", 200), ("connecting", 428), ("open", 200)]
