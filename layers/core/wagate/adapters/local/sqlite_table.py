"""The Table port on one SQLite file (WAL): DynamoDB semantics for local mode, tests and benchmarks.

Each item is a JSON document in one row; its key, index keys and TTL are copied into columns so queries
use B-tree indexes. Conditions are evaluated in Python inside a `BEGIN IMMEDIATE` transaction, which
makes every conditional write atomic against other threads and other processes on the same file.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wagate import items as rules
from wagate.conditions import Condition, SortKey
from wagate.domain.errors import ConflictError, InvalidInput, TransientError
from wagate.ports import INDEXES, MAX_ITEM_BYTES, Delete, Item, Page, Put, TransactOp, Update

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    expires_at REAL,
    doc TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_ttl ON items (expires_at) WHERE expires_at IS NOT NULL;
"""

_PURGE_EVERY_SECONDS = 60.0
_BUSY_SECONDS = 30.0  # how long a write waits for the database (busy_timeout too)
_LIVE = "(expires_at IS NULL OR expires_at >= ?)"


class SqliteTable:
    """Implements `wagate.ports.Table`. Safe to share between threads; each thread has its connection."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time, synchronous: str = "NORMAL"):
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        # NORMAL in WAL mode survives a process crash (kill -9); FULL also survives power loss.
        self._synchronous = synchronous
        self._local = threading.local()
        # Writers of this process take turns here: waiting on SQLite's lock means its busy handler's
        # sleeps (up to 100 ms each), a lock wakes the next writer at once.
        self._writer = threading.RLock()
        self._last_purge = 0.0
        self._conn().executescript(_SCHEMA)

    # ---- reads --------------------------------------------------------------------------------------

    def get(self, pk: str, sk: str) -> Item | None:
        rules.check_key(pk, sk)
        row = (
            self._conn()
            .execute(f"SELECT doc FROM items WHERE pk = ? AND sk = ? AND {_LIVE}", (pk, sk, self._clock()))
            .fetchone()
        )
        return _load(row[0]) if row else None

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Item | None]:
        return [self.get(pk, sk) for pk, sk in keys]

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
        rules.check_query(index, limit)
        pcol, scol = (f"{index}pk", f"{index}sk") if index else ("pk", "sk")
        # The primary key breaks ties in an index, so a cursor always names one exact position.
        order_cols = [scol, "pk", "sk"] if index else ["sk"]
        where, args = [f"{pcol} = ?", _LIVE], [pk, self._clock()]
        if sk is not None:
            clause, values = _sort_clause(scol, sk)
            where.append(clause)
            args.extend(values)
        if cursor is not None:
            position = rules.decode_cursor(cursor)
            if (
                position.get("p") != pk
                or position.get("i") != index
                or not isinstance(position.get("k"), list)
            ):
                raise InvalidInput("the cursor belongs to another query", details={"cursor": cursor})
            cols = ", ".join(order_cols)
            marks = ", ".join("?" for _ in order_cols)
            where.append(f"({cols}) {'>' if forward else '<'} ({marks})")
            args.extend(position["k"])
        direction = "ASC" if forward else "DESC"
        sql = f"SELECT doc, {', '.join(order_cols)} FROM items WHERE {' AND '.join(where)} ORDER BY "
        sql += ", ".join(f"{c} {direction}" for c in order_cols)
        if limit is not None:
            sql += f" LIMIT {int(limit) + 1}"
        rows = self._conn().execute(sql, args).fetchall()
        next_cursor = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            next_cursor = rules.encode_cursor({"p": pk, "i": index, "k": list(rows[-1][1:])})
        return Page(items=[_load(r[0]) for r in rows], cursor=next_cursor)

    # ---- writes -------------------------------------------------------------------------------------

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        self.transact_write([Put(item, condition)], _single=True)

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
        op = Update(pk, sk, set or {}, tuple(remove), add or {}, condition)
        written = self._apply([op], single=True)
        assert written[0] is not None
        return written[0]

    def delete(self, pk: str, sk: str, *, condition: Condition | None = None) -> Item | None:
        rules.check_key(pk, sk)
        with self._write() as db:
            old = _current(db, pk, sk, self._clock())
            if condition is not None and not condition.holds(old):
                raise ConflictError("the condition on this delete did not hold", details={"pk": pk, "sk": sk})
            db.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (pk, sk))
            return old

    def transact_write(self, ops: Sequence[TransactOp], *, _single: bool = False) -> None:
        self._apply(ops, single=_single)

    def write_batch(self, puts: Sequence[Item] = (), deletes: Sequence[tuple[str, str]] = ()) -> None:
        rules.check_batch(puts, deletes)
        rows = [_row(item) for item in puts]
        with self._write() as db:
            for row in rows:
                _store(db, row)
            db.executemany("DELETE FROM items WHERE pk = ? AND sk = ?", list(deletes))
            self._maybe_purge(db, self._clock())

    def _apply(self, ops: Sequence[TransactOp], *, single: bool) -> list[Item | None]:
        if not single:
            rules.check_transaction(ops)
        for op in ops:
            if isinstance(op, Put):
                rules.check_item(op.item)
            else:
                rules.check_key(op.pk, op.sk)
            if isinstance(op, Update):
                rules.check_update(op.set, op.remove, op.add)
        # Encoded before taking the writer lock: every writer of the process waits while it is held.
        put_rows = {i: _row(op.item) for i, op in enumerate(ops) if isinstance(op, Put)}
        with self._write() as db:
            now = self._clock()
            # What an op's condition checks or an update builds on; an unconditional put or delete
            # needs nothing read (a transaction's journal entry, outbox row, drained row).
            olds = [
                _current(db, *rules.op_key(op), now)
                if op.condition is not None or not isinstance(op, Put | Delete)
                else None
                for op in ops
            ]
            failed = [i for i, (op, old) in enumerate(zip(ops, olds, strict=True)) if not _holds(op, old)]
            if failed:
                what = "write" if single else "transaction"
                raise ConflictError(f"the condition on this {what} did not hold", details={"failed": failed})
            written: list[Item | None] = []
            for i, (op, old) in enumerate(zip(ops, olds, strict=True)):
                if isinstance(op, Put):
                    _store(db, put_rows[i])
                    written.append(op.item)
                elif isinstance(op, Update):
                    new = rules.new_item_from_update(op.pk, op.sk, old, op.set, op.remove, op.add)
                    _store(db, _updated_row(new, old, [*op.set, *op.add]))
                    written.append(new)
                elif isinstance(op, Delete):
                    db.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (op.pk, op.sk))
                    written.append(None)
                else:
                    written.append(old)
            self._maybe_purge(db, now)
            return written

    # ---- plumbing -----------------------------------------------------------------------------------

    def scan(self, *, batch: int = 500) -> Iterator[Item]:
        """Every live item, in key order, read in batches (operator tools: migration, audits)."""
        after: tuple[str, str] = ("", "")
        while True:
            rows = (
                self._conn()
                .execute(
                    f"SELECT pk, sk, doc FROM items WHERE (pk, sk) > (?, ?) AND {_LIVE}"
                    " ORDER BY pk, sk LIMIT ?",
                    (*after, self._clock(), batch),
                )
                .fetchall()
            )
            if not rows:
                return
            for _, _, doc in rows:
                yield _load(doc)
            after = (rows[-1][0], rows[-1][1])

    def compact(self) -> None:
        """Rewrites the file without its free pages and empties the WAL, so bytes of rows replaced or
        deleted (e.g. plaintext before `wagate admin encrypt-existing`) are gone from disk. Holds writers
        back while it runs."""
        with self._writer:
            conn = self._conn()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def count(self) -> int:
        """Live items in the table (for health checks and benchmarks)."""
        row = self._conn().execute(f"SELECT COUNT(*) FROM items WHERE {_LIVE}", (self._clock(),)).fetchone()
        return int(row[0])

    def scrub(self) -> None:
        """Makes what was deleted unrecoverable from the files too: secure_delete already zeroes freed
        pages in the database; this checkpoints the WAL, whose older frames still hold earlier page
        images, and truncates it. Called after an erasure (services/erasure.py)."""
        with self._writer:
            self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(_BUSY_SECONDS * 1000)}")
            # A deleted row's bytes are overwritten, not left in free pages (erasure, retention).
            conn.execute("PRAGMA secure_delete=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        if not self._writer.acquire(timeout=_BUSY_SECONDS):
            raise TransientError("the local table is busy; retry")
        try:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # still locked after busy_timeout
                raise TransientError("the local table is busy; retry", details={"error": str(exc)}) from exc
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")
        finally:
            self._writer.release()

    def _maybe_purge(self, db: sqlite3.Connection, now: float) -> None:
        # Expired items are already invisible; this only reclaims their space, like DynamoDB's TTL sweep.
        if now - self._last_purge >= _PURGE_EVERY_SECONDS:
            self._last_purge = now
            db.execute("DELETE FROM items WHERE expires_at < ?", (now,))


def _holds(op: TransactOp, old: Item | None) -> bool:
    condition = op.condition
    return condition is None or condition.holds(old)


def _current(db: sqlite3.Connection, pk: str, sk: str, now: float) -> Item | None:
    row = db.execute(f"SELECT doc FROM items WHERE pk = ? AND sk = ? AND {_LIVE}", (pk, sk, now)).fetchone()
    return _load(row[0]) if row else None


def _row(item: Item) -> tuple[Any, ...]:
    """The column values of an item's row (key, index keys, TTL, the encoded document)."""
    gsi = [rules.index_key(item, index) for index in INDEXES]
    ttl = item.get("expires_at")
    return (
        item["pk"],
        item["sk"],
        *(gsi[0] or (None, None)),
        *(gsi[1] or (None, None)),
        ttl if isinstance(ttl, int | float) and not isinstance(ttl, bool) else None,
        _dump(item),
    )


def _updated_row(new: Item, old: Item | None, changed: Sequence[str]) -> tuple[Any, ...]:
    """`rules.check_item(new)` then `_row(new)`, without sizing the attributes the update left alone.

    Those came from this table's JSON (`_current`), so they hold only plain values under plain names, and
    each weighs at most 21 bytes of DynamoDB size per character of its text in the new document (a number
    is 21 bytes for at least one digit; strings, bytes, names, bools and brackets weigh less than their
    ASCII-escaped JSON). Sizing the changed attributes exactly and bounding the rest by the document the
    row stores anyway decides the limit for every item well under it; one that could be near it, a lone
    surrogate JSON lets through escaped (`\\udXXX`), or anything that fails, goes through the whole
    check_item first, so what is refused, and with which error, does not change."""
    if old is None:  # an upsert: nothing came from the table
        rules.check_item(new)
        return _row(new)
    rules.check_item_keys(new)
    changed_size = 3
    try:
        for name in changed:
            changed_size += len(str(name).encode()) + rules.approximate_size(new[name])
        row = _row(new)
    except Exception:
        rules.check_item(new)  # the error check_item always raised for this item ...
        raise  # ... or, when the item is valid, the encoding's own, as before
    doc = row[-1]
    # "\\" first: one character is a memchr, three are a scan of the whole document.
    if changed_size + 21 * len(doc) > MAX_ITEM_BYTES or ("\\" in doc and "\\ud" in doc):
        rules.check_item(new)
    return row


def _store(db: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    db.execute(
        "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, doc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )


def _sort_clause(column: str, sk: SortKey) -> tuple[str, list[str]]:
    if sk.op == "begins_with":
        # A range instead of LIKE: byte-exact and able to use the index.
        upper = _prefix_successor(sk.value)
        if upper is None:
            return f"{column} >= ?", [sk.value]
        return f"{column} >= ? AND {column} < ?", [sk.value, upper]
    if sk.op == "between":
        assert sk.upper is not None
        return f"{column} BETWEEN ? AND ?", [sk.value, sk.upper]
    return f"{column} {sk.op} ?", [sk.value]


def _prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix` (None: no bound)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    last = ord(stripped[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored as UTF-8
        last = 0xE000
    return stripped[:-1] + chr(last)


def _dump(item: Item) -> str:
    """JSON with bytes as {"$b": base64}; keys that start with "$" get one more "$" so nothing collides."""
    try:
        doc = _json(item)
        if '"$' in doc:  # bytes, or a key or string starting with "$": escape keys to stay unambiguous
            doc = _json(_escape_keys(item))
        return doc
    except ValueError as exc:
        raise InvalidInput("numbers must be finite") from exc


def _json(value: Any) -> str:
    return json.dumps(value, default=_encode_bytes, separators=(",", ":"), allow_nan=False)


def _escape_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {("$" + k if k.startswith("$") else k): _escape_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape_keys(v) for v in value]
    return value


def _encode_bytes(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    raise InvalidInput(f"unsupported value type {type(value).__name__}")


def _decode_object(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$b" in obj:
        return base64.b64decode(obj["$b"])
    if any(k.startswith("$") for k in obj):
        return {(k[1:] if k.startswith("$") else k): v for k, v in obj.items()}
    return obj


def _load(doc: str) -> Item:
    if '"$' not in doc:  # what `_dump` wrote without bytes or "$" keys: nothing to decode, no hook per object
        plain: Item = json.loads(doc)
        return plain
    item: Item = json.loads(doc, object_hook=_decode_object)
    return item
