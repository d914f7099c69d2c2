"""The content model: every kind of message wagate carries, in and out, on every provider, as one typed union.

    kind               what it is                                 in: web / cloud     out: web / cloud
    text               plain text                                  yes / yes           yes / yes
    image video audio  an attachment (caption, filename, voice)    yes / yes           media engineer's
    document sticker
    location           a pin (name, address), live or not          yes / yes           yes / yes
    contacts           one or more contact cards (vCard)           yes / yes           yes / yes
    reaction           an emoji on an earlier message ("" = off)   yes / yes           yes / yes
    edit               new text for an earlier message             yes / yes           yes / no (Meta: none)
    delete             an earlier message revoked for everyone     yes / yes           yes / no (Meta: none)
    poll               a question with options                     yes / no            yes / no
    poll_vote          a vote on a poll (options when readable)    yes / no            no
    interactive        buttons or a list to choose from            yes / no            no / yes
    interactive_reply  the choice a customer made (button, list,   yes / yes           no
                       template quick reply, flow answer)
    template           a template (components on Cloud)            yes / no            yes (text) / yes
    order              a cart sent from a catalog                  no / yes            no
    system             a provider notice (number changed, …)      no / yes            no
    unsupported        anything else: its raw type is kept and     yes / yes           no
                       it still reaches the CRM, never dropped

A reply is not a kind: any message may quote another (the message's `quoted_id`). Attachments share
`MediaBody` (caption, filename, mime type): the media object (where the bytes are) is one field there.
Targets of reactions, edits, deletes and votes are named both ways: `target_id` (wagate's message id, when
wagate knows the message) and `target_provider_id` (WhatsApp's/Meta's id, always when received).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.domain.media import MediaObject

MAX_TEXT = 65536  # received text is kept whole (WhatsApp clients send up to 4096; a row stays < 400 KB)
MAX_SEND_TEXT = 4096  # WhatsApp's limit for what we send
MAX_CAPTION = 1024
MAX_ID = 256


@enum.unique
class Kind(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    REACTION = "reaction"
    EDIT = "edit"
    DELETE = "delete"
    POLL = "poll"
    POLL_VOTE = "poll_vote"
    INTERACTIVE = "interactive"
    INTERACTIVE_REPLY = "interactive_reply"
    TEMPLATE = "template"
    ORDER = "order"
    SYSTEM = "system"
    UNSUPPORTED = "unsupported"
    MEDIA = "media"  # an attachment sent by URL before attachments were named by kind (older rows)


# What each provider can send (POST /v1/messages answers 422 `unsupported_kind` for the rest, at once).
# Cloud: Meta has no edit, delete or poll for businesses; web: buttons and lists are refused by WhatsApp
# from linked devices, and Meta templates (components) only exist on Cloud.
_COMMON = frozenset({Kind.TEXT, Kind.TEMPLATE, Kind.MEDIA, Kind.LOCATION, Kind.CONTACTS, Kind.REACTION})
SENDABLE: dict[str, frozenset[Kind]] = {
    "web": _COMMON | {Kind.EDIT, Kind.DELETE, Kind.POLL},
    "sandbox": _COMMON | {Kind.EDIT, Kind.DELETE, Kind.POLL},
    "cloud": _COMMON | {Kind.INTERACTIVE},
}
# Kinds that change an earlier message rather than add one to the conversation.
TARGETING_KINDS = frozenset({Kind.REACTION, Kind.EDIT, Kind.DELETE, Kind.POLL_VOTE})

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
ShortText = Annotated[str, Field(max_length=1024)]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class _Targeting(_Part):
    target_id: Id | None = Field(None, description="wagate's id of the message this one acts on (msg_…)")
    target_provider_id: Id | None = Field(
        None, description="WhatsApp's (or Meta's) id of that message; wagate fills it in when sending"
    )

    @model_validator(mode="after")
    def _named(self) -> Any:
        if self.target_id is None and self.target_provider_id is None:
            raise ValueError("name the message: target_id (or target_provider_id)")
        return self


# ---- plain kinds ---------------------------------------------------------------------------------------


class Text(_Part):
    type: Literal[Kind.TEXT] = Kind.TEXT
    body: str = Field(max_length=MAX_TEXT, description="The text")
    preview_url: bool = Field(False, description="Cloud: show a link preview")


class MediaBody(_Part):
    """What every attachment has besides its bytes. The media object joins here (one field)."""

    caption: str | None = Field(None, max_length=MAX_CAPTION)
    filename: str | None = Field(None, max_length=255, description="Documents: the file name shown")
    mime_type: str | None = Field(None, max_length=100, description="e.g. image/jpeg, application/pdf")
    view_once: bool = Field(False, description="Received as view-once (shown once on the phone)")
    media: MediaObject | None = Field(
        None, description="The stored file (id, type, size, sha256, a short-lived `url`): domain/media.py"
    )


class Image(MediaBody):
    type: Literal[Kind.IMAGE] = Kind.IMAGE


class Video(MediaBody):
    type: Literal[Kind.VIDEO] = Kind.VIDEO
    gif: bool = Field(False, description="Plays as a looping GIF")


class Audio(MediaBody):
    type: Literal[Kind.AUDIO] = Kind.AUDIO
    voice: bool = Field(False, description="A voice note (push-to-talk), not an audio file")


class Document(MediaBody):
    type: Literal[Kind.DOCUMENT] = Kind.DOCUMENT


class Sticker(MediaBody):
    type: Literal[Kind.STICKER] = Kind.STICKER
    animated: bool = False


class Location(_Part):
    type: Literal[Kind.LOCATION] = Kind.LOCATION
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: ShortText | None = None
    address: ShortText | None = None
    url: ShortText | None = None
    live: bool = Field(False, description="Received: a live location's latest position")


class ContactPhone(_Part):
    phone: str = Field(min_length=1, max_length=64, description="As written on the card (+34 600 …)")
    type: str | None = Field(None, max_length=32, description="CELL, WORK, HOME…")
    wa_id: str | None = Field(None, max_length=64, description="Its WhatsApp id, when it has one")


class ContactCard(_Part):
    name: str = Field(min_length=1, max_length=256, description="The name shown")
    phones: list[ContactPhone] = Field(default_factory=list, max_length=20)
    emails: list[Annotated[str, Field(max_length=256)]] = Field(default_factory=list, max_length=20)
    organization: str | None = Field(None, max_length=256)
    vcard: str | None = Field(None, max_length=MAX_TEXT, description="The vCard as received (web)")


class Contacts(_Part):
    type: Literal[Kind.CONTACTS] = Kind.CONTACTS
    contacts: list[ContactCard] = Field(min_length=1, max_length=257)


class Reaction(_Targeting):
    type: Literal[Kind.REACTION] = Kind.REACTION
    emoji: str = Field(max_length=32, description='One emoji; "" takes an earlier reaction back')


class Edit(_Targeting):
    type: Literal[Kind.EDIT] = Kind.EDIT
    body: str = Field(min_length=1, max_length=MAX_TEXT, description="The message's new text (or caption)")


class Delete(_Targeting):
    """Revoked for everyone ("This message was deleted")."""

    type: Literal[Kind.DELETE] = Kind.DELETE


class Poll(_Part):
    type: Literal[Kind.POLL] = Kind.POLL
    name: str = Field(min_length=1, max_length=255, description="The question")
    options: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=2, max_length=12)
    selectable_count: int = Field(1, ge=0, le=12, description="How many options one may pick; 0 = any")

    @model_validator(mode="after")
    def _distinct(self) -> Poll:
        if len(set(self.options)) != len(self.options):
            raise ValueError("poll options must be distinct")
        if self.selectable_count > len(self.options):
            raise ValueError("selectable_count is more than the options")
        return self


class PollVote(_Targeting):
    type: Literal[Kind.POLL_VOTE] = Kind.POLL_VOTE
    options: list[str] | None = Field(
        None, description="The options chosen, when wagate could decrypt the vote and knows the poll"
    )
    option_hashes: list[str] = Field(default_factory=list, description="sha256 (hex) of each chosen option")
    readable: bool = Field(False, description="False: the vote arrived encrypted and stays so")


class Button(_Part):
    id: str = Field(min_length=1, max_length=256, description="Returned in the reply")
    title: str = Field(min_length=1, max_length=20)


class ListRow(_Part):
    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=24)
    description: str | None = Field(None, max_length=72)


class ListSection(_Part):
    title: str | None = Field(None, max_length=24)
    rows: list[ListRow] = Field(min_length=1, max_length=10)


class Interactive(_Part):
    """Reply buttons (up to 3) or a list (sections of rows behind one button)."""

    type: Literal[Kind.INTERACTIVE] = Kind.INTERACTIVE
    style: Literal["buttons", "list"]
    body: str = Field(min_length=1, max_length=1024)
    header: str | None = Field(None, max_length=60)
    footer: str | None = Field(None, max_length=60)
    buttons: list[Button] | None = Field(None, min_length=1, max_length=3)
    button: str | None = Field(None, min_length=1, max_length=20, description="Lists: the button's label")
    sections: list[ListSection] | None = Field(None, min_length=1, max_length=10)

    @model_validator(mode="after")
    def _shape(self) -> Interactive:
        if self.style == "buttons" and (not self.buttons or self.sections):
            raise ValueError("buttons: give `buttons` (1 to 3), not sections")
        if self.style == "list" and (not self.sections or not self.button or self.buttons):
            raise ValueError("list: give `button` (its label) and `sections`, not buttons")
        ids = [b.id for b in self.buttons or []] + [r.id for s in self.sections or [] for r in s.rows]
        if len(set(ids)) != len(ids):
            raise ValueError("button and row ids must be distinct")
        return self


class InteractiveReply(_Part):
    """What a customer chose: a reply button, a list row, a template's quick-reply button, a flow's answer."""

    type: Literal[Kind.INTERACTIVE_REPLY] = Kind.INTERACTIVE_REPLY
    reply_type: Literal["button_reply", "list_reply", "template_button", "flow_reply"]
    id: str | None = Field(None, max_length=MAX_ID, description="The button's or row's id (payload)")
    title: str | None = Field(None, max_length=MAX_TEXT, description="What the customer saw and tapped")
    description: str | None = Field(None, max_length=1024)
    response_json: str | None = Field(None, max_length=MAX_TEXT, description="Flows: the answer")


class TemplateParameter(_Part):
    """One parameter of a Cloud template component (Meta's shape: `type` then the value's field)."""

    type: Literal["text", "payload", "image", "video", "document", "currency", "date_time", "location"]
    text: str | None = Field(None, max_length=MAX_SEND_TEXT)
    payload: str | None = Field(None, max_length=MAX_ID)
    link: str | None = Field(None, max_length=2048, description="image/video/document: an https URL")
    id: str | None = Field(None, max_length=MAX_ID, description="image/video/document: a Meta media id")
    filename: str | None = Field(None, max_length=255)
    parameter_name: str | None = Field(None, max_length=100, description="Named parameters ({{name}})")
    currency: dict[str, Any] | None = None
    date_time: dict[str, Any] | None = None
    location: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _value(self) -> TemplateParameter:
        needs = {
            "text": ("text",),
            "payload": ("payload",),
            "image": ("link", "id"),
            "video": ("link", "id"),
            "document": ("link", "id"),
            "currency": ("currency",),
            "date_time": ("date_time",),
            "location": ("location",),
        }[self.type]
        if not any(getattr(self, field) is not None for field in needs):
            raise ValueError(f"a {self.type} parameter needs {' or '.join(needs)}")
        return self


class TemplateComponent(_Part):
    type: Literal["header", "body", "button"]
    sub_type: Literal["quick_reply", "url", "copy_code", "flow"] | None = Field(
        None, description="Buttons: which kind"
    )
    index: int | None = Field(None, ge=0, le=9, description="Buttons: the button's position")
    parameters: list[TemplateParameter] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _button(self) -> TemplateComponent:
        if self.type == "button" and (self.sub_type is None or self.index is None):
            raise ValueError("a button component needs sub_type and index")
        if self.type != "button" and (self.sub_type is not None or self.index is not None):
            raise ValueError("sub_type and index belong to button components")
        return self


class Template(_Part):
    type: Literal[Kind.TEMPLATE] = Kind.TEMPLATE
    name: str = Field(min_length=1, max_length=512)
    language: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    components: list[TemplateComponent] = Field(default_factory=list, max_length=20)
    body: str | None = Field(None, max_length=MAX_TEXT, description="The rendered text, when known")


class OrderItem(_Part):
    product_retailer_id: str | None = None
    quantity: float | None = None
    item_price: float | None = None
    currency: str | None = None


class Order(_Part):
    type: Literal[Kind.ORDER] = Kind.ORDER
    catalog_id: str | None = None
    text: str | None = Field(None, max_length=MAX_TEXT)
    items: list[OrderItem] = Field(default_factory=list)


class System(_Part):
    type: Literal[Kind.SYSTEM] = Kind.SYSTEM
    system_type: str = Field(max_length=100, description="e.g. user_changed_number")
    body: str | None = Field(None, max_length=MAX_TEXT)


class Unsupported(_Part):
    """A message wagate cannot read (yet): the customer still wrote, so the CRM still hears of it."""

    type: Literal[Kind.UNSUPPORTED] = Kind.UNSUPPORTED
    raw_type: str = Field(max_length=100, description="The provider's own name of the kind")
    detail: str | None = Field(None, max_length=1024, description="Why it could not be read")


Content = Annotated[
    Text
    | Image
    | Video
    | Audio
    | Document
    | Sticker
    | Location
    | Contacts
    | Reaction
    | Edit
    | Delete
    | Poll
    | PollVote
    | Interactive
    | InteractiveReply
    | Template
    | Order
    | System
    | Unsupported,
    Field(discriminator="type"),
]

MEDIA_CLASSES: dict[Kind, type[MediaBody]] = {
    Kind.IMAGE: Image,
    Kind.VIDEO: Video,
    Kind.AUDIO: Audio,
    Kind.DOCUMENT: Document,
    Kind.STICKER: Sticker,
}


def summary(content: BaseModel) -> str | None:
    """A short text for lists, conversation previews and the `content` field of events."""
    if isinstance(content, Text | Edit):
        return content.body
    if isinstance(content, MediaBody):
        return content.caption
    if isinstance(content, Location):
        label = " — ".join(x for x in (content.name, content.address) if x)
        return f"📍 {label} geo:{content.latitude},{content.longitude}".replace("📍  ", "📍 ")
    if isinstance(content, Contacts):
        return "\n".join(
            f"👤 {card.name} {', '.join(p.phone for p in card.phones)}".rstrip() for card in content.contacts
        )
    if isinstance(content, Reaction):
        return content.emoji
    if isinstance(content, Poll):
        return f"📊 {content.name}: " + " / ".join(content.options)
    if isinstance(content, PollVote):
        return ", ".join(content.options) if content.options else None
    if isinstance(content, Interactive):
        return content.body
    if isinstance(content, InteractiveReply):
        return content.title or content.id or content.response_json
    if isinstance(content, Template):
        return content.body
    if isinstance(content, Order):
        return f"🛒 {len(content.items)} products" + (f"\n{content.text}" if content.text else "")
    if isinstance(content, System):
        return content.body
    return None
