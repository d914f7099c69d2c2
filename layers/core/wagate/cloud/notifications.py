"""Meta's WhatsApp webhook payloads → session events, sans-I/O (the signature is checked first: `signatures`).

    parse_notification(payload, received_at) → per business phone number id, the events the `web`
                                                engine's connector would have published
Statuses become `message_status` data shaped like `connector.engines.events.Receipt` (chat_jid,
provider_message_ids, status, at, by_jid); a `failed` status adds reason, detail and retryable, with the
reason picked from the same Graph code table as send errors. Messages go through `inbound`.
Anything else (template and account updates, calls, echoes, user preferences, value-level errors) is an
`Ignored` with its reason: the caller logs it, and Meta still gets its 200.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wagate.cloud.errors import classify
from wagate.cloud.inbound import (
    MAX_ID,
    Ignored,
    items,
    obj,
    parse_message,
    timestamp,
    user_jid,
)
from wagate.domain.cloud_templates import TemplateChange, TemplateUpdate
from wagate.domain.events import EventType

RECEIPT_STATUSES = frozenset({"sent", "delivered", "read", "played"})
_TEMPLATE_FIELDS: dict[str, TemplateChange] = {
    "message_template_status_update": "status",
    "template_category_update": "category",
    "message_template_quality_update": "quality",
    "message_template_components_update": "components",
}
_IGNORED_FIELDS = {
    "smb_message_echoes": "an echo of a message the business sent from the WhatsApp Business app "
    "(coexistence); wagate does not mirror them",
    "calls": "calls are not handled by wagate",
    "user_preferences": "a marketing preference of a customer; the vocabulary has no such event",
    "account_update": "an account update; nothing to store (logged for the operator)",
    "phone_number_quality_update": "a quality rating change; nothing to store",
    "phone_number_name_update": "a display name review; nothing to store",
    "security": "a security notice; nothing to store",
    "business_capability_update": "a capability change; nothing to store",
}

Event = tuple[EventType, dict[str, Any]]


@dataclass
class NumberUpdate:
    """What a payload says about one business phone number: events to apply, things deliberately ignored."""

    phone_number_id: str
    events: list[Event] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


@dataclass
class Notification:
    numbers: dict[str, NumberUpdate] = field(default_factory=dict)
    # template updates by WhatsApp Business Account id (the entry's id)
    accounts: dict[str, list[TemplateUpdate]] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)  # changes that name no phone number

    def number(self, phone_number_id: str) -> NumberUpdate:
        return self.numbers.setdefault(phone_number_id, NumberUpdate(phone_number_id))

    def all_ignored(self) -> list[Ignored]:
        return self.ignored + [i for n in self.numbers.values() for i in n.ignored]


# ---- POST: the payload -----------------------------------------------------------------------------


def parse_notification(payload: Any, received_at: float) -> Notification:
    """Every change of a webhook body, by business phone number id. Never raises on odd shapes: what it
    cannot read is an `Ignored` with the reason, so Meta gets a 200 and stops retrying it."""
    result = Notification()
    if not isinstance(payload, Mapping):
        result.ignored.append(Ignored("-", "the body is not a JSON object"))
        return result
    if payload.get("object") != "whatsapp_business_account":
        result.ignored.append(
            Ignored("-", f"object {payload.get('object')!r} is not whatsapp_business_account")
        )
        return result
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, Mapping):
                continue
            if str(change.get("field")) in _TEMPLATE_FIELDS:
                _template_change(result, entry, change, received_at)
            else:
                _change(result, change, received_at)
    if not result.numbers and not result.accounts and not result.ignored:
        result.ignored.append(Ignored("-", "the body has no changes"))
    return result


def _change(result: Notification, change: Mapping[str, Any], received_at: float) -> None:
    name = str(change.get("field") or "-")
    value = obj(change.get("value"))
    metadata = obj(value.get("metadata"))
    pnid = metadata.get("phone_number_id")
    target = result.number(str(pnid)) if isinstance(pnid, str | int) and str(pnid) else None
    ignored = target.ignored if target is not None else result.ignored
    if name != "messages":
        reason = _IGNORED_FIELDS.get(name, f"webhook field {name!r} is not handled")
        ignored.append(Ignored(name, reason, str(value.get("event") or "")))
        return
    if target is None:
        ignored.append(Ignored(name, "a messages change without metadata.phone_number_id cannot be routed"))
        return
    contacts = items(value.get("contacts"))
    messages = items(value.get("messages"))
    statuses = items(value.get("statuses"))
    for message in messages:
        parsed = parse_message(message, contacts, received_at) if isinstance(message, Mapping) else None
        if isinstance(parsed, dict):
            target.events.append((EventType.INCOMING_MESSAGE, parsed))
        elif parsed is not None and not parsed.detail and value.get("errors"):
            target.ignored.append(Ignored(parsed.field, parsed.reason, _value_errors(value)))
        else:
            target.ignored.append(parsed or Ignored(name, "a message that is not an object"))
    for status in statuses:
        outcome = parse_status(status, received_at) if isinstance(status, Mapping) else None
        if isinstance(outcome, dict):
            target.events.append((EventType.MESSAGE_STATUS, outcome))
        else:
            target.ignored.append(outcome or Ignored(name, "a status that is not an object"))
    if not messages and not statuses:
        ignored.append(Ignored(name, "no messages or statuses in this change", _value_errors(value)))


def _template_change(
    result: Notification, entry: Mapping[str, Any], change: Mapping[str, Any], received_at: float
) -> None:
    """A template webhook → a `TemplateUpdate` of the account named by the entry's id."""
    name = str(change["field"])
    value = obj(change.get("value"))
    account = entry.get("id")
    template_name = _text(value.get("message_template_name"))
    template_id = value.get("message_template_id")
    usable_id = isinstance(template_id, int | str) and not isinstance(template_id, bool) and str(template_id)
    if not isinstance(account, str | int) or not str(account).isdigit() or len(str(account)) > 30:
        result.ignored.append(Ignored(name, "a template update without a business account id (entry.id)"))
        return
    if not usable_id and not template_name:
        result.ignored.append(Ignored(name, "a template update naming no template", str(account)))
        return
    detail = {
        key: dict(value[key])
        for key in ("rejection_info", "disable_info", "other_info")
        if isinstance(value.get(key), Mapping)
    }
    kind = _TEMPLATE_FIELDS[name]
    update = TemplateUpdate(
        business_account_id=str(account),
        change=kind,
        at=timestamp(entry.get("time"), received_at),
        template_id=str(template_id)[:MAX_ID] if usable_id else None,
        name=template_name,
        language=_text(value.get("message_template_language")),
        event=_text(value.get("event")),
        reason=_text(value.get("reason")),
        category=_text(value.get("new_category" if kind == "category" else "message_template_category")),
        previous_category=_text(value.get("previous_category")),
        quality_score=_text(value.get("new_quality_score")),
        previous_quality_score=_text(value.get("previous_quality_score")),
        detail=detail,
    )
    result.accounts.setdefault(update.business_account_id, []).append(update)


def parse_status(status: Mapping[str, Any], received_at: float) -> dict[str, Any] | Ignored:
    """A `value.statuses[]` item → `message_status` data (a Receipt; failures add reason/detail/retryable)."""
    kind = str(status.get("status") or "")
    wamid = status.get("id")
    if not isinstance(wamid, str) or not wamid or len(wamid) > MAX_ID:
        return Ignored("messages", "a status without a usable message id", kind[:100])
    if kind != "failed" and kind not in RECEIPT_STATUSES:
        return Ignored("messages", f"status {kind[:100]!r} is not in the vocabulary", wamid)
    recipient = _first_str(status, "recipient_id", "recipient_user_id") or ""
    group = status.get("recipient_type") == "group"
    participant = _first_str(status, "recipient_participant_id", "recipient_participant_user_id")
    data: dict[str, Any] = {
        "chat_jid": recipient if group else user_jid(recipient),
        "provider_message_ids": [wamid],
        "status": kind,
        "at": timestamp(status.get("timestamp"), received_at),
        "by_jid": user_jid(participant) if group and participant else None,
        "by_me": False,  # Meta reports the recipient's statuses, never our own devices' reads
    }
    if kind == "failed":
        data.update(failure(status.get("errors")))
    return data


def failure(errors: Any) -> dict[str, Any]:
    """reason / detail / retryable of a failed status's first error, from the Graph code table."""
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], Mapping) else {}
    raw_code = first.get("code")
    digits = str(raw_code) if isinstance(raw_code, int | str) and not isinstance(raw_code, bool) else ""
    # ASCII digits only ("²".isdigit() is True), and few enough to be a Graph code
    code = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 9 else None
    cls, reason, hint = classify(code)
    data = obj(first.get("error_data"))
    said = _text(data.get("details")) or _text(first.get("message")) or _text(first.get("title"))
    detail = f"{said} ({hint})" if said else hint
    return {
        "reason": reason if code is not None else "send_failed",
        "detail": f"Meta error {code}: {detail}" if code is not None else detail,
        "retryable": cls.is_transient,
    }


def _value_errors(value: Mapping[str, Any]) -> str:
    errors = value.get("errors")
    if not isinstance(errors, list):
        return ""
    return "; ".join(
        f"{e.get('code')} {e.get('title') or ''}".strip() for e in errors if isinstance(e, Mapping)
    )


def _text(value: Any) -> str | None:
    return value[:1000] if isinstance(value, str) and value else None


def _first_str(data: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None
