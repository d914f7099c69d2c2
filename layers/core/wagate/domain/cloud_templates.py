"""Meta templates of a Cloud number: what a sync saw (status, components), and whether a send fits one.

Meta renders a template itself; wagate only checks, at accept time, what it can know from the last sync:
the template exists in that language, is APPROVED, and the send gives as many body parameters as the
body has placeholders (`{{1}}`… or `{{name}}`), a header parameter when the header is a media or has a
placeholder, and a parameter for each URL button with a placeholder. No sync yet: nothing is checked
(Meta then answers for itself, and the failure reaches the CRM as a `failed` status).

Meta's template webhooks (`message_template_status_update`, `..._quality_update`,
`template_category_update`, `..._components_update`) change a synced template in place (`apply_update`):
the status an event leaves (REINSTATED → APPROVED; FLAGGED and LOCKED leave it as it was), the quality
score, the category. An event older than what is known of the template changes nothing; one the snapshot
cannot apply by itself (a template it has not seen, UNARCHIVED, new components) asks for a sync.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# The template status each status event leaves (Meta: the `event` says what happened, which is not
# always the status: a REINSTATED template is APPROVED again).
STATUS_AFTER = {
    "APPROVED": "APPROVED",
    "REJECTED": "REJECTED",
    "PENDING": "PENDING",
    "PAUSED": "PAUSED",
    "DISABLED": "DISABLED",
    "IN_APPEAL": "IN_APPEAL",
    "PENDING_DELETION": "PENDING_DELETION",
    "DELETED": "DELETED",
    "ARCHIVED": "ARCHIVED",
    "LIMIT_EXCEEDED": "LIMIT_EXCEEDED",
    "REINSTATED": "APPROVED",
}
# Events that leave the status as it was: at risk (still sendable), edit lock on or off.
STATUS_KEPT = frozenset({"FLAGGED", "LOCKED", "UNLOCKED"})
TemplateChange = Literal["status", "quality", "category", "components"]


class CloudTemplate(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str | None = None
    name: str
    language: str
    status: str = Field(description="APPROVED, PENDING, REJECTED, PAUSED, DISABLED…")
    category: str | None = None
    components: list[dict[str, Any]] = Field(default_factory=list, description="As Meta returns them")
    body_parameters: list[str] = Field(
        default_factory=list, description="The body's placeholders, in order (1, 2… or names)"
    )
    status_reason: str | None = Field(
        None, description="Why Meta set the status (a rejection's reason), from its status webhook"
    )
    quality_score: str | None = Field(None, description="GREEN, YELLOW, RED or UNKNOWN, when Meta said")
    status_updated_at: float | None = Field(
        None, description="When Meta's newest webhook about this template was sent (epoch seconds)"
    )


class CloudTemplates(BaseModel):
    """A session's templates as of `synced_at`."""

    model_config = ConfigDict(defer_build=True)

    templates: list[CloudTemplate]
    synced_at: float | None = Field(None, description="When they were last read from Meta (epoch seconds)")
    syncing: bool = Field(False, description="A sync from Meta is queued: read again in a moment")
    sync_error: str | None = Field(None, description="Why the last sync failed (the templates are older)")


def parse_template(raw: Mapping[str, Any]) -> CloudTemplate | None:
    """One entry of Graph's `/{waba}/message_templates`; None when it lacks a name or language."""
    name, language = raw.get("name"), raw.get("language")
    if not isinstance(name, str) or not isinstance(language, str) or not name or not language:
        return None
    components = [dict(c) for c in raw.get("components") or [] if isinstance(c, Mapping)]
    body = next((c for c in components if str(c.get("type", "")).upper() == "BODY"), {})
    text = str(body.get("text") or "")
    quality = raw.get("quality_score")
    score = quality.get("score") if isinstance(quality, Mapping) else None
    rejected = raw.get("rejected_reason")
    return CloudTemplate(
        id=str(raw["id"]) if raw.get("id") is not None else None,
        name=name,
        language=language,
        status=str(raw.get("status") or "UNKNOWN"),
        category=str(raw["category"]) if raw.get("category") else None,
        components=components,
        body_parameters=list(dict.fromkeys(PLACEHOLDER.findall(text))),
        quality_score=str(score) if isinstance(score, str) and score else None,
        status_reason=rejected if isinstance(rejected, str) and rejected not in ("", "NONE") else None,
    )


def problems(
    template: CloudTemplate, variables: Mapping[str, str], components: Sequence[Mapping[str, Any]]
) -> list[str]:
    """What keeps a send of `template` with these parameters from being accepted by Meta (empty: fine)."""
    found: list[str] = []
    if template.status != "APPROVED":
        found.append(f"template {template.name} ({template.language}) is {template.status}, not APPROVED")
    given_body = [c for c in components if c.get("type") == "body"]
    body_count = len(variables) + sum(len(c.get("parameters") or []) for c in given_body)
    if body_count != len(template.body_parameters):
        wanted = ", ".join(template.body_parameters) or "none"
        found.append(
            f"the body has {len(template.body_parameters)} parameters ({wanted}); {body_count} given"
        )
    header = next((c for c in template.components if str(c.get("type", "")).upper() == "HEADER"), None)
    if header is not None:
        media = str(header.get("format", "TEXT")).upper() in ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
        placeholder = bool(PLACEHOLDER.search(str(header.get("text") or "")))
        given = any(c.get("type") == "header" for c in components)
        if (media or placeholder) and not given:
            what = str(header.get("format", "text")).lower()
            found.append(f"the header needs a {what} parameter (components: type header)")
    buttons = next((c for c in template.components if str(c.get("type", "")).upper() == "BUTTONS"), None)
    for index, button in enumerate((buttons or {}).get("buttons") or []):
        dynamic = str(button.get("type", "")).upper() == "URL" and PLACEHOLDER.search(str(button.get("url")))
        given = any(c.get("type") == "button" and c.get("index") == index for c in components)
        if dynamic and not given:
            found.append(f"button {index} has a URL placeholder: give a button component with index {index}")
    return found


@dataclass(frozen=True)
class TemplateUpdate:
    """One of Meta's template webhooks, addressed to a WhatsApp Business Account (cloud/notifications.py)."""

    business_account_id: str
    change: TemplateChange
    at: float  # when Meta sent it (the entry's time)
    template_id: str | None
    name: str | None
    language: str | None
    event: str | None = None  # status: APPROVED, REJECTED, FLAGGED…
    reason: str | None = None
    category: str | None = None  # the category now (status and category updates)
    previous_category: str | None = None
    quality_score: str | None = None
    previous_quality_score: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # rejection_info, disable_info, other_info

    def notice(self, current: CloudTemplate | None) -> dict[str, Any]:
        """The `template_updated` event's data: what Meta said, and the template as wagate now knows it."""
        data: dict[str, Any] = {
            "change": self.change,
            "business_account_id": self.business_account_id,
            "template_id": self.template_id,
            "name": self.name,
            "language": self.language,
            "event": self.event,
            "reason": self.reason,
            "category": self.category,
            "previous_category": self.previous_category,
            "quality_score": self.quality_score,
            "previous_quality_score": self.previous_quality_score,
            **self.detail,
            "status": current.status if current is not None else None,
            "at": self.at,
        }
        return {k: v for k, v in data.items() if v is not None}


def _same_language(a: str | None, b: str) -> bool:
    return a is not None and a.replace("-", "_").lower() == b.replace("-", "_").lower()


def find_template(snapshot: CloudTemplates, update: TemplateUpdate) -> CloudTemplate | None:
    """The synced template an update names: by Meta's id, else by name and language."""
    if update.template_id is not None:
        for template in snapshot.templates:
            if template.id == update.template_id:
                return template
    return next(
        (
            t
            for t in snapshot.templates
            if t.name == update.name and _same_language(update.language, t.language)
        ),
        None,
    )


def apply_update(snapshot: CloudTemplates, update: TemplateUpdate) -> tuple[CloudTemplates, bool, bool]:
    """(the snapshot after the update, whether it changed, whether a sync from Graph is needed)."""
    found = find_template(snapshot, update)
    if found is None:
        return snapshot, False, True  # a template the last sync did not see: only Graph has its parts
    if update.change == "components":
        return snapshot, False, True  # the webhook gives some of the new text, not the components
    known_at = found.status_updated_at if found.status_updated_at is not None else snapshot.synced_at
    if known_at is not None and update.at < known_at:
        return snapshot, False, False  # older than what the sync or a later webhook told
    changes: dict[str, Any] = {"status_updated_at": update.at}
    needs_sync = False
    if update.change == "status":
        event = (update.event or "").upper()
        if event in STATUS_AFTER:
            changes["status"] = STATUS_AFTER[event]
            changes["status_reason"] = update.reason if update.reason not in (None, "NONE") else None
        elif event not in STATUS_KEPT:
            needs_sync = True  # UNARCHIVED (back to its earlier status) or an event Meta added later
        if update.category:
            changes["category"] = update.category
    elif update.change == "quality" and update.quality_score:
        changes["quality_score"] = update.quality_score
    elif update.change == "category" and update.category:
        changes["category"] = update.category
    updated = found.model_copy(update=changes)
    templates = [updated if t is found else t for t in snapshot.templates]
    return snapshot.model_copy(update={"templates": templates}), updated != found, needs_sync
