"""A send command's data read into what the engine is handed: recipient, text, media, typed content, and the
messages it names (services/messages.py writes the command; connector/sending.py sends it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.engines.base import MessageRef, OutgoingMedia
from connector.engines.events import MediaKind


@dataclass(frozen=True)
class SendRequest:
    message_id: str
    to: str
    text: str
    media: OutgoingMedia | None
    quoted_id: str | None
    content: dict[str, Any] | None = None  # a typed kind (location, reaction, poll…): send_content
    target: MessageRef | None = None
    quoted: MessageRef | None = None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> SendRequest:
        """Raises ValueError."""
        media = data.get("media")
        outgoing = None
        if isinstance(media, dict):
            outgoing = OutgoingMedia(
                kind=MediaKind(media.get("kind", "document")),
                mime_type=str(media.get("mime_type", "application/octet-stream")),
                url=media.get("url"),
                caption=media.get("caption"),
                filename=media.get("filename"),
                voice=bool(media.get("voice")),
                media_id=media.get("media_id"),
                size=media.get("size") if isinstance(media.get("size"), int) else None,
            )
        quoted = data.get("quoted_id")
        content = data.get("content") if isinstance(data.get("content"), dict) else None
        return cls(
            str(data["message_id"]),
            str(data["to"]),
            str(data.get("text") or ""),
            outgoing,
            quoted,
            content,
            _ref(data.get("target")),
            _ref(data.get("quoted")),
        )


def _ref(raw: Any) -> MessageRef | None:
    """A message named by a send command. Raises ValueError."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("provider_id"), str):
        raise ValueError(f"not a message reference: {raw!r}")
    participant = raw.get("participant")
    content = raw.get("content")
    return MessageRef(
        provider_id=raw["provider_id"],
        from_me=bool(raw.get("from_me")),
        participant=participant if isinstance(participant, str) else None,
        content=content if isinstance(content, dict) else None,
    )
