"""An engine's key store port: its protocol state per session, by namespace (creds, sessions, pre-keys, ...).

One incoming stanza's key changes go in one `async with keys.transaction():` so they commit together.
`connector/keystore.py` implements it over the Table and Crypto ports.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol


@enum.unique
class KeyNamespace(enum.StrEnum):
    CREDS = "creds"  # the device's own identity and registration (one record, id "creds")
    SESSION = "session"  # Signal sessions, by peer address
    PRE_KEY = "pre-key"  # one-time pre-keys, by id
    SENDER_KEY = "sender-key"  # group sender keys, by group and sender
    IDENTITY = "identity"  # peers' identity keys, by address
    DEVICE_LIST = "device-list"  # peers' device lists, by user
    LID_MAP = "lid-map"  # phone number ↔ LID mappings
    PRIVACY_TOKEN = "privacy-token"  # contacts' trusted-contact tokens (tctoken), by contact
    POLL = "poll"  # polls' secrets and options (to read votes), by poll message id
    SENT = "sent"  # messages we sent, for retry receipts (bounded, expiring: web/recent.py)
    AUTHOR = "author"  # who wrote recent group messages, for read receipts and quotes (idem)
    INBOX = "inbox"  # decrypted messages whose event is not durable yet (a redelivery reads them back)
    GROUPS = "groups"  # sandbox only: the simulated groups of the number (engines/sandbox_groups.py)
    GROUP_OPS = "group-ops"  # web: groups created, by operation id (a redelivered create makes no second)
    ACCOUNT_SYNC = "account-sync"  # what the phone syncs about the account (the cstoken salt), by name


class KeyStore(Protocol):
    """An engine's protocol state for one session, by namespace. Values are opaque bytes.

    Writes may raise `connector.leases.LeaseLost` (a ConflictError): this connector no longer holds the
    session, and the engine must stop.
    """

    async def get(self, namespace: str, ids: Iterable[str]) -> dict[str, bytes]:
        """The stored values of `ids` that exist (missing ids are simply absent from the result)."""
        ...

    async def put(self, namespace: str, values: Mapping[str, bytes | None]) -> None:
        """Store each value; None deletes. Inside a transaction, applied when it commits."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Everything put inside commits together at the end (or not at all, on an exception).

        A transaction belongs to the task that opened it: its reads see its own writes, other tasks
        (even ones it starts) see them after the commit. Transactions of one store run one at a time; a
        nested transaction joins the outer one.
        """
        ...

    async def wipe(self) -> None:
        """Delete every key of the session, all namespaces (after a logout)."""
        ...
