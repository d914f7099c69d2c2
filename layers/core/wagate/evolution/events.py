"""Evolution's webhook events from wagate's: which event names, and the bodies Evolution v2 posts.

Each body is `{event, instance, data, destination, date_time, sender, server_url, apikey}` (Evolution's
WebhookController.emit): `event` in its dotted lower-case form (`messages.upsert`), `destination` the URL
posted to, `sender` the instance's own jid, `apikey` the instance token (as Evolution does with
AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES, its default). wagate keeps this shape and adds its Standard
Webhooks signature headers, retries and replays (services/crm_webhooks.py, crm_attempts.py).

    qr_code                  QRCODE_UPDATED     {qrcode: {instance, pairingCode, code, base64}}
    connection_success       CONNECTION_UPDATE  {instance, wuid, profileName, profilePictureUrl,
                                                 state: "open", statusReason: 200}
    connection_lost          CONNECTION_UPDATE  {instance, state: "connecting", statusReason: 428}
    logged_out               CONNECTION_UPDATE  {instance, state: "close", statusReason: 401}
                             LOGOUT_INSTANCE    null
    session_status (failed)  CONNECTION_UPDATE  {instance, state: "close", statusReason: 403|500}
    session_status (connecting, connector_lost)
                             CONNECTION_UPDATE  {instance, state: "connecting", statusReason: 428}
    incoming_message         MESSAGES_UPSERT    the message record (shapes.py)
                             CONTACTS_UPSERT    {remoteJid, pushName, profilePicUrl, instanceId} (1:1)
    message_sent             SEND_MESSAGE       the message record (MESSAGES_UPSERT: typed on the phone)
    message_status           MESSAGES_UPDATE    {keyId, remoteJid, fromMe, participant, status,
                                                 instanceId, messageId}
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wagate.domain.crm_webhooks import EvolutionFormat, Webhook, WebhookEvent
from wagate.domain.errors import WagateError
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.messages import Message, MessageStatus
from wagate.domain.sessions import Session
from wagate.domain.status_reports import CONNECTOR_LOST
from wagate.evolution import shapes
from wagate.services.crm_webhooks import Formatted

# Evolution's event names (EventController.events) that wagate can send, by the wagate event behind them.
SENDS: dict[str, tuple[WebhookEvent, ...]] = {
    "QRCODE_UPDATED": (WebhookEvent.QR_CODE,),
    "CONNECTION_UPDATE": (
        WebhookEvent.CONNECTION_SUCCESS,
        WebhookEvent.CONNECTION_LOST,
        WebhookEvent.LOGGED_OUT,
        WebhookEvent.SESSION_STATUS,
    ),
    "MESSAGES_UPSERT": (WebhookEvent.INCOMING_MESSAGE, WebhookEvent.MESSAGE_SENT),
    "CONTACTS_UPSERT": (WebhookEvent.INCOMING_MESSAGE,),
    "SEND_MESSAGE": (WebhookEvent.MESSAGE_SENT,),
    "MESSAGES_UPDATE": (WebhookEvent.MESSAGE_STATUS,),
    "LOGOUT_INSTANCE": (WebhookEvent.LOGGED_OUT,),
}
# Every name Evolution accepts in `webhook.events` (its JSON schema's enum); the others are accepted and
# stored, and never sent (wagate has nothing that maps to them).
EVOLUTION_EVENTS = (
    "APPLICATION_STARTUP",
    "QRCODE_UPDATED",
    "MESSAGES_SET",
    "MESSAGES_UPSERT",
    "MESSAGES_EDITED",
    "MESSAGES_UPDATE",
    "MESSAGES_DELETE",
    "SEND_MESSAGE",
    "SEND_MESSAGE_UPDATE",
    "CONTACTS_SET",
    "CONTACTS_UPSERT",
    "CONTACTS_UPDATE",
    "PRESENCE_UPDATE",
    "CHATS_SET",
    "CHATS_UPSERT",
    "CHATS_UPDATE",
    "CHATS_DELETE",
    "GROUPS_UPSERT",
    "GROUP_UPDATE",
    "GROUP_PARTICIPANTS_UPDATE",
    "CONNECTION_UPDATE",
    "LABELS_EDIT",
    "LABELS_ASSOCIATION",
    "CALL",
    "TYPEBOT_START",
    "TYPEBOT_CHANGE_STATUS",
    "REMOVE_INSTANCE",
    "LOGOUT_INSTANCE",
    "INSTANCE_CREATE",
    "INSTANCE_DELETE",
    "STATUS_INSTANCE",
)
# webhook_base64 puts a file's bytes in the body; a delivery is one stored row (DynamoDB: 400 KB at
# most), so larger files go by their link (`mediaUrl`) only.
BASE64_MAX_BYTES = 256 * 1024
# Baileys' DisconnectReason codes, as Evolution reports them in `statusReason`.
CONNECTION_CLOSED = 428
LOGGED_OUT = 401
FORBIDDEN = 403
SERVER_ERROR = 500


def wagate_events(evolution_events: list[str]) -> list[WebhookEvent]:
    """The wagate events a webhook subscribed to these Evolution events must receive."""
    return sorted({kind for name in evolution_events for kind in SENDS.get(name, ())})


def dotted(name: str) -> str:
    """`MESSAGES_UPSERT` -> `messages.upsert`, the `event` field Evolution posts."""
    return name.lower().replace("_", ".")


def hyphenated(name: str) -> str:
    """`MESSAGES_UPSERT` -> `messages-upsert`, what webhookByEvents appends to the URL."""
    return name.lower().replace("_", "-")


@dataclass(frozen=True)
class Sources:
    """What bodies are built from, given by the composition root (no I/O in here otherwise)."""

    session: Callable[[str, str], Session | None]  # (tenant, session) -> the session
    message: Callable[[str, str], Message | None]  # (tenant, message id) -> the message
    # (tenant, session) -> what is kept of the instance: {"token", "settings"} (store/evolution.py)
    kept: Callable[[str, str], dict[str, Any] | None]
    media_bytes: Callable[[str, str, int], bytes | None]  # (tenant, media id, limit) -> the file
    server_url: str | None
    # (tenant, session, wagate's or WhatsApp's id) -> a message one names: a quote, a reaction's target
    named: Callable[[str, str, str], Message | None] | None = None


class EvolutionBodies:
    """The `Formatter` of services/crm_webhooks.py for webhooks with an `evolution` format."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def __call__(
        self, hook: Webhook, event: SessionEvent, kind: str, data: Mapping[str, Any]
    ) -> list[Formatted]:
        options = hook.evolution
        if options is None:
            return []
        session = self.sources.session(event.tenant_id, event.session_id)
        if session is None:
            return []
        kept = self.sources.kept(event.tenant_id, event.session_id) or {}
        # settings/set's groupsIgnore: group messages are not told (wagate still stores them).
        ignore_groups = bool((kept.get("settings") or {}).get("groupsIgnore"))
        found: list[Formatted] = []
        for name, body in self._data(options, session, event, kind, data):
            if name not in options.events:
                continue
            if ignore_groups and name in MESSAGE_EVENTS and _in_group(body):
                continue
            suffix = "/" + hyphenated(name) if options.by_events else ""
            payload = {
                "event": dotted(name),
                "instance": options.instance,
                "data": body,
                "destination": hook.url + suffix,
                "date_time": _iso(event.at),
                "sender": shapes.jid_of(session.phone) if session.phone else None,
                "server_url": self.sources.server_url,
                "apikey": kept.get("token"),
            }
            found.append(Formatted(payload, part=name, url_suffix=suffix))
        return found

    def _data(
        self,
        options: EvolutionFormat,
        session: Session,
        event: SessionEvent,
        kind: str,
        data: Mapping[str, Any],
    ) -> list[tuple[str, Any]]:
        instance = options.instance
        if kind == EventType.QR_CODE:
            qrcode = {
                "instance": instance,
                "pairingCode": data.get("pairing_code"),
                "code": data.get("qr"),
                "base64": data.get("qr_code"),
            }
            return [("QRCODE_UPDATED", {"qrcode": qrcode})]
        if kind == EventType.CONNECTION_SUCCESS:
            phone = data.get("phone") or session.phone
            return [
                (
                    "CONNECTION_UPDATE",
                    {
                        "instance": instance,
                        "wuid": shapes.jid_of(str(phone)) if phone else None,
                        "profileName": data.get("push_name") or data.get("name"),
                        "profilePictureUrl": None,
                        "state": "open",
                        "statusReason": 200,
                    },
                )
            ]
        if kind == EventType.CONNECTION_LOST:
            return [_connection(instance, "connecting", CONNECTION_CLOSED)]
        if kind == EventType.LOGGED_OUT:
            # Evolution's monitor also says so on its own, with no data (monitor.service.ts).
            return [_connection(instance, "close", LOGGED_OUT), ("LOGOUT_INSTANCE", None)]
        if kind == EventType.SESSION_STATUS:
            if data.get("status") == "connecting" and data.get("reason") == CONNECTOR_LOST:
                # Its connector died and another is taking it over: Evolution's dropped-socket update.
                return [_connection(instance, "connecting", CONNECTION_CLOSED)]
            if data.get("status") != "failed":
                return []  # the other changes have their own events above
            reason = FORBIDDEN if "ban" in str(data.get("reason") or "") else SERVER_ERROR
            return [_connection(instance, "close", reason)]
        if kind in (EventType.INCOMING_MESSAGE, EventType.MESSAGE_SENT, EventType.MESSAGE_STATUS):
            message = self.sources.message(event.tenant_id, str(data.get("message_id") or ""))
            if message is None:
                return []  # erased meanwhile
            return self._message(options, session, kind, data, message)
        return []

    def _message(
        self,
        options: EvolutionFormat,
        session: Session,
        kind: str,
        data: Mapping[str, Any],
        message: Message,
    ) -> list[tuple[str, Any]]:
        if kind == EventType.MESSAGE_STATUS:
            key = shapes.message_key(message)
            status = MessageStatus(str(data.get("status") or message.status))
            update = {
                "keyId": key["id"],
                "remoteJid": key["remoteJid"],
                "fromMe": key["fromMe"],
                "participant": key.get("participant"),
                "status": shapes.STATUS[status],
                "instanceId": session.id,
                "messageId": message.id,
            }
            return [("MESSAGES_UPDATE", update)]
        named = self.sources.named
        record = shapes.message_record(
            message,
            instance_id=session.id,
            base64_media=self._base64(options, message),
            lookup=(lambda some: named(message.tenant_id, session.id, some)) if named is not None else None,
        )
        if kind == EventType.MESSAGE_SENT:
            # Typed on the account's phone: Evolution sees it arrive (fromMe) rather than sent by its API.
            return [("MESSAGES_UPSERT" if data.get("source") == "phone" else "SEND_MESSAGE", record)]
        found: list[tuple[str, Any]] = [("MESSAGES_UPSERT", record)]
        remote = record["key"]["remoteJid"]
        if not remote.endswith(shapes.GROUP_SUFFIX):
            contact = {
                "remoteJid": remote,
                "pushName": record.get("pushName") or "",
                "profilePicUrl": None,
                "instanceId": session.id,
            }
            found.append(("CONTACTS_UPSERT", contact))
        return found

    def _base64(self, options: EvolutionFormat, message: Message) -> str | None:
        media = getattr(message.content, "media", None)
        media_id = getattr(media, "id", None)
        if not options.base64 or not media_id:
            return None
        try:
            raw = self.sources.media_bytes(message.tenant_id, str(media_id), BASE64_MAX_BYTES)
        except WagateError:
            return None
        return base64.b64encode(raw).decode("ascii") if raw is not None else None


MESSAGE_EVENTS = frozenset({"MESSAGES_UPSERT", "SEND_MESSAGE", "MESSAGES_UPDATE", "CONTACTS_UPSERT"})


def _in_group(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    key = body.get("key")
    remote = key.get("remoteJid") if isinstance(key, dict) else body.get("remoteJid")
    return isinstance(remote, str) and remote.endswith(shapes.GROUP_SUFFIX)


def _connection(instance: str, state: str, reason: int) -> tuple[str, dict[str, Any]]:
    return "CONNECTION_UPDATE", {"instance": instance, "state": state, "statusReason": reason}


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
