"""The content model: every kind validates its own shape, and unreadable content becomes `unsupported`."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from wagate.domain.content import (
    Contacts,
    Content,
    Interactive,
    Kind,
    Location,
    MediaBody,
    Poll,
    Reaction,
    TemplateComponent,
    Unsupported,
    summary,
)
from wagate.services.inbound import read_content

CONTENT: TypeAdapter[Content] = TypeAdapter(Content)


def test_the_type_picks_the_kind() -> None:
    parsed = CONTENT.validate_python({"type": "location", "latitude": 40.4, "longitude": -3.7, "name": "Sol"})
    assert isinstance(parsed, Location) and parsed.name == "Sol"
    card = CONTENT.validate_python(
        {"type": "contacts", "contacts": [{"name": "Ana", "phones": [{"phone": "+34600123456"}]}]}
    )
    assert isinstance(card, Contacts) and summary(card) == "👤 Ana +34600123456"


def test_every_attachment_shares_one_body() -> None:
    for kind in ("image", "video", "audio", "document", "sticker"):
        parsed = CONTENT.validate_python({"type": kind, "caption": "x"})
        assert isinstance(parsed, MediaBody) and parsed.type == Kind(kind)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "location", "latitude": 91, "longitude": 0},
        {"type": "reaction", "emoji": "👍"},  # names no message
        {"type": "poll", "name": "q", "options": ["a"]},
        {"type": "poll", "name": "q", "options": ["a", "a"]},
        {"type": "poll", "name": "q", "options": ["a", "b"], "selectable_count": 3},
        {"type": "interactive", "style": "buttons", "body": "b"},
        {
            "type": "interactive",
            "style": "list",
            "body": "b",
            "sections": [{"rows": [{"id": "1", "title": "t"}]}],
        },
        {"type": "contacts", "contacts": []},
        {"type": "nonsense"},
    ],
)
def test_wrong_shapes_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CONTENT.validate_python(bad)


def test_interactive_ids_must_differ() -> None:
    buttons = [{"id": "a", "title": "Yes"}, {"id": "a", "title": "No"}]
    with pytest.raises(ValidationError):
        Interactive(style="buttons", body="Come?", buttons=buttons)  # type: ignore[arg-type]


def test_template_buttons_need_their_index() -> None:
    with pytest.raises(ValidationError):
        TemplateComponent(type="button", parameters=[])
    with pytest.raises(ValidationError):
        TemplateComponent.model_validate({"type": "header", "parameters": [{"type": "image"}]})
    ok = TemplateComponent.model_validate(
        {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "abc"}]}
    )
    assert ok.index == 0


def test_reaction_and_poll_summaries() -> None:
    assert summary(Reaction(target_provider_id="3EB0AA", emoji="❤")) == "❤"
    assert summary(Poll(name="¿Hora?", options=["9", "10"])) == "📊 ¿Hora?: 9 / 10"


def test_unreadable_event_content_is_unsupported_not_dropped() -> None:
    found = read_content({"content": {"type": "location", "latitude": "north"}, "type": "location"})
    assert isinstance(found, Unsupported) and found.raw_type == "location"
    assert "latitude" in (found.detail or "")
    assert isinstance(read_content({"type": "pool"}), Unsupported)
    assert read_content({"text": "hola"}).type == Kind.TEXT  # type: ignore[attr-defined]
