"""Media files sealed as a stream (store/sealed_media.py) in the local media store: nothing readable on
disk, the bytes back whole, tampering/truncation/moving refused, plain files from before still read."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from wagate.adapters.local.dir_media import DirMediaStore
from wagate.adapters.local.file_crypto import FileCrypto
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.domain.errors import InvalidInput, NotFound
from wagate.store import keys
from wagate.store.sealed_media import HEADER_BYTES, SEGMENT, TAG_BYTES, MediaSealer, plain_size
from wagate.store.tenant_keys import TenantKeys

TENANT = "ten_a"
MiB = 1024 * 1024


@pytest.fixture
def tenant_keys(tmp_path: Path) -> TenantKeys:
    return TenantKeys(SqliteTable(tmp_path / "table.db"), FileCrypto(tmp_path / "master.key"))


def store_on(tmp_path: Path, tenant_keys: TenantKeys, *, seal: bool = True) -> DirMediaStore:
    sealer = MediaSealer(tenant_keys, seal=seal)
    return DirMediaStore(tmp_path / "media", signing_key=b"k" * 32, base_url="http://x", sealer=sealer)


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 17])
def test_every_size_round_trips_and_no_plaintext_rests(
    tmp_path: Path, tenant_keys: TenantKeys, size: int
) -> None:
    store = store_on(tmp_path, tenant_keys)
    data = (b"MARKERBYTES" * (size // 11 + 1))[:size]
    key = keys.media_object(TENANT, f"med_{size}")
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    assert store.put(key, pieces, content_type="image/png") == size
    stored = (tmp_path / "media" / key).read_bytes()
    assert (b"MARKERBYTES" in stored) is False
    assert plain_size(len(stored)) == size == store.size(key)
    for chunk_size in (7, 4096, MiB):
        assert b"".join(store.read(key, chunk_size=chunk_size)) == data


def test_tampered_truncated_or_moved_files_are_refused(tmp_path: Path, tenant_keys: TenantKeys) -> None:
    store = store_on(tmp_path, tenant_keys)
    data = os.urandom(2 * SEGMENT + 5)
    key = keys.media_object(TENANT, "med_1")
    store.put(key, [data], content_type="video/mp4")
    path = tmp_path / "media" / key
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[HEADER_BYTES + 10] ^= 1
    path.write_bytes(bytes(flipped))
    with pytest.raises(InvalidInput):
        b"".join(store.read(key))
    # Cut after a whole segment: what is left looks complete but its last segment is not marked last.
    path.write_bytes(original[: HEADER_BYTES + SEGMENT + TAG_BYTES])
    with pytest.raises(InvalidInput):
        b"".join(store.read(key))
    # The same bytes under another media id, or another tenant's, do not open.
    for other in (keys.media_object(TENANT, "med_2"), keys.media_object("ten_b", "med_1")):
        moved = tmp_path / "media" / other
        moved.parent.mkdir(parents=True, exist_ok=True)
        moved.write_bytes(original)
        with pytest.raises(InvalidInput):
            b"".join(store.read(other))


def test_a_shredded_tenant_s_files_are_gone(tmp_path: Path, tenant_keys: TenantKeys) -> None:
    store = store_on(tmp_path, tenant_keys)
    key = keys.media_object(TENANT, "med_1")
    store.put(key, [b"photo"], content_type="image/jpeg")
    tenant_keys.destroy(TENANT)
    with pytest.raises(NotFound):
        b"".join(store.read(key))


def test_plain_files_from_before_still_read_and_sealing_off_writes_plain(
    tmp_path: Path, tenant_keys: TenantKeys
) -> None:
    plain = store_on(tmp_path, tenant_keys, seal=False)
    key = keys.media_object(TENANT, "med_old")
    plain.put(key, [b"old photo"], content_type="image/jpeg")
    assert (tmp_path / "media" / key).read_bytes() == b"old photo"
    sealed = store_on(tmp_path, tenant_keys)
    assert b"".join(sealed.read(key)) == b"old photo" and sealed.size(key) == 9
    assert sealed.seal_existing() == 1 and sealed.seal_existing() == 0
    assert b"old photo" not in (tmp_path / "media" / key).read_bytes()
    assert b"".join(sealed.read(key)) == b"old photo"
    # ... and sealed files still read with sealing switched off.
    assert b"".join(plain.read(key)) == b"old photo"


def test_a_16_mb_file_streams_through_in_bounded_memory(tmp_path: Path, tenant_keys: TenantKeys) -> None:
    store = store_on(tmp_path, tenant_keys)
    key = keys.media_object(TENANT, "med_big")
    block = os.urandom(MiB)

    def sixteen() -> Iterator[bytes]:
        for _ in range(16):
            yield block

    tracemalloc.start()
    try:
        assert store.put(key, sixteen(), content_type="video/mp4") == 16 * MiB
        total = sum(len(c) for c in store.read(key, chunk_size=MiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 16 * MiB
    assert peak < 6 * MiB  # a few chunks and segments at a time, never the file
