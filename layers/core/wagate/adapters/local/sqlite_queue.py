"""The Queue port on one SQLite file: durable SQS-like queues (FIFO groups, dedup, delay, DLQ) for local mode.

Storage. Every queue of a `SqliteQueues` lives in one WAL-mode file, table `queue_messages` (one row per
message, `queue` = logical name) and `queue_dedup` (FIFO dedup ids and the message id they map to, kept
for `DEDUP_WINDOW` seconds even after the message is deleted, as SQS does). Each send, receive and delete
is one committed transaction, so a `kill -9` loses nothing sent and resurrects nothing deleted.
`synchronous=NORMAL` is durable against a process crash; pass `synchronous="FULL"` to also survive a
power loss (one fsync per operation, several times slower).

Definitions. The process that creates the queues (the local runner, from template.yaml) passes their
definitions; they are recorded in the file (table `queue_definitions`), so another process on the same
file (`python -m connector` beside `wagate serve`) opens it with `definitions=None` and needs no template.
A name it does not know yet is looked up in the file again, in case the creator recorded it since.

Concurrency. Every thread gets its own connection; a receive claims its messages inside `BEGIN IMMEDIATE`,
so two receivers (threads or processes) never get the same message. Long polls are woken at once by sends
in this process (one `threading.Condition` per queue) and re-check every `POLL_INTERVAL` for other
processes.

Semantics, as SQS:
  * what SQS would refuse (sizes, limits, characters, FIFO rules) is refused first by `wagate.queue_rules`;
  * a message is in flight from a receive until `visible_at`; `receive_count` counts receives;
  * FIFO: a message group is blocked while any of its messages is in flight, groups are served in send
    order; the dedup id (or the sha256 of the body) makes a repeated send within 5 minutes a no-op that
    returns the first message's id; a per-message delay is refused (`InvalidInput`);
  * once a message has been received `max_receives` times, the next receive moves it to the DLQ (same
    message id, body, group and receive count) instead of delivering it;
  * `delete` removes the message only if the receipt is its latest one; a superseded receipt or an
    already deleted message is a no-op (SQS: "the request succeeds, but the message might not be deleted");
  * `change_visibility` needs the message to still be in flight under that receipt, else `ConflictError`;
  * a receipt this adapter could never have issued is `NotFound`.

One thing SQS cannot know: a message in flight to a process that is provably gone (killed on this host,
see `wagate.process_liveness`) becomes visible again at once instead of after its visibility
timeout, so a restarted `wagate serve` or connector takes up its predecessor's work within a second or
so. That receive still counts towards `max_receives`, as a crashed Lambda's does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wagate import process_liveness
from wagate.domain.errors import ConflictError, InvalidInput, NotFound, TransientError
from wagate.ports import OutgoingMessage, ReceivedMessage
from wagate.queue_rules import validate_batch, validate_receive, validate_visibility

log = logging.getLogger("wagate.queues")

DEDUP_WINDOW = 300.0
POLL_INTERVAL = 0.1
ORPHAN_CHECK_EVERY = 1.0  # how often a receive looks for messages in flight to a dead process
_PRUNE_EVERY = 60.0
_BUSY_SECONDS = 30.0  # how long a write waits for the database (SQLite's busy timeout too)

_RECEIPT = re.compile(r"wq1\.[0-9a-f]{32}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    group_id TEXT,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT UNIQUE,
    receiver TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_at, seq);
CREATE INDEX IF NOT EXISTS queue_messages_order ON queue_messages (queue, seq);
CREATE TABLE IF NOT EXISTS queue_dedup (
    queue TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (queue, dedup_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queue_dedup_expiry ON queue_dedup (expires_at);
CREATE TABLE IF NOT EXISTS queue_definitions (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL
) WITHOUT ROWID;
"""

_COLUMNS = "seq, message_id, body, group_id, sent_at, receive_count"
Row = tuple[int, str, str, str | None, float, int]


@dataclass(frozen=True)
class QueueDefinition:
    """One queue as template.yaml declares it; `dlq` is the logical name of its dead-letter queue."""

    name: str
    fifo: bool
    visibility_timeout: int = 30
    dlq: str | None = None
    max_receives: int | None = None
    content_based_dedup: bool = True


class _Signal:
    """Wakes this process's long polls of one queue; the generation closes the check-then-wait race."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0

    def notify(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._cond:
            if self.generation == seen:
                self._cond.wait(timeout)


class SqliteQueues:
    """All queues of `definitions` in the SQLite file at `path` (created if missing); `None`: the queues
    recorded in the file by the process that created them."""

    def __init__(
        self,
        path: Path,
        definitions: Mapping[str, QueueDefinition] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        synchronous: str = "NORMAL",
    ) -> None:
        if definitions is not None:
            _check_definitions(definitions)
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInput("synchronous must be NORMAL or FULL")
        self._path = Path(path)
        self._clock = clock
        self._synchronous = synchronous
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._writer = threading.RLock()
        self._signals: dict[str, _Signal] = {}
        self._signals_lock = threading.Lock()
        self._queues: dict[str, SqliteQueue] = {}
        self._last_prune = 0.0
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(queue_messages)")}
            if "receiver" not in columns:  # a file written before receivers were recorded
                conn.execute("ALTER TABLE queue_messages ADD COLUMN receiver TEXT")
            if definitions is not None:
                conn.executemany(
                    "INSERT OR REPLACE INTO queue_definitions (name, definition) VALUES (?, ?)",
                    [(name, json.dumps(dataclasses.asdict(d))) for name, d in definitions.items()],
                )
        self._recorded = definitions is None
        self._definitions = self._read_definitions() if definitions is None else dict(definitions)

    def _read_definitions(self) -> dict[str, QueueDefinition]:
        rows = self.connection().execute("SELECT name, definition FROM queue_definitions").fetchall()
        return {str(name): QueueDefinition(**json.loads(text)) for name, text in rows}

    def get(self, logical_name: str) -> SqliteQueue:
        """Raises NotFound for a name that is not among the definitions."""
        definition = self._definitions.get(logical_name)
        if definition is None and self._recorded:
            self._definitions = self._read_definitions()
            definition = self._definitions.get(logical_name)
        if definition is None:
            raise NotFound(f"no queue named {logical_name!r}")
        queue = self._queues.get(logical_name)
        if queue is None:
            queue = self._queues.setdefault(logical_name, SqliteQueue(self, definition))
        return queue

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._connections_lock:
            connections, self._all_connections = self._all_connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- plumbing shared by the queues ----------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        # A connection must not cross a fork: the child opens its own.
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(
                self._path, timeout=_BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._connections_lock:
                self._all_connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; SQLite's busy timeout running out becomes TransientError."""
        conn = self.connection()
        # This process's writers take turns on a lock: it wakes the next one at once, where SQLite's
        # busy handler sleeps (up to 100 ms at a time) between retries.
        if not self._writer.acquire(timeout=_BUSY_SECONDS):
            raise TransientError("queue database busy")
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise TransientError(f"queue database busy: {exc}") from exc
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (e.g. on a full disk)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            self._writer.release()

    def now(self) -> float:
        return self._clock()

    def signal(self, name: str) -> _Signal:
        signal = self._signals.get(name)
        if signal is None:
            with self._signals_lock:
                signal = self._signals.setdefault(name, _Signal())
        return signal

    def prune_dedup(self, conn: sqlite3.Connection, now: float) -> None:
        if now - self._last_prune >= _PRUNE_EVERY:
            self._last_prune = now
            conn.execute("DELETE FROM queue_dedup WHERE expires_at <= ?", (now,))


def _check_definitions(definitions: Mapping[str, QueueDefinition]) -> None:
    for key, definition in definitions.items():
        if key != definition.name:
            raise InvalidInput(f"queue definition {definition.name!r} is filed under {key!r}")
        validate_visibility(definition.visibility_timeout)
        if (definition.dlq is None) != (definition.max_receives is None):
            raise InvalidInput(f"{key}: dlq and max_receives go together (an SQS RedrivePolicy needs both)")
        if definition.dlq is not None:
            dlq = definitions.get(definition.dlq)
            if dlq is None:
                raise InvalidInput(f"{key}: its DLQ {definition.dlq!r} is not defined")
            if dlq.fifo != definition.fifo:
                raise InvalidInput(f"{key}: a DLQ must be of the same type (FIFO or standard) as its queue")
            if definition.max_receives is not None and definition.max_receives < 1:
                raise InvalidInput(f"{key}: max_receives must be at least 1")


class SqliteQueue:
    """One logical queue of a `SqliteQueues` file."""

    def __init__(self, owner: SqliteQueues, definition: QueueDefinition) -> None:
        self._owner = owner
        self._definition = definition
        self._signal = owner.signal(definition.name)
        self._next_orphan_check = 0.0

    @property
    def name(self) -> str:
        return self._definition.name

    @property
    def fifo(self) -> bool:
        return self._definition.fifo

    def send(
        self, body: str, *, group_id: str | None = None, dedup_id: str | None = None, delay_seconds: int = 0
    ) -> str:
        """Returns the message id (the first message's id when deduplicated). Raises InvalidInput."""
        return self.send_batch([OutgoingMessage(body, group_id, dedup_id, delay_seconds)])[0]

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        """All or nothing: every message is checked before any is stored. Raises InvalidInput."""
        validate_batch(messages, fifo=self.fifo)
        for message in messages:
            if self.fifo and message.dedup_id is None and not self._definition.content_based_dedup:
                raise InvalidInput(f"{self.name} has no content-based dedup: every message needs a dedup_id")
        if not messages:
            return []
        ids: list[str] = []
        with self._owner.transaction() as conn:
            now = self._owner.now()
            for message in messages:
                ids.append(self._store(conn, message, now))
            if self.fifo:
                self._owner.prune_dedup(conn, now)
        self._signal.notify()
        return ids

    def _store(self, conn: sqlite3.Connection, message: OutgoingMessage, now: float) -> str:
        dedup_id = None
        if self.fifo:
            dedup_id = message.dedup_id or hashlib.sha256(message.body.encode("utf-8")).hexdigest()
            found = conn.execute(
                "SELECT message_id FROM queue_dedup WHERE queue = ? AND dedup_id = ? AND expires_at > ?",
                (self.name, dedup_id, now),
            ).fetchone()
            if found is not None:
                return str(found[0])
        message_id = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO queue_messages (queue, message_id, body, group_id, sent_at, visible_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (self.name, message_id, message.body, message.group_id, now, now + message.delay_seconds),
        )
        if dedup_id is not None:
            conn.execute(
                "INSERT OR REPLACE INTO queue_dedup (queue, dedup_id, message_id, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (self.name, dedup_id, message_id, now + DEDUP_WINDOW),
            )
        return message_id

    def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0, visibility_timeout: int | None = None
    ) -> list[ReceivedMessage]:
        """Up to `max_messages`, waiting up to `wait_seconds` for the first one. Raises InvalidInput."""
        validate_receive(max_messages, wait_seconds, visibility_timeout)
        timeout = self._definition.visibility_timeout if visibility_timeout is None else visibility_timeout
        deadline = time.monotonic() + wait_seconds
        while True:
            seen = self._signal.generation
            if time.monotonic() >= self._next_orphan_check:
                self._next_orphan_check = time.monotonic() + ORPHAN_CHECK_EVERY
                self.release_orphans()
            if self._candidates(self._owner.connection(), self._owner.now(), 1, ()):
                received = self._claim(max_messages, timeout)
                if received:
                    return received
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._signal.wait(seen, min(remaining, POLL_INTERVAL))

    def _claim(self, max_messages: int, timeout: int) -> list[ReceivedMessage]:
        received: list[ReceivedMessage] = []
        seen: list[int] = []
        moved_to_dlq = False
        receiver = process_liveness.current().token()
        with self._owner.transaction() as conn:
            now = self._owner.now()
            while len(received) < max_messages:
                rows = self._candidates(conn, now, max_messages - len(received), seen)
                if not rows:
                    break
                moved = False
                for seq, message_id, body, group_id, sent_at, count in rows:
                    seen.append(seq)
                    if self._exhausted(count):
                        self._move_to_dlq(conn, seq, now)
                        moved = True
                        continue
                    receipt = f"wq1.{secrets.token_hex(16)}"
                    conn.execute(
                        "UPDATE queue_messages SET receive_count = receive_count + 1, receipt = ?,"
                        " visible_at = ?, receiver = ? WHERE seq = ?",
                        (receipt, now + timeout, receiver, seq),
                    )
                    received.append(ReceivedMessage(message_id, body, receipt, count + 1, group_id, sent_at))
                # Moving a group's head to the DLQ can unblock messages the first pass did not see.
                moved_to_dlq |= moved
                if not moved:
                    break
        if moved_to_dlq and self._definition.dlq is not None:
            self._owner.signal(self._definition.dlq).notify()
        return received

    def release_orphans(self) -> int:
        """Make visible at once the messages in flight to processes provably gone; returns how many."""
        me = process_liveness.current().token()
        now = self._owner.now()
        receivers = self._owner.connection().execute(
            "SELECT DISTINCT receiver FROM queue_messages"
            " WHERE queue = ? AND visible_at > ? AND receiver IS NOT NULL AND receiver != ?",
            (self.name, now, me),
        )
        gone = [
            (token, writer)
            for (token,) in receivers
            if process_liveness.is_gone(writer := process_liveness.from_token(token))
        ]
        released = 0
        for token, writer in gone:
            with self._owner.transaction() as conn:
                now = self._owner.now()
                count = conn.execute(
                    "UPDATE queue_messages SET visible_at = ?, receiver = NULL"
                    " WHERE queue = ? AND receiver = ? AND visible_at > ?",
                    (now, self.name, token, now),
                ).rowcount
            released += count
            label = writer.label() if writer else token
            log.warning(
                "%s: %d message(s) in flight to %s, which is gone, are visible again", self.name, count, label
            )
        if released:
            self._signal.notify()
        return released

    def _candidates(self, conn: sqlite3.Connection, now: float, limit: int, seen: Sequence[int]) -> list[Row]:
        skip = f" AND seq NOT IN ({','.join('?' * len(seen))})" if seen else ""
        if self.fifo:
            # A group is blocked while one of its messages is in flight (FIFO takes no delays, so any
            # future visible_at is in flight); the earliest messages of the other groups come first.
            # Walking the send order (not sorting what is visible) costs the blocked backlog, not all.
            sql = (
                f"SELECT {_COLUMNS} FROM queue_messages INDEXED BY queue_messages_order"
                f" WHERE queue = ? AND visible_at <= ?{skip}"
                " AND group_id NOT IN"
                " (SELECT group_id FROM queue_messages WHERE queue = ? AND visible_at > ?)"
                " ORDER BY seq LIMIT ?"
            )
            params: tuple[object, ...] = (self.name, now, *seen, self.name, now, limit)
        else:
            sql = (
                f"SELECT {_COLUMNS} FROM queue_messages WHERE queue = ? AND visible_at <= ?{skip}"
                " ORDER BY visible_at, seq LIMIT ?"
            )
            params = (self.name, now, *seen, limit)
        return conn.execute(sql, params).fetchall()

    def _exhausted(self, receive_count: int) -> bool:
        limit = self._definition.max_receives
        return limit is not None and self._definition.dlq is not None and receive_count >= limit

    def _move_to_dlq(self, conn: sqlite3.Connection, seq: int, now: float) -> None:
        # A fresh row (new seq) puts the message at the DLQ's tail, behind what is already there.
        conn.execute(
            "INSERT INTO queue_messages"
            " (queue, message_id, body, group_id, sent_at, visible_at, receive_count)"
            " SELECT ?, message_id, body, group_id, sent_at, ?, receive_count"
            " FROM queue_messages WHERE seq = ?",
            (self._definition.dlq, now, seq),
        )
        conn.execute("DELETE FROM queue_messages WHERE seq = ?", (seq,))

    def delete(self, receipt: str) -> None:
        """No-op when already deleted or superseded by a newer receive. Raises NotFound (bad receipt)."""
        _check_receipt(receipt)
        with self._owner.transaction() as conn:
            conn.execute("DELETE FROM queue_messages WHERE queue = ? AND receipt = ?", (self.name, receipt))

    def change_visibility(self, receipt: str, timeout_seconds: int) -> None:
        """Raises ConflictError when the message is no longer in flight under this receipt."""
        _check_receipt(receipt)
        validate_visibility(timeout_seconds)
        with self._owner.transaction() as conn:
            now = self._owner.now()
            changed = conn.execute(
                "UPDATE queue_messages SET visible_at = ? WHERE queue = ? AND receipt = ? AND visible_at > ?",
                (now + timeout_seconds, self.name, receipt, now),
            ).rowcount
        if not changed:
            raise ConflictError(
                "the message is not in flight under this receipt (deleted, expired or re-received)"
            )
        if timeout_seconds == 0:
            self._signal.notify()

    def oldest_age_seconds(self) -> float:
        """How long the oldest message has been in the queue (0 when empty): SQS's
        ApproximateAgeOfOldestMessage, for `wagate serve`'s /metrics."""
        sql = "SELECT MIN(sent_at) FROM queue_messages WHERE queue = ?"
        [(oldest,)] = self._owner.connection().execute(sql, (self.name,)).fetchall()
        return 0.0 if oldest is None else max(0.0, self._owner.now() - float(oldest))

    def approximate_depth(self) -> int:
        sql = "SELECT COUNT(*) FROM queue_messages WHERE queue = ?"
        # fetchall, not fetchone: a half-read statement would pin an old WAL snapshot on this connection.
        [(count,)] = self._owner.connection().execute(sql, (self.name,)).fetchall()
        return int(count)


def _check_receipt(receipt: str) -> None:
    if not isinstance(receipt, str) or not _RECEIPT.fullmatch(receipt):
        raise NotFound("not a receipt this queue issued")
