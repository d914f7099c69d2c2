"""The sandbox's simulated WhatsApp "server": its sockets, its cross-process journal, its contacts.

Like WhatsApp, it allows one socket per linked device: opening a second one for a session closes the
older with "replaced". Every open and close is appended to a journal file (JSON lines, written under
`flock`), which is shared by every process using the same data directory. The journal is how sockets
in different processes see each other (a newer socket elsewhere replaces ours: each network watches the
journal), and how tests prove that no two sockets of one session were ever open at the same time.

Journal records: {"at": epoch, "op": "open" | "close" | "replace", "session": "tenant/session",
"socket": id, "pid": pid, "net": network id, "reason": ..., "by": replacing socket id}. A process that
dies (kill -9) leaves its opens without a close; its pid no longer running tells the others.

Deliveries are journaled too: {"op": "deliver", "session", "socket", "id": WhatsApp message id, "to":
recipient jid, "duplicate": bool}, appended before the send returns. Like a WhatsApp phone, a simulated
recipient keeps each (sender, message id) once: a re-send of an id it already has, from any process, is
recorded with duplicate=true and shown to nobody. Tests count exactly-once delivery from these records.
"""

from __future__ import annotations

import asyncio
import collections
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.engines.base import SessionInfo
from connector.tasks import BackgroundTasks
from wagate import process_liveness

log = logging.getLogger("wagate.connector.sandbox")


# ---- the simulated people ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    phone: str
    name: str
    reads: bool  # sends read receipts
    replies: bool  # answers automatically

    @property
    def jid(self) -> str:
        return f"{self.phone[1:]}@s.whatsapp.net"


@dataclass(frozen=True)
class SandboxGroup:
    jid: str
    subject: str
    members: tuple[Contact, ...]


ANA = Contact("+15550100001", "Ana (sandbox)", reads=True, replies=True)
BEN = Contact("+15550100002", "Ben (sandbox)", reads=True, replies=False)
CLEO = Contact("+15550100003", "Cleo (sandbox, phone offline)", reads=False, replies=False)
CONTACTS = (ANA, BEN, CLEO)
UNREACHABLE_PHONE = "+15550109999"  # "not on WhatsApp": sends to it fail
GROUPS = (
    SandboxGroup("120363000000000001@g.us", "Sandbox workshop", (ANA, BEN)),
    SandboxGroup("120363000000000002@g.us", "Sandbox announcements", (ANA, BEN, CLEO)),
)
# Anyone else: delivered and read, never replies.
STRANGER = Contact("+0", "unknown", reads=True, replies=False)


def contact_for(jid: str) -> Contact:
    return next((c for c in CONTACTS if c.jid == jid), STRANGER)


def group_for(jid: str) -> SandboxGroup | None:
    return next((g for g in GROUPS if g.jid == jid), None)


# ---- sockets and the journal -------------------------------------------------------------------------


@dataclass(eq=False)
class SandboxSocket:
    id: str
    session_key: str
    on_close: Callable[[str], None]
    closed: bool = False


@dataclass
class _OpenRecord:
    socket: str
    pid: int
    net: str


@dataclass
class SocketJournal:
    """The append-only journal file, and this process's view of which sockets are open where."""

    path: Path
    network_id: str
    _offset: int = 0
    _open: dict[str, dict[str, _OpenRecord]] = field(default_factory=dict)  # session → socket → record
    _delivered: set[str] = field(default_factory=set)  # delivery keys (sender, recipient, message id)

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def record_open(self, session_key: str, socket_id: str) -> list[str]:
        """Append the open; return the live sockets of this session elsewhere, which it replaces."""
        with self._locked(fcntl.LOCK_EX) as fd:
            self._catch_up(fd)
            replaced = [
                record.socket
                for record in self._open.get(session_key, {}).values()
                if record.net != self.network_id and _running(record.pid)
            ]
            lines = [self._line("open", session_key, socket_id)]
            lines += [self._line("replace", session_key, old, by=socket_id) for old in replaced]
            self._append(fd, lines)
            self._catch_up(fd)
        return replaced

    def record_close(self, session_key: str, socket_id: str, reason: str) -> None:
        with self._locked(fcntl.LOCK_EX) as fd:
            self._append(fd, [self._line("close", session_key, socket_id, reason=reason)])
            self._catch_up(fd)

    def record_delivery(self, session_key: str, socket_id: str, to_jid: str, message_id: str) -> bool:
        """Append a delivery; True the first time this recipient gets this id (from any process)."""
        key = delivery_key(session_key, to_jid, message_id)
        with self._locked(fcntl.LOCK_EX) as fd:
            self._catch_up(fd)
            first = key not in self._delivered
            line = self._line(
                "deliver", session_key, socket_id, id=message_id, to=to_jid, duplicate=not first
            )
            self._append(fd, [line])
            self._catch_up(fd)
        return first

    def replaced_here(self) -> list[str]:
        """Sockets of this network that another network has replaced since the last call."""
        with self._locked(fcntl.LOCK_SH) as fd:
            return self._catch_up(fd)

    def _catch_up(self, fd: int) -> list[str]:
        size = os.fstat(fd).st_size
        if size <= self._offset:
            return []
        raw = os.pread(fd, size - self._offset, self._offset)
        self._offset = size
        replaced_here: list[str] = []
        for line in raw.splitlines():
            record = json.loads(line)
            if record["op"] == "deliver":
                self._delivered.add(delivery_key(record["session"], record["to"], record["id"]))
                continue
            session = self._open.setdefault(record["session"], {})
            if record["op"] == "open":
                session[record["socket"]] = _OpenRecord(record["socket"], record["pid"], record["net"])
            elif record["op"] == "close":
                session.pop(record["socket"], None)
            elif record["op"] == "replace":
                target = session.get(record["socket"])
                if target is not None and target.net == self.network_id:
                    replaced_here.append(record["socket"])
            if not session:
                del self._open[record["session"]]
        return replaced_here

    def _line(self, op: str, session_key: str, socket_id: str, **extra: Any) -> bytes:
        record = {
            "at": time.time(),
            "op": op,
            "session": session_key,
            "socket": socket_id,
            "pid": os.getpid(),
            "net": self.network_id,
            **extra,
        }
        return (json.dumps(record, separators=(",", ":")) + "\n").encode()

    @staticmethod
    def _append(fd: int, lines: list[bytes]) -> None:
        os.write(fd, b"".join(lines))  # O_APPEND, under the lock: whole lines, never interleaved

    @contextmanager
    def _locked(self, mode: int) -> Iterator[int]:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield fd
        finally:
            os.close(fd)  # also releases the lock


def delivery_key(session_key: str, to_jid: str, message_id: str) -> str:
    return f"{session_key}|{to_jid}|{message_id}"


def _running(pid: int) -> bool:
    """Whether `pid` still runs. A killed process not yet reaped (a zombie) does not, as the connectors'
    leases judge it: a successor that took its leases must not find its sockets still open."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return not process_liveness.is_zombie(pid)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every record of a journal file, in order (for tests and diagnostics)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


# ---- the network -------------------------------------------------------------------------------------


class SandboxNetwork:
    """One per connector: the sockets of its sandbox engines, and the journal they share with others."""

    def __init__(self, journal_path: Path | None = None, *, poll_seconds: float = 0.5) -> None:
        self.id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.journal = SocketJournal(journal_path, self.id) if journal_path is not None else None
        self._poll_seconds = poll_seconds
        self._sockets: dict[str, SandboxSocket] = {}  # session key → the live socket
        self._delivered: set[str] = set()  # without a journal: this process's deliveries
        # (session key, chat jid, composing | paused), the latest ones: what the sandbox phones saw
        self.presences: collections.deque[tuple[str, str, str]] = collections.deque(maxlen=1000)
        self._tasks = BackgroundTasks("sandbox network")
        self._watching = False

    async def open_socket(self, session: SessionInfo, on_close: Callable[[str], None]) -> SandboxSocket:
        socket = SandboxSocket(f"sock_{secrets.token_hex(6)}", session.label, on_close)
        older = self._sockets.get(session.label)
        if older is not None:
            await self.close_socket(older, "replaced")
            older.on_close("replaced")
        self._sockets[session.label] = socket
        if self.journal is not None:
            self._watch()
            await asyncio.to_thread(self.journal.record_open, session.label, socket.id)
        return socket

    async def close_socket(self, socket: SandboxSocket, reason: str) -> None:
        if socket.closed:
            return
        socket.closed = True
        if self._sockets.get(socket.session_key) is socket:
            del self._sockets[socket.session_key]
        if self.journal is not None:
            await asyncio.to_thread(self.journal.record_close, socket.session_key, socket.id, reason)

    async def deliver(self, socket: SandboxSocket, to_jid: str, message_id: str) -> bool:
        """Hand a message to its recipient; False when they already have this id (a re-send)."""
        if self.journal is not None:
            return await asyncio.to_thread(
                self.journal.record_delivery, socket.session_key, socket.id, to_jid, message_id
            )
        key = delivery_key(socket.session_key, to_jid, message_id)
        first = key not in self._delivered
        self._delivered.add(key)
        return first

    def presence(self, socket: SandboxSocket, chat_jid: str, state: str) -> None:
        self.presences.append((socket.session_key, chat_jid, state))

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    async def close(self) -> None:
        """Stop watching the journal (engines close their own sockets)."""
        await self._tasks.cancel_all()
        self._watching = False

    def _watch(self) -> None:
        if not self._watching:
            self._watching = True
            self._tasks.spawn(self._watch_journal(), name="sandbox journal watch")

    async def _watch_journal(self) -> None:
        assert self.journal is not None
        while True:
            await asyncio.sleep(self._poll_seconds)
            for socket_id in await asyncio.to_thread(self.journal.replaced_here):
                socket = next((s for s in self._sockets.values() if s.id == socket_id), None)
                if socket is not None:
                    log.warning("sandbox: socket of %s replaced by another process", socket.session_key)
                    await self.close_socket(socket, "replaced")
                    socket.on_close("replaced")
