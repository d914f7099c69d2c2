"""The ports: the few interfaces through which services reach storage, queues, secrets and dashboards.

Each port has an AWS adapter (`adapters/aws`) and a local adapter (`adapters/local`), held to one
contract test suite (`tests/contract`). Services take ports as arguments and never import an adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
