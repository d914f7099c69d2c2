"""What flows between the service and the connector: commands in, session events out (one vocabulary).

Commands travel on the shard's FIFO command queue (group = session id); events on the EventsQueue
(group = session id), so each session's commands and events keep their order. Event names are those of
seed 001, which dashboards and CRM webhooks see unchanged.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.ids import new_id

# Event fields are snake_case, as everywhere in the REST API. Seed 001's integrations read the first
# events' camelCase names, so those go out alongside as aliases (deprecated, listed in README).
CAMEL_CASE_ALIASES = {
    "session_id": "sessionId",
    "tenant_id": "tenantId",
    "message_id": "messageId",
    "conversation_id": "conversationId",
    "provider_message_id": "providerMessageId",
    "qr_code": "qrCode",
    "synced_at": "syncedAt",
}


def with_aliases(data: dict[str, Any]) -> dict[str, Any]:
    """`data` plus the camelCase alias of each field that has one (same value)."""
    return {**data, **{camel: data[snake] for snake, camel in CAMEL_CASE_ALIASES.items() if snake in data}}


@enum.unique
class CommandType(enum.StrEnum):
    CONNECT = "connect"  # start (or restart) the session's engine; keeps stored keys
    DISCONNECT = "disconnect"  # close the socket and stay stopped; keys are kept
    LOGOUT = "logout"  # unlink the device on WhatsApp's side and wipe the keys
    SEND = "send"  # send one message (data: the message to send)
    MARK_READ = "mark_read"  # send read receipts (data: chat and message ids)
    SYNC_GROUPS = "sync_groups"  # list participating groups and report them
    # change a group (data: operation_id, action, group_jid, subject, description, participants): the
    # outcome comes back as `group_operation`, the change itself as `group_updated`
    GROUP = "group"
    SYNC_TEMPLATES = "sync_templates"  # cloud only: read the number's Meta templates from Graph
    # data: check_id, numbers (E.164): is each on WhatsApp (a usync query); answered by numbers_checked
    CHECK_NUMBERS = "check_numbers"
    SANDBOX = "sandbox"  # sandbox only: simulate something (data.action: scan, drop, logout, ban, reply)


@enum.unique
class EventType(enum.StrEnum):
    QR_CODE = "qr_code"  # data: qr (text to encode), expires_at
    CONNECTION_SUCCESS = "connection_success"  # data: phone, jid, name
    CONNECTION_LOST = "connection_lost"  # data: reason, retry_in (seconds), detail, permanent=false
    LOGGED_OUT = "logged_out"  # data: reason
    SESSION_FAILED = "session_failed"  # data: reason (banned, bad configuration, ...); permanent
    SESSION_STATUS = "session_status"  # data: status (connecting, pending, disconnected by request)
    INCOMING_MESSAGE = "incoming_message"
    MESSAGE_SENT = "message_sent"
    MESSAGE_STATUS = "message_status"
    GROUPS_SYNCED = "groups_synced"
    # data: reason (never_linked), status, name, created_at, after_seconds: a session nobody linked in
    # time was deleted by the sweeper (services/session_expiry.py), freeing its slot
    SESSION_EXPIRED = "session_expired"
    # data: the contact (phone, lid, jid, name, push_name, profile_picture_url, external_id, tags,
    # metadata, ...) and `changed` (its fields that are new): services/contacts.py
    # data: check_id, results [{phone, status, jid, lid}] or error: the connector's answer to check_numbers;
    # stored for POST /v1/contacts/check (services/number_check.py), not sent to CRMs or dashboards
    NUMBERS_CHECKED = "numbers_checked"
    CONTACT_CREATED = "contact_created"
    CONTACT_UPDATED = "contact_updated"
    # cloud only, from Meta's template webhooks: data change (status, quality, category, components),
    # template_id, name, language, event, reason, category, quality_score, status (as wagate now has it)
    TEMPLATE_UPDATED = "template_updated"
    # data: group_jid, action (created, add, remove, promote, demote, subject, description,
    # invite_revoked, left, deleted), members [{jid, phone, lid, role}], subject, description,
    # invite_link, by_jid, by_phone, group {jid, subject, participants, ...}, operation_id
    GROUP_UPDATED = "group_updated"
    # data: operation_id, action, group_jid, ok, result, error_code, error: a group operation's outcome
    GROUP_OPERATION = "group_operation"
    # data: contacts [{phone, lid, name}], source: the engine learned who is who (history sync, LID
    # migration); applied to contacts, not sent to CRMs or dashboards
    CONTACTS_SYNCED = "contacts_synced"


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str = Field(default_factory=lambda: new_id("cmd"))
    type: CommandType
    tenant_id: str
    session_id: str
    data: dict[str, Any] = Field(default_factory=dict)
    issued_at: float


class SessionEvent(BaseModel):
    """One thing that happened to a session, as the connector (or a provider webhook) reports it.

    `fence` is the fencing token of the lease under which the connector produced it: the events consumer
    ignores events with a fence older than the newest it has applied, so a connector that lost its lease
    can never overwrite what the new owner reported.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str = Field(default_factory=lambda: new_id("evt"))
    type: EventType
    tenant_id: str
    session_id: str
    fence: int = 0
    at: float
    data: dict[str, Any] = Field(default_factory=dict)
