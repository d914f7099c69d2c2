"""`wagate admin backup/restore/rotate-master-key/encrypt-existing` on real data directories."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from local.cli import main
from wagate import wiring
from wagate.adapters.local.file_crypto import FileCrypto, key_id_of
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.envelope import parse_blob
from wagate.ports import Put
from wagate.settings import Settings
from wagate.store import keys
from wagate.store.content_cipher import ContentCipher, is_sealed
from wagate.store.sealed_table import SealedTable
from wagate.store.tenant_keys import TenantKeys

TENANT = "ten_admin"


def deps_on(data: Path, *, encrypt: bool = True) -> wiring.Deps:
    return wiring.build(Settings(backend="local", data_dir=data, encrypt_content=encrypt))


def admin(*args: str) -> int:
    return main(["admin", *args])


def test_backup_while_writing_is_consistent_and_restores_readable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    deps = deps_on(data)
    pk = keys.tenant_partition(TENANT)
    deps.table.put({"pk": pk, "sk": "MSG#first", "text": "hola"})
    stop, writing = threading.Event(), threading.Event()

    def write_pairs() -> None:
        i = 0
        while not stop.is_set():  # each pair in one transaction: a consistent copy has both or neither
            deps.table.transact_write(
                [
                    Put({"pk": pk, "sk": f"A#{i:06d}", "text": "a"}),
                    Put({"pk": pk, "sk": f"B#{i:06d}", "text": "b"}),
                ]
            )
            i += 1
            if i == 20:
                writing.set()

    writer = threading.Thread(target=write_pairs)
    writer.start()
    try:
        # The backup starts once pairs are being written (on a quiet machine it could otherwise finish first).
        assert writing.wait(timeout=30)
        assert admin("--data-dir", str(data), "backup", str(tmp_path / "bk")) == 0
    finally:
        stop.set()
        writer.join()
    copy = SqliteTable(tmp_path / "bk" / "table.db")
    a = {i["sk"][2:] for i in copy.query(pk).items if i["sk"].startswith("A#")}
    b = {i["sk"][2:] for i in copy.query(pk).items if i["sk"].startswith("B#")}
    assert a == b and a
    assert (tmp_path / "bk" / "master.key").stat().st_mode & 0o077 == 0
    assert admin("--data-dir", str(data), "backup", str(tmp_path / "bk")) == 2  # never over a backup

    restored = tmp_path / "restored"
    assert admin("--data-dir", str(restored), "restore", str(tmp_path / "bk")) == 0
    assert deps_on(restored).table.get(pk, "MSG#first")["text"] == "hola"  # type: ignore[index]
    assert admin("--data-dir", str(restored), "restore", str(tmp_path / "nothing")) == 2


def test_a_backup_without_the_key_cannot_be_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    deps_on(data).table.put({"pk": keys.tenant_partition(TENANT), "sk": "MSG#1", "text": "private"})
    assert admin("--data-dir", str(data), "backup", "--no-key", str(tmp_path / "bk")) == 0
    assert not (tmp_path / "bk" / "master.key").exists()
    assert b"private" not in (tmp_path / "bk" / "table.db").read_bytes()


def test_rotating_the_master_key_rewraps_data_keys_and_keeps_old_secrets_readable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    deps = deps_on(data)
    pk = keys.tenant_partition(TENANT)
    deps.table.put({"pk": pk, "sk": "MSG#1", "text": "before"})
    secret = deps.crypto.encrypt(b"engine key", context={"tenant": TENANT})
    old_id = key_id_of((data / "master.key").read_bytes())

    assert admin("--data-dir", str(data), "rotate-master-key") == 0
    new_id = key_id_of((data / "master.key").read_bytes())
    assert new_id != old_id
    raw = SqliteTable(data / "table.db")
    wrapped = raw.get(*keys.tenant_data_key(TENANT))["wrapped"]  # type: ignore[index]
    assert parse_blob(wrapped).key_id == new_id
    fresh = deps_on(data)
    assert fresh.table.get(pk, "MSG#1")["text"] == "before"  # type: ignore[index]
    assert fresh.crypto.decrypt(secret, context={"tenant": TENANT}) == b"engine key"
    # A process started before the rotation meets the re-wrapped data key and reads the key files again.
    before = SealedTable(raw, ContentCipher(TenantKeys(raw, deps.crypto)))
    assert before.get(pk, "MSG#1")["text"] == "before"  # type: ignore[index]
    assert deps.crypto.decrypt(fresh.crypto.encrypt(b"x", context={}), context={}) == b"x"
    assert FileCrypto(data / "master.key").key_id == new_id


def test_encrypt_existing_seals_rows_written_with_encryption_off(tmp_path: Path) -> None:
    data = tmp_path / "data"
    plain = deps_on(data, encrypt=False)
    pk = keys.tenant_partition(TENANT)
    for n in range(5):
        plain.table.put({"pk": pk, "sk": f"MSG#{n}", "text": f"old {n}", "status": "sent"})
    photo = b"PLAINPHOTO" * 20_000  # 200 KB: several sealed segments
    assert plain.media_store is not None
    plain.media_store.put(keys.media_object(TENANT, "med_1"), [photo], content_type="image/jpeg")
    media_file = data / "media" / keys.media_object(TENANT, "med_1")
    assert b"PLAINPHOTO" in media_file.read_bytes()
    assert admin("--data-dir", str(data), "encrypt-existing") == 0
    raw = SqliteTable(data / "table.db")
    assert all(is_sealed(i["text"]) for i in raw.query(pk).items)
    assert b"PLAINPHOTO" not in media_file.read_bytes()
    sealed = deps_on(data)
    assert isinstance(sealed.table, SealedTable)
    assert [i["text"] for i in sealed.table.query(pk).items] == [f"old {n}" for n in range(5)]
    assert sealed.media_store is not None
    assert b"".join(sealed.media_store.read(keys.media_object(TENANT, "med_1"))) == photo
    assert sealed.media_store.size(keys.media_object(TENANT, "med_1")) == len(photo)
    assert admin("--data-dir", str(data), "encrypt-existing") == 0


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_are_local_only(command: str, tmp_path: Path) -> None:
    assert admin("--backend", "aws", command, str(tmp_path / "x")) == 2
