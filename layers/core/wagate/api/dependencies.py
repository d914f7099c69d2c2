"""Builds the services a route needs from the process's adapters (one place, so routes stay one-liners)."""

from __future__ import annotations

from collections.abc import Callable

from wagate.domain.messages import MediaContent
from wagate.domain.outbound_urls import MEDIA, UrlPolicy
from wagate.services.conversations import ConversationService
from wagate.services.groups import GroupService
from wagate.services.media import MediaCheck, MediaRules
from wagate.services.messages import MessageService, TemplateRef
from wagate.services.pools import PoolService
from wagate.services.sessions import SessionService
from wagate.services.templates import TemplateService
from wagate.wiring import deps


def session_service() -> SessionService:
    d = deps()
    return SessionService(
        d.table, d.queues, d.clock, limit=d.settings.max_sessions_per_tenant, shards=d.settings.shards
    )


def message_service() -> MessageService:
    d = deps()
    return MessageService(
        d.table,
        d.queues,
        d.clock,
        session_service(),
        renderer=_template_renderer(),
        media_check=_check_media,
    )


def _check_media(media: MediaContent) -> None:
    # Resolved per call, so the probe's HTTP client is made only when a message carries media.
    media_check()(media)


def media_check() -> MediaCheck:
    d = deps()
    settings = d.settings
    urls = UrlPolicy(MEDIA, allow_http=settings.media_allow_http, allow_private=settings.media_allow_private)
    rules = MediaRules(urls)
    return MediaCheck(d.media(), rules)


def group_service() -> GroupService:
    d = deps()
    return GroupService(d.table, d.queues, d.clock, session_service())


def pool_service() -> PoolService:
    d = deps()
    return PoolService(d.table, d.clock, session_service())


def conversation_service() -> ConversationService:
    d = deps()
    return ConversationService(d.table, d.queues, d.clock, shards=d.settings.shards)


def _template_renderer() -> Callable[[str, TemplateRef], str]:
    d = deps()
    return TemplateService(d.table, d.clock).render
