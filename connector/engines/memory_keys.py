"""InMemoryKeyStore: the KeyStore port in a dict, for a device that lives one run (`wagate canary`) and
for engine tests (held to the TableKeyStore contract)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from connector.engines.keys import KeyNamespace

_NAMESPACES = frozenset(KeyNamespace)

Backing = dict[tuple[str, str], dict[tuple[str, str], bytes]]


class InMemoryKeyStore:
    """One session's keys. Stores sharing `backing` behave like sessions of one table.

    A transaction belongs to the task that opened it: that task's puts are buffered and visible to its
    own gets, and the buffer is applied at once on a clean exit.
    """

    def __init__(
        self, tenant_id: str = "ten_test", session_id: str = "ses_test", *, backing: Backing | None = None
    ):
        backing = {} if backing is None else backing
        self._data = backing.setdefault((tenant_id, session_id), {})
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._pending: dict[tuple[str, str], bytes | None] = {}

    def _in_transaction(self) -> bool:
        return self._owner is not None and self._owner is asyncio.current_task()

    async def get(self, namespace: str, ids: Iterable[str]) -> dict[str, bytes]:
        _check_namespace(namespace)
        found: dict[str, bytes] = {}
        for key_id in ids:
            key = (namespace, key_id)
            if self._in_transaction() and key in self._pending:
                value = self._pending[key]
            else:
                value = self._data.get(key)
            if value is not None:
                found[key_id] = value
        return found

    async def put(self, namespace: str, values: Mapping[str, bytes | None]) -> None:
        _check_namespace(namespace)
        for key_id, value in values.items():
            if not isinstance(key_id, str) or not key_id:
                raise ValueError("key ids are non-empty strings")
            if value is not None and not isinstance(value, bytes):
                raise ValueError("values are bytes or None")
        if self._in_transaction():
            self._pending.update({(namespace, k): v for k, v in values.items()})
            return
        async with self._lock:
            self._apply({(namespace, k): v for k, v in values.items()})

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self._in_transaction():
            yield
            return
        async with self._lock:
            self._owner = asyncio.current_task()
            self._pending = {}
            try:
                yield
                self._apply(self._pending)
            finally:
                self._owner = None
                self._pending = {}

    async def wipe(self) -> None:
        if self._in_transaction():
            self._pending.clear()
            self._data.clear()
            return
        async with self._lock:
            self._data.clear()

    def _apply(self, changes: Mapping[tuple[str, str], bytes | None]) -> None:
        for key, value in changes.items():
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value


def _check_namespace(namespace: str) -> None:
    if namespace not in _NAMESPACES:
        raise ValueError(f"unknown key namespace {namespace!r}")
