"""TableKeyStore: one session's engine keys in the Table, encrypted, every write fenced by the session lease.

Items (keys: wagate/store/keys.py, one partition per session), attribute `v` = the value encrypted with
the Crypto port under the context {tenant_id, session_id, namespace} (so a blob copied to another
session or namespace does not decrypt).

Fencing: every write is a `transact_write` whose first operation is a Check on the session's lease row
(owner = us, fence = the fence we acquired), so a connector that has lost the session can never write its
keys, even a write that was already on its way when the lease moved. Such a write raises `LeaseLost`.

Size: a transaction takes at most 100 operations, so one commit of more than 99 key changes (the
initial upload of hundreds of pre-keys, a wipe) is written as several transactions, in order. Each is
fenced; a crash between two leaves the earlier ones applied. That is harmless for what produces such
batches (new pre-keys are unused until uploaded; a half-done wipe is finished by the next one) and never
happens for one incoming stanza, whose changes are a handful of records.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from connector.engines.keys import KeyNamespace
from connector.leases import Lease, LeaseLost
from wagate.domain.errors import ConflictError
from wagate.ports import Crypto, Delete, Put, Table, TransactOp
from wagate.store import keys

MAX_TRANSACTION_OPS = 100
_CHANGES_PER_TRANSACTION = MAX_TRANSACTION_OPS - 1  # one operation is the lease check
NAMESPACES = frozenset(KeyNamespace)

Changes = dict[tuple[str, str], bytes | None]


@dataclass
class _Transaction:
    # A transaction belongs to the task that opened it: other tasks (even ones it starts) write around it.
    task: asyncio.Task[Any] | None
    changes: Changes = field(default_factory=dict)


def check_put(namespace: str, values: Mapping[str, bytes | None]) -> None:
    """Raises ValueError for an unknown namespace, an empty id or a value that is not bytes."""
    check_namespace(namespace)
    for key_id, value in values.items():
        if not isinstance(key_id, str) or not key_id:
            raise ValueError("key ids are non-empty strings")
        if value is not None and not isinstance(value, bytes):
            raise ValueError(f"{namespace}/{key_id}: values are bytes (or None to delete)")


def check_namespace(namespace: str) -> None:
    if namespace not in NAMESPACES:
        raise ValueError(f"unknown key namespace {namespace!r}")


class TableKeyStore:
    """Implements `connector.engines.keys.KeyStore` over the Table and Crypto ports."""

    def __init__(
        self,
        table: Table,
        crypto: Crypto,
        lease: Lease,
        *,
        tenant_id: str,
        session_id: str,
        on_lease_lost: Callable[[], None] | None = None,
    ) -> None:
        self._table = table
        self._crypto = crypto
        self._lease = lease
        self._tenant_id = tenant_id
        self._session_id = session_id
        self._pk = keys.engine_keys_partition(tenant_id, session_id)
        self._on_lease_lost = on_lease_lost
        self._lock = asyncio.Lock()
        self._open: _Transaction | None = None

    # ---- the KeyStore protocol ----------------------------------------------------------------------

    async def get(self, namespace: str, ids: Iterable[str]) -> dict[str, bytes]:
        check_namespace(namespace)
        wanted = list(dict.fromkeys(ids))
        found: dict[str, bytes] = {}
        transaction = self._transaction()
        if transaction is not None:
            unresolved = []
            for key_id in wanted:
                if (namespace, key_id) in transaction.changes:
                    value = transaction.changes[(namespace, key_id)]
                    if value is not None:
                        found[key_id] = value
                else:
                    unresolved.append(key_id)
            wanted = unresolved
        if wanted:
            found.update(await asyncio.to_thread(self._read, namespace, wanted))
        return found

    async def put(self, namespace: str, values: Mapping[str, bytes | None]) -> None:
        check_put(namespace, values)
        if not values:
            return
        changes = {(namespace, key_id): value for key_id, value in values.items()}
        transaction = self._transaction()
        if transaction is not None:
            transaction.changes.update(changes)
            return
        async with self._lock:
            await self._commit(changes)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self._transaction() is not None:
            yield  # nested: the outer transaction commits
            return
        async with self._lock:
            transaction = self._open = _Transaction(asyncio.current_task())
            try:
                yield
            finally:
                self._open = None
            # Only reached when the body did not raise.
            if transaction.changes:
                await self._commit(transaction.changes)

    async def wipe(self) -> None:
        transaction = self._transaction()
        if transaction is not None:
            transaction.changes.clear()
            await self._call(self._wipe_now)
            return
        async with self._lock:
            await self._call(self._wipe_now)

    # ---- plumbing -----------------------------------------------------------------------------------

    def _transaction(self) -> _Transaction | None:
        """The transaction the current task has open on this store, if any."""
        transaction = self._open
        if transaction is not None and transaction.task is asyncio.current_task():
            return transaction
        return None

    async def _commit(self, changes: Changes) -> None:
        await self._call(self._write, dict(changes))

    async def _call(self, function: Callable[..., None], *args: object) -> None:
        try:
            await asyncio.to_thread(function, *args)
        except LeaseLost:
            if self._on_lease_lost is not None:
                self._on_lease_lost()
            raise

    def _context(self, namespace: str) -> dict[str, str]:
        return {"tenant_id": self._tenant_id, "session_id": self._session_id, "namespace": str(namespace)}

    def _read(self, namespace: str, ids: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        context = self._context(namespace)
        for key_id in ids:
            item = self._table.get(self._pk, keys.engine_key_sort(namespace, key_id))
            if item is not None:
                found[key_id] = self._crypto.decrypt(item["v"], context=context)
        return found

    def _write(self, changes: Changes) -> None:
        ops: list[TransactOp] = []
        for (namespace, key_id), value in changes.items():
            sk = keys.engine_key_sort(namespace, key_id)
            if value is None:
                ops.append(Delete(self._pk, sk))
            else:
                blob = self._crypto.encrypt(value, context=self._context(namespace))
                ops.append(Put({"pk": self._pk, "sk": sk, "v": blob}))
        self._fenced(ops)

    def _wipe_now(self) -> None:
        ops: list[TransactOp] = []
        cursor = None
        while True:
            page = self._table.query(self._pk, sk=None, limit=500, cursor=cursor)
            ops.extend(Delete(self._pk, item["sk"]) for item in page.items)
            cursor = page.cursor
            if cursor is None:
                break
        self._fenced(ops)

    def _fenced(self, ops: Sequence[TransactOp]) -> None:
        for start in range(0, len(ops), _CHANGES_PER_TRANSACTION):
            chunk = ops[start : start + _CHANGES_PER_TRANSACTION]
            try:
                self._table.transact_write([self._lease.fence_check(), *chunk])
            except ConflictError as exc:
                # Our operations carry no condition of their own: only the lease check can fail.
                raise LeaseLost(
                    f"{self._lease.key.label} is no longer held at fence {self._lease.fence}",
                    details={"fence": self._lease.fence},
                ) from exc
