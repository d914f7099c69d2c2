"""/v1/conversations and /v1/contacts: the inbox (newest first), a chat's history, read receipts, contacts."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import check_session, require
from wagate.domain.conversations import Contact, Conversation
from wagate.domain.errors import Forbidden, InvalidInput, NotFound
from wagate.domain.messages import Message
from wagate.domain.tenants import Principal, Scope
from wagate.services.contacts import ContactService
from wagate.services.conversations import ConversationService

router = APIGatewayHttpRouter()
Conversations = Annotated[ConversationService, Depends(compose.conversation_service)]
Contacts = Annotated[ContactService, Depends(compose.contact_service)]
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Sender = Annotated[Principal, Depends(require(Scope.SEND))]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(description="From the previous page's cursor")]


class ConversationList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Conversation]
    cursor: str | None = Field(None)


class MessagePage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Message] = Field(description="Newest first")
    cursor: str | None = Field(None)


class ContactList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Contact]
    cursor: str | None = Field(None)


@router.get("/conversations", summary="Conversations, most recent activity first", tags=["conversations"])
def list_conversations(
    principal: Reader,
    service: Conversations,
    session_id: Annotated[str | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ConversationList:
    if session_id is not None:
        check_session(principal, session_id)
    items, next_cursor = service.list_conversations(
        principal.tenant_id, session_id=session_id, limit=limit, cursor=cursor
    )
    return ConversationList(items=[c for c in items if principal.sees(c.session_id)], cursor=next_cursor)


@router.get("/conversations/<conversation_id>", summary="Get a conversation", tags=["conversations"])
def get_conversation(conversation_id: str, principal: Reader, service: Conversations) -> Conversation:
    return _seen(principal, service, conversation_id)


@router.get(
    "/conversations/<conversation_id>/messages", summary="A conversation's messages", tags=["conversations"]
)
def conversation_messages(
    conversation_id: str, principal: Reader, service: Conversations, limit: Limit = 50, cursor: Cursor = None
) -> MessagePage:
    _seen(principal, service, conversation_id)
    items, next_cursor = service.conversation_messages(
        principal.tenant_id, conversation_id, limit=limit, cursor=cursor
    )
    return MessagePage(items=items, cursor=next_cursor)


@router.post(
    "/conversations/<conversation_id>/read", summary="Mark read (sends read receipts)", tags=["conversations"]
)
def mark_read(conversation_id: str, principal: Sender, service: Conversations) -> Conversation:
    _seen(principal, service, conversation_id)
    return service.mark_read(principal.tenant_id, conversation_id)


@router.get(
    "/contacts",
    summary="Contacts who wrote to the tenant's numbers; or found by phone, name word or external id",
    tags=["contacts"],
)
def list_contacts(
    principal: Reader,
    service: Conversations,
    contacts: Contacts,
    limit: Limit = 50,
    cursor: Cursor = None,
    phone: Annotated[
        str | None, Query(min_length=1, max_length=64, description="E.164 or WhatsApp id")
    ] = None,
    name: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="One word of their name (case and accents ignored)"),
    ] = None,
    external_id: Annotated[
        str | None, Query(min_length=1, max_length=200, description="The CRM's id, as set by PATCH")
    ] = None,
) -> ContactList:
    if principal.sessions is not None:
        # Contacts are the tenant's, across numbers: a session-scoped key finds its own through its
        # conversations instead.
        raise Forbidden("a session-scoped key lists its contacts through GET /v1/conversations")
    asked = {f: v for f, v in (("phone", phone), ("name", name), ("external_id", external_id)) if v}
    if len(asked) > 1:
        raise InvalidInput(
            "search by one of phone, name, external_id at a time", details={"fields": sorted(asked)}
        )
    if asked:
        ((field, value),) = asked.items()
        return ContactList(items=contacts.search_by(principal.tenant_id, field, value, limit=limit))
    items, next_cursor = service.list_contacts(principal.tenant_id, limit=limit, cursor=cursor)
    return ContactList(items=items, cursor=next_cursor)


def _seen(principal: Principal, service: ConversationService, conversation_id: str) -> Conversation:
    """The conversation, if the key sees its session: to a session-scoped key, others do not exist."""
    conversation = service.get_conversation(principal.tenant_id, conversation_id)
    if not principal.sees(conversation.session_id):
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conversation
