"""/v1/messages: send now or later (idempotent with `Idempotency-Key`), list, fetch and cancel messages."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import check_session, require
from wagate.api.idempotency import idempotent
from wagate.domain.errors import Forbidden, NotFound
from wagate.domain.instants import Instant
from wagate.domain.messages import Direction, Message, MessageStatus
from wagate.domain.tenants import Principal, Scope
from wagate.services.media_files import MediaFiles
from wagate.services.messages import MessageService, SendRequest

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Sender = Annotated[Principal, Depends(require(Scope.SEND))]
Messages = Annotated[MessageService, Depends(compose.message_service)]
Files = Annotated[MediaFiles, Depends(compose.media_files)]


class MessageList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Message]
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


@router.post("/messages", summary="Send a message (now or scheduled)", tags=["messages"])
def send_message(body: SendRequest, principal: Sender, service: Messages) -> tuple[dict[str, Any], int]:
    """202 with the message. With `Idempotency-Key`, a retry returns the first answer; the same key with a
    different body is a 422 (`idempotency_key_reused`)."""

    if principal.sessions is not None and body.session_id is None:
        raise Forbidden("a session-scoped key sends from its own sessions: give session_id, not a pool")
    check_session(principal, body.session_id)

    def accept(tenant_id: str, request: SendRequest, key: str | None) -> Message:
        # The key commits with the message too: a retry after a crash finds it (MessageService.accept).
        return service.accept(tenant_id, request, request_key=key)

    message = idempotent(router, accept, Message)(principal.tenant_id, body)
    return message.model_dump(mode="json", by_alias=True), 202


@router.get("/messages", summary="List messages (newest first)", tags=["messages"])
def list_messages(
    principal: Reader,
    service: Messages,
    files: Files,
    session_id: Annotated[str | None, Query()] = None,
    status: Annotated[MessageStatus | None, Query()] = None,
    direction: Annotated[Direction | None, Query()] = None,
    to: Annotated[str | None, Query(description="E.164 phone or group id")] = None,
    since: Annotated[Instant | None, Query(description="epoch seconds or ISO 8601 with an offset")] = None,
    until: Annotated[Instant | None, Query(description="epoch seconds or ISO 8601 with an offset")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> MessageList:
    if session_id is not None:
        check_session(principal, session_id)
    items, next_cursor = service.list(
        principal.tenant_id,
        session_id=session_id,
        status=status,
        direction=direction,
        to=to,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    seen = [files.with_links(m) for m in items if principal.sees(m.session_id)]
    return MessageList(items=seen, cursor=next_cursor)


@router.get("/messages/<message_id>", summary="Get a message", tags=["messages"])
def get_message(message_id: str, principal: Reader, service: Messages, files: Files) -> Message:
    """An attachment's `content.media.url` is a fresh short-lived link to the stored file."""
    return files.with_links(_seen(principal, service.get(principal.tenant_id, message_id)))


@router.delete("/messages/<message_id>", summary="Cancel a scheduled or queued message", tags=["messages"])
def cancel_message(message_id: str, principal: Sender, service: Messages) -> Message:
    _seen(principal, service.get(principal.tenant_id, message_id))
    return service.cancel(principal.tenant_id, message_id)


def _seen(principal: Principal, message: Message) -> Message:
    """The message, if the key sees its session: to a session-scoped key, others do not exist."""
    if not principal.sees(message.session_id):
        raise NotFound(f"message {message.id} does not exist")
    return message
