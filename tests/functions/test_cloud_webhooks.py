"""Meta's webhooks through their Lambda: GET check, raw-body signatures, routing, events applied once.

A bad signature is a 401 that stores nothing; an unknown phone number id a 200 that stores nothing; the
events go through the events consumer's code path, so duplicates and out-of-order statuses change nothing.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.graph import FakeGraph
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    FIXTURES,
    PNID,
    VERIFY_TOKEN,
    call_fixture,
    create_cloud,
    functions_fixture,
    get_webhook,
    graph_fixture,
    key_fixture,
    notification,
    operator_settings,
    post_webhook,
    run_cloud_queue,
    session_fixture,
    sign,
    status_update,
    text_message,
)
from tests.support.lambdas import ApiCaller, LambdaContext, http_event, load_event
from wagate import wiring
from wagate.services import tenants
from wagate.store.cloud import CloudRepository


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """What the service logs (message and reason), from the Powertools logger's own logging.Logger."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(f"{record.getMessage()} {getattr(record, 'why', '')}")

    handler = Keep()
    target = logging.getLogger("wagate")
    target.addHandler(handler)
    yield seen
    target.removeHandler(handler)


def inbox(call: ApiCaller, key: str) -> list[dict[str, Any]]:
    return list(call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"])


def sent_message(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> dict[str, Any]:
    status, message, _ = call(
        "POST",
        "/v1/messages",
        key,
        body={"session_id": session["id"], "to": "+34600123456", "text": "Cita mañana"},
    )
    assert status in (201, 202)
    run_cloud_queue(functions)
    found = dict(call("GET", f"/v1/messages/{message['id']}", key)[1])
    assert found["status"] == "sent"
    return found


# ---- GET ----------------------------------------------------------------------------------------------


def test_subscription_check(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    query = f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    assert get_webhook(functions, query) == (200, "1158201444", "text/plain; charset=utf-8")
    sample = functions["meta_webhooks"].lambda_handler(load_event("meta-webhooks-get"), LambdaContext())
    assert (sample["statusCode"], sample["body"]) == (200, "1158201444")  # events/ for `sam local invoke`
    assert get_webhook(functions, "hub.mode=subscribe&hub.verify_token=wrong-token&hub.challenge=1")[0] == 403
    assert (
        get_webhook(functions, f"hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1")[0]
        == 400
    )
    assert get_webhook(functions, f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}")[0] == 400
    operator_settings(meta_verify_token="the-operators-token")
    assert get_webhook(functions, "hub.mode=subscribe&hub.verify_token=the-operators-token&hub.challenge=7")[
        :2
    ] == (
        200,
        "7",
    )
    assert call("DELETE", f"/v1/sessions/{session['id']}", key)[0] == 204
    assert get_webhook(functions, query)[0] == 403  # a deleted session's token no longer works


# ---- POST: signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=", "sha256=" + "0" * 64, "sha1=abc", None],
    ids=["empty", "no digest", "wrong digest", "sha1", "another secret"],
)
def test_a_bad_signature_is_401_and_stores_nothing(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any], signature: str | None
) -> None:
    body = notification(messages=[text_message("wamid.SIG")])
    if signature is None:
        status, _ = post_webhook(functions, body, secret="another-secret-of-16+")
    else:
        status, _ = post_webhook(functions, body, signature=signature)
    assert status == 401
    assert inbox(call, key) == []


def test_a_flipped_byte_is_401(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    raw = json.dumps(notification(messages=[text_message("wamid.FLIP", body="Hola")])).encode()
    tampered = raw.replace(b"Hola", b"Hol\x61".replace(b"a", b"b"))
    assert post_webhook(functions, tampered, signature=sign(raw))[0] == 401
    assert post_webhook(functions, raw, signature=sign(raw))[0] == 200
    assert [m["text"] for m in inbox(call, key)] == ["Hola"]


def test_the_real_signed_body(
    call: ApiCaller, local_deps: wiring.Deps, graph: FakeGraph, functions: dict[str, Any]
) -> None:
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/cloud is not here")
    vector = json.loads((FIXTURES / "signature" / "pywa__signature_vector.json").read_bytes())
    raw = (FIXTURES / "signature" / vector["body_file"]).read_bytes()
    key = tenants.create_tenant(local_deps.table, local_deps.clock, "PyWa")[1]
    assert create_cloud(call, key, app_secret=vector["app_secret"])[0] == 201  # its number is PNID
    tampered = raw.replace(b"PyWa.", b"PyWA.")
    assert (
        tampered != raw
        and post_webhook(functions, tampered, signature=vector["x_hub_signature_256"])[0] == 401
    )
    assert post_webhook(functions, raw, signature=vector["x_hub_signature_256"]) == (200, "ok")
    [message] = inbox(call, key)
    assert message["text"] == "Hey there! I am using PyWa." and message["from"] == "+972544401243"


def test_a_base64_encoded_body_is_read_raw(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    raw = json.dumps(notification(messages=[text_message("wamid.B64")]), ensure_ascii=False).encode()
    event = http_event(
        "POST",
        "/webhooks/meta",
        raw_body=base64.b64encode(raw).decode(),
        headers={"x-hub-signature-256": sign(raw)},
    )
    event["isBase64Encoded"] = True
    assert functions["meta_webhooks"].lambda_handler(event, LambdaContext())["statusCode"] == 200
    assert len(inbox(call, key)) == 1


def test_one_tenants_secret_cannot_write_into_another_tenants_number(
    call: ApiCaller,
    session: dict[str, Any],
    functions: dict[str, Any],
    local_deps: wiring.Deps,
    graph: FakeGraph,
) -> None:
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Intruder")[1]
    graph.number("999888777666")
    create_cloud(call, other, phone_number_id="999888777666", app_secret="the-intruders-secret")
    body = notification(messages=[text_message("wamid.EVIL")])
    body["entry"].append(json.loads(json.dumps(body["entry"][0]).replace(PNID, "999888777666")))
    assert post_webhook(functions, body, secret="the-intruders-secret")[0] == 401
    assert inbox(call, other) == []


def test_sessions_without_a_secret_use_the_operators(
    call: ApiCaller, key: str, graph: FakeGraph, functions: dict[str, Any]
) -> None:
    create_cloud(call, key, app_secret=None)
    body = notification(messages=[text_message("wamid.OP")])
    assert post_webhook(functions, body)[0] == 401  # nothing to check it with
    operator_settings(meta_app_secret="the-operators-app-secret")
    assert post_webhook(functions, body)[0] == 401
    assert post_webhook(functions, body, secret="the-operators-app-secret")[0] == 200
    assert len(inbox(call, key)) == 1


def test_malformed_json_is_400(session: dict[str, Any], functions: dict[str, Any]) -> None:
    assert post_webhook(functions, b'{"object": "whatsapp_business_account", "entry": [')[0] == 400
    operator_settings(meta_app_secret="the-operators-app-secret")
    assert post_webhook(functions, b"{nope", signature="sha256=" + "1" * 64)[0] == 401


# ---- POST: routing and applying -----------------------------------------------------------------------


def test_an_unknown_number_is_200_and_stores_nothing(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    logs: list[str],
) -> None:
    body = json.loads(
        json.dumps(notification(messages=[text_message("wamid.X")])).replace(PNID, "123123123123")
    )
    assert post_webhook(functions, body) == (200, "ok")
    assert inbox(call, key) == [] and call("GET", "/v1/conversations", key)[1]["items"] == []
    assert "unknown phone number id" in "\n".join(logs)


def test_a_redelivered_message_is_stored_once(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    body = notification(messages=[text_message("wamid.ONCE", body="¿Mañana a las 10?")])
    for _ in range(3):
        assert post_webhook(functions, body)[0] == 200
    [message] = inbox(call, key)
    assert message["text"] == "¿Mañana a las 10?" and message["from"] == "+34600123456"
    assert message["provider_message_id"] == "wamid.ONCE" and message["session_id"] == session["id"]
    [conversation] = call("GET", "/v1/conversations", key)[1]["items"]
    assert conversation["unread"] == 1 and conversation["name"] == "Ana"


def test_statuses_out_of_order_and_twice_change_nothing(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    message = sent_message(call, key, session, functions)
    wamid = message["provider_message_id"]
    for kind, ts in [("read", 300), ("delivered", 200), ("sent", 100), ("read", 300), ("failed", 400)]:
        post_webhook(functions, notification(statuses=[status_update(wamid, kind, ts=ts)]))
    final = call("GET", f"/v1/messages/{message['id']}", key)[1]
    # `read` implies `delivered`: its time is filled in when `read` arrives first (README: statuses)
    assert final["status"] == "read" and final["read_at"] == 300 and final["delivered_at"] == 300


def test_a_failure_after_acceptance_is_reported(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    message = sent_message(call, key, session, functions)
    errors = [
        {"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24 hours passed"}}
    ]
    post_webhook(
        functions,
        notification(statuses=[status_update(message["provider_message_id"], "failed", errors=errors)]),
    )
    failed = call("GET", f"/v1/messages/{message['id']}", key)[1]
    assert failed["status"] == "failed" and failed["error"]["code"] == "outside_window"
    assert "template" in failed["error"]["message"]


def test_a_status_that_overtakes_the_send_waits_for_it(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    status, message, _ = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600123456", "text": "x"}
    )
    # Meta's webhook for the wamid the send will get arrives before our write of the send's outcome.
    post_webhook(functions, notification(statuses=[status_update("wamid.FAKE0001==", "delivered", ts=500)]))
    assert call("GET", f"/v1/messages/{message['id']}", key)[1]["status"] == "queued"
    run_cloud_queue(functions)
    final = call("GET", f"/v1/messages/{message['id']}", key)[1]
    assert final["status"] == "delivered" and final["delivered_at"] == 500


def test_a_send_recorded_while_its_status_is_being_parked_still_gets_it(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, message, _ = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": "+34600123456", "text": "x"}
    )
    park = CloudRepository.park

    def send_recorded_first(self: CloudRepository, *args: Any) -> None:
        # The webhook found the wamid unknown; before it parks the status, the send is recorded and looks
        # for parked statuses (none yet).
        run_cloud_queue(functions)
        assert call("GET", f"/v1/messages/{message['id']}", key)[1]["status"] == "sent"
        park(self, *args)

    monkeypatch.setattr(CloudRepository, "park", send_recorded_first)
    post_webhook(functions, notification(statuses=[status_update("wamid.FAKE0001==", "delivered", ts=500)]))
    final = call("GET", f"/v1/messages/{message['id']}", key)[1]
    assert final["status"] == "delivered" and final["delivered_at"] == 500


def test_bsuid_senders_and_recipients(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    bsuid = "US.13491208655302741918"
    message = {
        "id": "wamid.BSUID",
        "timestamp": "1504902988",
        "from_user_id": bsuid,
        "type": "text",
        "text": {"body": "hi"},
    }
    contacts = [{"profile": {"name": "Username", "username": "@user"}, "user_id": bsuid}]
    assert post_webhook(functions, notification(messages=[message], contacts=contacts))[0] == 200
    [stored] = inbox(call, key)
    assert stored["from"] == bsuid and stored["chat"] == bsuid and stored["text"] == "hi"
    sent = sent_message(call, key, session, functions)
    receipt = {
        "id": sent["provider_message_id"],
        "status": "delivered",
        "timestamp": "600",
        "recipient_user_id": bsuid,
    }
    post_webhook(functions, notification(statuses=[receipt]))
    assert call("GET", f"/v1/messages/{sent['id']}", key)[1]["status"] == "delivered"


def test_media_become_references(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    image = {
        "from": "34600123456",
        "id": "wamid.IMG",
        "timestamp": "1697043379",
        "type": "image",
        "image": {"caption": "mi receta", "mime_type": "image/jpeg", "sha256": "4654+8g=", "id": "65463453"},
    }
    post_webhook(functions, notification(messages=[image]))
    [stored] = inbox(call, key)
    assert stored["kind"] == "image" and stored["text"] == "mi receta"
    assert stored["content"]["caption"] == "mi receta"
    assert stored["media"]["url"] == "cloud-media:65463453" and stored["media"]["mime"] == "image/jpeg"


def test_other_fields_are_ignored_with_a_reason(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    logs: list[str],
) -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "999999999999999",  # a business account no session of ours belongs to
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {"event": "APPROVED", "message_template_name": "x"},
                    },
                    {"field": "account_update", "value": {"event": "ACCOUNT_VIOLATION"}},
                ],
            }
        ],
    }
    assert post_webhook(functions, body, signature="")[0] == 200  # nothing to check it with, nothing stored
    operator_settings(meta_app_secret="the-operators-app-secret")
    assert post_webhook(functions, body)[0] == 401  # with the operator's secret, it must have signed it
    assert post_webhook(functions, body, secret="the-operators-app-secret")[0] == 200
    out = "\n".join(logs)
    assert "template webhook for an unknown business account" in out and "an account update" in out
    assert inbox(call, key) == []
