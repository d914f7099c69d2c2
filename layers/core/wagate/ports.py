"""The ports: every interface through which services reach storage, queues, secrets, dashboards and HTTP.

Table, Queue, Crypto, MediaStore and Push each have an AWS adapter (`adapters/aws`) and a local one (Push:
the local WebSocket gateway), held to one contract suite per port in `tests/contract` (fakes in
`tests/fakes` too).
The outbound HTTP ports (WebhookSender, MediaProbe, GraphClient) have one httpx adapter each in
`adapters/`, tested on `httpx.MockTransport`. Services take ports as arguments and never import an adapter;
adapters import no service. `wagate.wiring` picks the adapters (the local runner then swaps in its
in-process Push); `wagate.compose` builds the services on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from wagate.conditions import Condition, SortKey

# ---- Table -----------------------------------------------------------------------------------------

Item = dict[str, Any]
"""A stored item. Values: str, int, float, bool, None, bytes, and lists/dicts of those.

Every item has string `pk` and `sk`. Optional string `gsi1pk`/`gsi1sk`, `gsi2pk`/`gsi2sk` put it in
the sparse indexes `gsi1`/`gsi2`. An int `expires_at` (epoch seconds) is its TTL: once passed, the item
is invisible to get/query and counts as absent for conditions, even before it is physically removed.
"""

INDEXES = ("gsi1", "gsi2")
TTL_ATTRIBUTE = "expires_at"
MAX_ITEM_BYTES = 400 * 1024


@dataclass(frozen=True)
class Page:
    """One page of a query; `cursor` is opaque and None on the last page."""

    items: list[Item]
    cursor: str | None = None


@dataclass(frozen=True)
class Put:
    item: Item
    condition: Condition | None = None


@dataclass(frozen=True)
class Update:
    pk: str
    sk: str
    set: Mapping[str, Any] = field(default_factory=dict)
    remove: Sequence[str] = ()
    add: Mapping[str, int | float] = field(default_factory=dict)
    condition: Condition | None = None


@dataclass(frozen=True)
class Delete:
    pk: str
    sk: str
    condition: Condition | None = None


@dataclass(frozen=True)
class Check:
    """A condition on an item that the transaction does not write."""

    pk: str
    sk: str
    condition: Condition


TransactOp = Put | Update | Delete | Check


class Table(Protocol):
    """A single table with DynamoDB semantics. Failed conditions raise `ConflictError`."""

    def get(self, pk: str, sk: str) -> Item | None:
        """Strongly consistent read; None when absent or expired."""
        ...

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Item | None]:
        """Strongly consistent reads of several items at once (DynamoDB: BatchGetItem, 100 a call), in
        the order asked; None where absent or expired."""
        ...

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        """Create or replace. Raises ConflictError, ItemTooLarge."""
        ...

    def update(
        self,
        pk: str,
        sk: str,
        *,
        set: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        add: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
    ) -> Item:
        """Upsert attributes (add = atomic increment from 0); returns the whole new item."""
        ...

    def delete(self, pk: str, sk: str, *, condition: Condition | None = None) -> Item | None:
        """Delete and return the old item (None if there was none)."""
        ...

    def query(
        self,
        pk: str,
        *,
        sk: SortKey | None = None,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """Items of one partition (or of one index partition), ordered by sort key."""
        ...

    def transact_write(self, ops: Sequence[TransactOp]) -> None:
        """All or nothing (at most 100 ops, one op per item). ConflictError.details lists failed indexes."""
        ...

    def write_batch(self, puts: Sequence[Item] = (), deletes: Sequence[tuple[str, str]] = ()) -> None:
        """Unconditional puts and deletes of many items, in as few requests as the backend allows
        (DynamoDB BatchWriteItem: 25 per request), in no particular order among them; not atomic. For bulk
        work whose order matters only between calls (erasure: tombstones, then the rows). No item may be
        both put and deleted in one call. Raises TransientError when the backend keeps refusing some."""
        ...


class RequestBuckets(Protocol):
    """Each tenant's API request bucket (domain/throttle.py): in the table on AWS, in memory locally."""

    def take(self, tenant_id: str) -> float:
        """0 when one more request of the tenant is admitted (and counted); else seconds to wait."""
        ...


# ---- Queue -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingMessage:
    body: str
    group_id: str | None = None
    dedup_id: str | None = None
    delay_seconds: int = 0


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    body: str
    receipt: str
    receive_count: int
    group_id: str | None = None
    sent_at: float = 0.0


class Queue(Protocol):
    """A durable queue with SQS semantics (FIFO groups, dedup, delay, visibility, DLQ after N receives).

    FIFO queues need a group id, deduplicate by dedup id (or by body hash) for 5 minutes and do not take a
    per-message delay (SQS refuses it); standard queues ignore group and dedup ids' ordering meaning.
    """

    @property
    def name(self) -> str: ...

    @property
    def fifo(self) -> bool: ...

    def send(
        self, body: str, *, group_id: str | None = None, dedup_id: str | None = None, delay_seconds: int = 0
    ) -> str:
        """Returns the message id."""
        ...

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[str]: ...

    def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0, visibility_timeout: int | None = None
    ) -> list[ReceivedMessage]: ...

    def delete(self, receipt: str) -> None: ...

    def change_visibility(self, receipt: str, timeout_seconds: int) -> None: ...

    def approximate_depth(self) -> int:
        """Visible + in-flight + delayed messages (for health and benchmarks)."""
        ...


class Queues(Protocol):
    """Finds queues by their logical name in template.yaml (e.g. "EventsQueue")."""

    def get(self, logical_name: str) -> Queue: ...


# ---- Crypto ----------------------------------------------------------------------------------------


class Crypto(Protocol):
    """Envelope encryption of secrets at rest. `context` is authenticated (e.g. the tenant id)."""

    def encrypt(self, plaintext: bytes, *, context: Mapping[str, str]) -> bytes: ...

    def decrypt(self, blob: bytes, *, context: Mapping[str, str]) -> bytes:
        """Raises InvalidInput when the blob was tampered with or the context differs."""
        ...


# ---- MediaStore ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadTarget:
    """Where a client PUTs a file itself (an S3 presigned PUT; locally a signed URL of `wagate serve`)."""

    url: str
    headers: Mapping[str, str]  # send exactly these with the PUT (they are part of the signature)
    expires_at: float


class MediaStore(Protocol):
    """Files by key (`store/keys.py: media_object`): streamed in and out, never whole in memory.

    S3 in AWS (adapters/aws/s3_media.py), a directory locally (adapters/local/dir_media.py); one contract
    suite (tests/contract/test_media_store_contract.py). Links are signed and expire."""

    def put(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> int:
        """Stores the chunks under `key` as they come; returns the bytes written. When the iterable raises,
        nothing is left under `key` (no partial file) and the error propagates."""
        ...

    def read(self, key: str, *, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """The file in chunks. Raises NotFound."""
        ...

    def size(self, key: str) -> int | None:
        """Bytes stored under `key`, or None when there is no file."""
        ...

    def delete(self, key: str) -> None:
        """Removes the file; no error when there is none."""
        ...

    def download_url(
        self, key: str, *, expires_in: int, content_type: str, filename: str | None = None
    ) -> str:
        """A link anyone holding it can GET for `expires_in` seconds (served with this type and name)."""
        ...

    def upload_target(self, key: str, *, expires_in: int, content_type: str, size: int) -> UploadTarget:
        """A link to PUT exactly `size` bytes to `key` for `expires_in` seconds."""
        ...


# ---- Push (dashboard sockets) ----------------------------------------------------------------------


class Push(Protocol):
    """Sends to a dashboard WebSocket connection by id (the @connections API)."""

    def post(self, connection_id: str, data: bytes) -> None:
        """Raises Gone when the connection no longer exists."""
        ...

    def disconnect(self, connection_id: str) -> None: ...


# ---- Clock -----------------------------------------------------------------------------------------


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


# ---- outbound HTTP: CRM webhooks, media probes, Meta Graph ------------------------------------------

Guard = Callable[[str, Sequence[str]], None]
"""guard(url, addresses): raises InvalidInput when the URL, or an address its host resolved to, is refused
(`wagate.domain.outbound_urls` holds the rules)."""


@dataclass(frozen=True)
class SendResult:
    """One webhook attempt as the attempt record keeps it: an HTTP status or an error, and the latency."""

    status_code: int | None
    latency_ms: float
    error: str | None = None
    response: str | None = None


class WebhookSender(Protocol):
    """POSTs signed bodies to CRMs (adapters/http_crm_webhooks.py does it over httpx)."""

    def addresses(self, url: str) -> Sequence[str]:
        """The addresses the URL's host resolves to. Raises InvalidInput `webhook_unreachable`."""
        ...

    def send(self, url: str, body: bytes, headers: Mapping[str, str], *, guard: Guard) -> SendResult:
        """One POST, no redirects followed; calls `guard` with the URL and its addresses before
        connecting, and connects to those very addresses. HTTP and network failures are returned."""
        ...


class MediaProbe(Protocol):
    """Finds how big the file at a URL is (adapters/http_media.py does it over httpx)."""

    def size(self, url: str, *, guard: Guard, limit: int) -> int:
        """The size in bytes (counting at most `limit` + 1 bytes when the server does not say).

        Calls `guard` with each URL it is about to fetch (the given one, then every redirect target) and
        the addresses its host resolved to, before connecting. Raises InvalidInput `media_unreachable`.
        """
        ...

    def fetch(self, url: str, *, guard: Guard, limit: int) -> Iterator[bytes]:
        """The file's bytes, streamed (GET, redirects guarded as `size` does). The first chunk comes once
        the server answered 2xx. Raises InvalidInput `media_unreachable`, and ItemTooLarge
        `media_too_large` while streaming once more than `limit` bytes came."""
        ...


@dataclass(frozen=True)
class PhoneNumber:
    """What `GET /{phone-number-id}` says about the number (the token check)."""

    id: str
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None


@dataclass(frozen=True)
class Accepted:
    """Meta's answer to a send: the message's wamid (statuses in webhooks name it) and the recipient."""

    message_id: str
    wa_id: str | None
    input: str | None
    message_status: str | None  # "accepted" for templates, when Meta says so


@dataclass(frozen=True)
class MediaInfo:
    id: str
    url: str  # short-lived; fetching it needs the same token
    mime_type: str | None
    sha256: str | None
    file_size: int | None


class GraphClient(Protocol):
    """Meta's Graph API for Cloud API numbers. Every method raises a `CloudApiError` subclass on failure
    (`wagate.cloud.errors`): GraphUnavailable when nothing was sent, OutcomeUnknown when it was
    sent and no answer came, else the class of Graph's error code."""

    def phone_number(self, phone_number_id: str, token: str) -> PhoneNumber:
        """The token check: the number as this token sees it."""
        ...

    def send(self, phone_number_id: str, token: str, body: Mapping[str, Any]) -> Accepted:
        """POST a Cloud API message body to /{phone-number-id}/messages."""
        ...

    def mark_read(
        self, phone_number_id: str, token: str, message_id: str, *, typing: bool = False
    ) -> None: ...

    def media(self, media_id: str, token: str) -> MediaInfo:
        """Where an incoming media reference can be downloaded, for a few minutes."""
        ...

    def message_templates(self, business_account_id: str, token: str) -> list[dict[str, Any]]:
        """Every message template of a WhatsApp Business Account (Graph's objects, all pages)."""
        ...
