"""A process that dies after N writes: a Table (and its Queues) that raise Crash instead of the next write,
for tests of work that must be finished by calling it again (services/suspension.py)."""

from __future__ import annotations

from typing import Any

from wagate.ports import Queues, Table


class Crash(Exception):
    """The process dies here."""


class CrashingTable:
    """The table, until `limit` writes have been made: the next write raises Crash and writes nothing."""

    def __init__(self, inner: Table) -> None:
        self.inner = inner
        self.writes = 0
        self.limit: int | None = None

    def _write(self) -> None:
        if self.limit is not None and self.writes >= self.limit:
            raise Crash(f"after {self.writes} writes")
        self.writes += 1

    def put(self, *args: Any, **kwargs: Any) -> Any:
        self._write()
        return self.inner.put(*args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> Any:
        self._write()
        return self.inner.update(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        self._write()
        return self.inner.delete(*args, **kwargs)

    def transact_write(self, *args: Any, **kwargs: Any) -> Any:
        self._write()
        return self.inner.transact_write(*args, **kwargs)

    def write_batch(self, *args: Any, **kwargs: Any) -> Any:
        self._write()
        return self.inner.write_batch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # reads: as they are
        return getattr(self.inner, name)


class CrashingQueue:
    """A queue whose sends count as writes of `table` (a crash between a row and its command)."""

    def __init__(self, inner: Any, table: CrashingTable) -> None:
        self.inner = inner
        self.table = table

    def send(self, *args: Any, **kwargs: Any) -> Any:
        self.table._write()
        return self.inner.send(*args, **kwargs)

    def send_batch(self, *args: Any, **kwargs: Any) -> Any:
        self.table._write()
        return self.inner.send_batch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashingQueues:
    def __init__(self, inner: Queues, table: CrashingTable) -> None:
        self.inner = inner
        self.table = table

    def get(self, logical_name: str) -> Any:
        return CrashingQueue(self.inner.get(logical_name), self.table)
