"""Event fields are snake_case like the REST API; seed 001's camelCase names ride along as aliases."""

from __future__ import annotations

from wagate.domain.events import CAMEL_CASE_ALIASES, with_aliases
from wagate.services import realtime


def test_every_alias_is_the_camel_case_of_its_field() -> None:
    for snake, camel in CAMEL_CASE_ALIASES.items():
        head, *rest = snake.split("_")
        assert camel == head + "".join(part.title() for part in rest)


def test_dashboard_messages_carry_both_names() -> None:
    message = realtime.message_for("qr_code", "ses_1", {"qr_code": "data:...", "status": "waiting_qr"})
    assert message == {
        "event": "qr_code",
        "data": {
            "session_id": "ses_1",
            "qr_code": "data:...",
            "status": "waiting_qr",
            "sessionId": "ses_1",
            "qrCode": "data:...",
        },
    }
    assert with_aliases({"status": "read"}) == {"status": "read"}
