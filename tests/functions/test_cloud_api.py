"""The Graph client on httpx.MockTransport: every send kind's body, the token check, the error table.

Transport failures are told apart too: nothing sent (retry) vs. sent without an answer (never re-send).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fakes.graph import VALID_TOKEN, FakeGraph
from wagate.cloud import errors as e
from wagate.cloud import payloads as p
from wagate.cloud.graph import GraphApi
from wagate.domain.errors import InvalidInput, TransientError

PNID = "106540352242922"


@pytest.fixture
def graph() -> FakeGraph:
    fake = FakeGraph()
    fake.number(PNID, display="+1 555-078-3881", name="Clinic")
    return fake


def sent(graph: FakeGraph, body: dict[str, Any]) -> dict[str, Any]:
    accepted = graph.api().send(PNID, VALID_TOKEN, body)
    assert accepted.message_id.startswith("wamid.")
    request = graph.requests[-1]
    assert request.method == "POST" and request.url.path == f"/v25.0/{PNID}/messages"
    assert request.headers["authorization"] == f"Bearer {VALID_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    body_sent: dict[str, Any] = json.loads(request.content)
    return body_sent


ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "34600123456"}

SENDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "text",
        p.text("+34 600 123 456", "Hola"),
        {"type": "text", "text": {"body": "Hola", "preview_url": False}},
    ),
    (
        "reply",
        p.text("+34600123456", "Sí", reply_to="wamid.ABC"),
        {
            "type": "text",
            "text": {"body": "Sí", "preview_url": False},
            "context": {"message_id": "wamid.ABC"},
        },
    ),
    (
        "template, positional",
        p.template(
            "+34600123456",
            "appointment_reminder",
            "es",
            params=p.TemplateParams.from_variables({"2": "10:00", "1": "Ana"}),
        ),
        {
            "type": "template",
            "template": {
                "name": "appointment_reminder",
                "language": {"code": "es"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "10:00"}],
                    }
                ],
            },
        },
    ),
    (
        "template, named, with a button",
        p.template(
            "+34600123456",
            "order_confirmation",
            "en_US",
            params=p.TemplateParams.from_variables({"first_name": "Ana", "order": "#42"}),
            components=[
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": "42"}],
                }
            ],
        ),
        {
            "type": "template",
            "template": {
                "name": "order_confirmation",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                            {"type": "text", "parameter_name": "order", "text": "#42"},
                        ],
                    },
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": [{"type": "text", "text": "42"}],
                    },
                ],
            },
        },
    ),
    (
        "template without parameters",
        p.template("+34600123456", "hello_world", "en_US"),
        {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}},
    ),
    (
        "image by link",
        p.media("+34600123456", "image", link="https://cdn.example/a.jpg", caption="Plan"),
        {"type": "image", "image": {"link": "https://cdn.example/a.jpg", "caption": "Plan"}},
    ),
    (
        "document by id",
        p.media("+34600123456", "document", media_id="1013859600285441", caption="Factura", filename="f.pdf"),
        {
            "type": "document",
            "document": {"id": "1013859600285441", "caption": "Factura", "filename": "f.pdf"},
        },
    ),
    (
        "audio by id (no caption)",
        p.media("+34600123456", "audio", media_id="1013859600285442", caption="ignored"),
        {"type": "audio", "audio": {"id": "1013859600285442"}},
    ),
    (
        "video by link",
        p.media("+34600123456", "video", link="https://cdn.example/v.mp4", caption="Demo"),
        {"type": "video", "video": {"link": "https://cdn.example/v.mp4", "caption": "Demo"}},
    ),
    (
        "location",
        p.location("+34600123456", 40.4168, -3.7038, name="Clínica", address="Gran Vía 1"),
        {
            "type": "location",
            "location": {
                "latitude": 40.4168,
                "longitude": -3.7038,
                "name": "Clínica",
                "address": "Gran Vía 1",
            },
        },
    ),
    (
        "contacts",
        p.contacts("+34600123456", [p.ContactCard("Ana Pérez", phones=["+34600999888"], first_name="Ana")]),
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {"formatted_name": "Ana Pérez", "first_name": "Ana"},
                    "phones": [{"phone": "+34600999888", "type": "CELL", "wa_id": "34600999888"}],
                }
            ],
        },
    ),
    (
        "reaction",
        p.reaction("+34600123456", "wamid.HBgM", "👍"),
        {"type": "reaction", "reaction": {"message_id": "wamid.HBgM", "emoji": "👍"}},
    ),
    (
        "reply buttons",
        p.buttons(
            "+34600123456",
            "¿Confirmas la cita?",
            [p.Button("yes", "Sí"), p.Button("no", "No")],
            footer="Clínica",
        ),
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "¿Confirmas la cita?"},
                "footer": {"text": "Clínica"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "yes", "title": "Sí"}},
                        {"type": "reply", "reply": {"id": "no", "title": "No"}},
                    ]
                },
            },
        },
    ),
    (
        "list",
        p.list_message(
            "+34600123456",
            "Elige un horario",
            "Horarios",
            [p.ListSection("Lunes", [p.ListRow("mon-10", "10:00", "con Ana"), p.ListRow("mon-12", "12:00")])],
            header="Citas",
        ),
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "header": {"type": "text", "text": "Citas"},
                "body": {"text": "Elige un horario"},
                "action": {
                    "button": "Horarios",
                    "sections": [
                        {
                            "title": "Lunes",
                            "rows": [
                                {"id": "mon-10", "title": "10:00", "description": "con Ana"},
                                {"id": "mon-12", "title": "12:00"},
                            ],
                        }
                    ],
                },
            },
        },
    ),
]


@pytest.mark.parametrize(("body", "expected"), [(b, x) for _, b, x in SENDS], ids=[n for n, _, _ in SENDS])
def test_each_send_kind_posts_graphs_shape(
    graph: FakeGraph, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert sent(graph, body) == {**ENVELOPE, **expected}


def test_builders_refuse_what_graph_would() -> None:
    with pytest.raises(ValueError):
        p.media("+34600123456", "image")
    with pytest.raises(ValueError):
        p.media("+34600123456", "image", link="https://x", media_id="1")
    with pytest.raises(ValueError):
        p.buttons("+34600123456", "x", [p.Button(str(i), str(i)) for i in range(4)])
    with pytest.raises(ValueError):
        p.list_message("+34600123456", "x", "y", [])


def test_mark_read_and_typing(graph: FakeGraph) -> None:
    graph.api().mark_read(PNID, VALID_TOKEN, "wamid.IN", typing=True)
    assert graph.bodies() == [
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.IN",
            "typing_indicator": {"type": "text"},
        }
    ]


def test_token_check_reads_the_number(graph: FakeGraph) -> None:
    number = graph.api().phone_number(PNID, VALID_TOKEN)
    assert (number.display_phone_number, number.verified_name, number.quality_rating) == (
        "+1 555-078-3881",
        "Clinic",
        "GREEN",
    )
    request = graph.requests[-1]
    assert request.method == "GET" and request.url.path == f"/v25.0/{PNID}"
    assert request.url.params["fields"] == "display_phone_number,verified_name,quality_rating"
    with pytest.raises(e.TokenInvalid) as caught:
        graph.api().phone_number(PNID, "EAAG-revoked-token-000000000")
    assert caught.value.code == "token_invalid" and caught.value.details["graph_code"] == 190


# code, HTTP status, Graph's is_transient, class, our reason, transient
TABLE = [
    (131047, 400, None, e.OutsideWindow, "outside_window", False),
    (130429, 400, None, e.RateLimited, "rate_limited", True),
    (131056, 400, None, e.RateLimited, "pair_rate_limited", True),
    (4, 400, None, e.RateLimited, "rate_limited", True),
    (190, 401, None, e.TokenInvalid, "token_invalid", False),
    (10, 403, None, e.PermissionDenied, "permission_denied", False),
    (200, 403, None, e.PermissionDenied, "permission_denied", False),
    (368, 400, None, e.AccountRestricted, "account_restricted", False),
    (131026, 400, None, e.RecipientUnavailable, "undeliverable", False),
    (132001, 404, None, e.TemplateRejected, "template_rejected", False),
    (132015, 400, None, e.TemplateRejected, "template_rejected", False),
    (100, 400, None, e.RequestRejected, "invalid_request", False),
    (131000, 500, None, e.GraphUnavailable, "provider_unavailable", True),
    (2, 503, None, e.GraphUnavailable, "provider_unavailable", True),
    (99999, 400, True, e.GraphUnavailable, "provider_unavailable", True),  # not in the table: Graph says
    (99999, 502, None, e.GraphUnavailable, "provider_unavailable", True),  # …or the HTTP status does
    (99999, 400, None, e.CloudApiError, "provider_error", False),
]


@pytest.mark.parametrize(("code", "status", "flag", "cls", "reason", "transient"), TABLE)
def test_graph_errors_keep_their_meaning(
    graph: FakeGraph, code: int, status: int, flag: bool | None, cls: type, reason: str, transient: bool
) -> None:
    extra = {"is_transient": flag} if flag is not None else {}
    graph.fail_next(code, status=status, message="Graph says no", error_data={"details": "why"}, **extra)
    with pytest.raises(e.CloudApiError) as caught:
        graph.api().send(PNID, VALID_TOKEN, p.text("+34600123456", "x"))
    error = caught.value
    assert type(error) is cls and error.code == reason and error.is_transient is transient
    assert isinstance(error, TransientError) is transient
    assert (
        error.graph_code == code
        and error.details["detail"] == "why"
        and error.details["http_status"] == status
    )
    assert VALID_TOKEN not in repr(error.details) + error.message


def test_outside_window_tells_the_crm_to_use_a_template(graph: FakeGraph) -> None:
    graph.fail_next(131047, message="Re-engagement message")
    with pytest.raises(e.OutsideWindow) as caught:
        graph.api().send(PNID, VALID_TOKEN, p.text("+34600123456", "x"))
    assert "template" in caught.value.message and isinstance(caught.value, e.CloudApiError)
    assert isinstance(e.RequestRejected("x"), InvalidInput)  # a bad request is an invalid input too


@pytest.mark.parametrize(
    ("status", "content", "cls"),
    [
        (502, b"<html>Bad Gateway</html>", e.GraphUnavailable),
        (429, b"", e.RateLimited),
        (404, b"nope", e.CloudApiError),
    ],
)
def test_answers_without_a_graph_error(status: int, content: bytes, cls: type) -> None:
    api = GraphApi(transport=httpx.MockTransport(lambda request: httpx.Response(status, content=content)))
    with pytest.raises(e.CloudApiError) as caught:
        api.phone_number(PNID, VALID_TOKEN)
    assert type(caught.value) is cls


def test_no_connection_is_safe_to_retry_but_a_lost_answer_is_not(graph: FakeGraph) -> None:
    graph.break_next(httpx.ConnectError("refused"))
    with pytest.raises(e.GraphUnavailable) as caught:
        graph.api().send(PNID, VALID_TOKEN, p.text("+34600123456", "x"))
    assert type(caught.value) is e.GraphUnavailable
    graph.break_next(httpx.ReadTimeout("slow"))
    with pytest.raises(e.OutcomeUnknown):
        graph.api().send(PNID, VALID_TOKEN, p.text("+34600123456", "x"))


def test_client_is_lazy_and_its_url_configurable() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"id": PNID, "display_phone_number": "15550783881"})

    api = GraphApi(base_url="https://graph.example/", version="v99.0", transport=httpx.MockTransport(answer))
    assert api._client is None  # nothing built until the first call
    api.phone_number(PNID, VALID_TOKEN)
    assert seen[0].startswith(f"https://graph.example/v99.0/{PNID}?fields=")
    api.close()
