"""Builds the services a route needs from the process's adapters (one place, so routes stay one-liners)."""

from __future__ import annotations

from wagate.services.conversations import ConversationService
from wagate.services.messages import MessageService
from wagate.services.sessions import SessionService
from wagate.wiring import deps


def session_service() -> SessionService:
    d = deps()
    return SessionService(
        d.table, d.queues, d.clock, limit=d.settings.max_sessions_per_tenant, shards=d.settings.shards
    )


def message_service() -> MessageService:
    d = deps()
    return MessageService(d.table, d.queues, d.clock, session_service(), renderer=_template_renderer())


def conversation_service() -> ConversationService:
    d = deps()
    return ConversationService(d.table, d.queues, d.clock, shards=d.settings.shards)


def _template_renderer():  # type: ignore[no-untyped-def]
    """The templates service's render function, once that capability is installed."""
    try:
        from wagate.services.templates import TemplateService
    except ImportError:
        return None
    d = deps()
    return TemplateService(d.table, d.clock).render
