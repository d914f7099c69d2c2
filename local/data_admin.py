"""Operator commands on a data directory: online backup and restore, master key rotation, sealing old rows.

Backup uses SQLite's online backup API on each database file (`table.db`, `queues.db`): a consistent
snapshot, page by page, while `wagate serve` keeps reading and writing. Other files of the data
directory (media, ...) are copied as they are; the master key (and its retired keys) too, unless
`--no-key`: then keep the key elsewhere, since without it the sealed content cannot be read.

Restore copies a backup back into a data directory (through the same API, so no torn file) — stop
`wagate serve` first: it would keep serving from its open connections.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wagate.wiring import Deps

DATABASES = ("table.db", "queues.db")
KEY_FILES = ("master.key", "master.key.retired")
MANIFEST = "wagate-backup.json"
_SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".log")


@dataclass(frozen=True)
class Copied:
    databases: list[str]
    files: int
    key_included: bool


def _copy_database(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst, pages=1024, sleep=0.005)  # in steps, so writers are not held up
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(target, 0o600)


def _other_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or relative.parts[0] in DATABASES or relative.name == MANIFEST:
            continue
        if path.name.endswith(_SKIPPED_SUFFIXES) or relative.name in KEY_FILES or path.name.startswith("."):
            continue
        found.append(relative)
    return found


def backup(data_dir: Path, target: Path, *, include_key: bool = True) -> Copied:
    """A consistent copy of `data_dir` in the new directory `target`. Raises FileExistsError."""
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} is not empty")
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(target, 0o700)
    databases = [name for name in DATABASES if (data_dir / name).exists()]
    for name in databases:
        _copy_database(data_dir / name, target / name)
    others = _other_files(data_dir)
    for relative in others:
        (target / relative).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(data_dir / relative, target / relative)
    keys = [name for name in KEY_FILES if include_key and (data_dir / name).exists()]
    for name in keys:
        shutil.copy2(data_dir / name, target / name)
        os.chmod(target / name, 0o600)
    manifest = {"created_at": time.time(), "databases": databases, "files": len(others), "key": bool(keys)}
    (target / MANIFEST).write_text(json.dumps(manifest))
    return Copied(databases, len(others), bool(keys))


def restore(source: Path, data_dir: Path) -> Copied:
    """Puts the backup in `source` back into `data_dir`. Raises FileNotFoundError (not a backup)."""
    if not (source / MANIFEST).exists():
        raise FileNotFoundError(f"{source} is not a wagate backup (no {MANIFEST})")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    databases = [name for name in DATABASES if (source / name).exists()]
    for name in databases:
        _copy_database(source / name, data_dir / name)
    others = _other_files(source)
    for relative in others:
        (data_dir / relative).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(source / relative, data_dir / relative)
    keys = [name for name in KEY_FILES if (source / name).exists()]
    for name in keys:
        shutil.copy2(source / name, data_dir / name)
        os.chmod(data_dir / name, 0o600)
    return Copied(databases, len(others), bool(keys))


def rotate_master_key(deps: Deps) -> tuple[str, str, int]:
    """Local mode: a new master key, and every tenant data key re-wrapped under it.
    Returns (old key id, new key id, data keys re-wrapped)."""
    from wagate.adapters.local.file_crypto import FileCrypto
    from wagate.adapters.local.file_crypto import rotate_master_key as rotate
    from wagate.store.sealed_table import SealedTable
    from wagate.store.tenant_keys import TenantKeys

    path = deps.settings.master_key_path
    old, new = rotate(path)
    table = deps.table.inner if isinstance(deps.table, SealedTable) else deps.table
    count = TenantKeys(table, FileCrypto(path)).rewrap_all()
    return old, new, count


def encrypt_existing(deps: Deps) -> int:
    """Moves every row still keyed by a phone number under its blind index (store/blind_index.py), seals,
    in place and beside live traffic, every row's content still in plaintext, then (SQLite) compacts the
    file; returns how many rows were sealed. Raises RuntimeError when encryption is off."""
    from wagate.store.sealed_table import SealedTable

    if not isinstance(deps.table, SealedTable) or not deps.table.seal:
        raise RuntimeError("content encryption is off (WAGATE_ENCRYPT_CONTENT=false)")
    from wagate.store.blind_index import migrate_person_keys

    migrate_person_keys(deps.table, iter(deps.table.inner.scan()))  # type: ignore[attr-defined]
    changed = deps.table.seal_existing(iter(deps.table.inner.scan()))  # type: ignore[attr-defined]
    compact = getattr(deps.table.inner, "compact", None)
    if changed and compact is not None:
        compact()  # SQLite: the replaced plaintext must not linger in free pages or the WAL
    return changed


def seal_media_files(deps: Deps) -> int:
    """Local mode: seals every media file still in plaintext; returns how many (0 on S3: SSE-KMS)."""
    from wagate.adapters.local.dir_media import DirMediaStore

    store = deps.media_store
    return store.seal_existing() if isinstance(store, DirMediaStore) else 0


def index_tenants(deps: Deps) -> int:
    """Puts tenants created before the operator API in its list (one scan of the table, safe while
    serving, idempotent); returns how many were added."""
    from wagate.store import keys
    from wagate.store.sealed_table import SealedTable
    from wagate.store.tenants import TenantRepository

    table = deps.table.inner if isinstance(deps.table, SealedTable) else deps.table
    rows = TenantRepository(deps.table)
    added = 0
    for item in table.scan():  # type: ignore[attr-defined]
        pk, sk = str(item.get("pk")), str(item.get("sk"))
        if (pk, sk) == keys.tenant(pk.removeprefix("TENANT#")) and item.get("gsi1pk") != keys.TENANTS_INDEX:
            rows.change(pk.removeprefix("TENANT#"), {})
            added += 1
    return added
