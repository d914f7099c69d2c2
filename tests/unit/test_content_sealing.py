"""Content sealed at rest: tenant data keys (create once, cache, destroy, re-wrap), the sealed table and the
sealed queues, on the real SQLite adapters and the local master key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wagate.adapters.local.file_crypto import FileCrypto
from wagate.adapters.local.sqlite_queue import QueueDefinition, SqliteQueues
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.conditions import Attr
from wagate.domain.errors import ConflictError, InvalidInput
from wagate.ports import Put, Update
from wagate.store import keys
from wagate.store.content_cipher import ContentCipher, is_sealed
from wagate.store.sealed_queues import QueueBodies, SealedQueues
from wagate.store.sealed_table import SEALED, SealedTable
from wagate.store.tenant_keys import TenantKeyDestroyed, TenantKeys

TENANT = "ten_a"
OTHER = "ten_b"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def raw(tmp_path: Path) -> SqliteTable:
    return SqliteTable(tmp_path / "table.db")


@pytest.fixture
def tenant_keys(raw: SqliteTable, tmp_path: Path) -> TenantKeys:
    return TenantKeys(raw, FileCrypto(tmp_path / "master.key"))


@pytest.fixture
def table(raw: SqliteTable, tenant_keys: TenantKeys) -> SealedTable:
    return SealedTable(raw, ContentCipher(tenant_keys))


def test_one_key_per_tenant_created_once_and_stored_only_wrapped(raw: SqliteTable, tmp_path: Path) -> None:
    crypto = FileCrypto(tmp_path / "master.key")
    first, second = TenantKeys(raw, crypto), TenantKeys(raw, crypto)  # two processes
    assert first.key(TENANT).key_id == second.key(TENANT).key_id
    assert first.key(OTHER).key_id != first.key(TENANT).key_id
    stored = raw.get(*keys.tenant_data_key(TENANT))
    assert stored is not None and set(stored) >= {"wrapped", "key_id"}
    assert isinstance(stored["wrapped"], bytes) and stored["wrapped"][:2] == b"WG"
    assert first.existing("ten_never") is None and raw.get(*keys.tenant_data_key("ten_never")) is None


def test_content_attributes_are_sealed_and_read_back_plain(table: SealedTable, raw: SqliteTable) -> None:
    pk, sk = keys.message(TENANT, "msg_1")
    table.put({"pk": pk, "sk": sk, "text": "hola", "status": "queued", "metadata": {"crm": [1, 2]}})
    stored = raw.get(pk, sk)
    assert stored is not None and is_sealed(stored[SEALED]) and not {"text", "metadata"} & set(stored)
    assert stored["status"] == "queued"  # what conditions and indexes use stays plain
    assert "hola" not in json.dumps(stored)
    assert table.get(pk, sk) == {
        "pk": pk,
        "sk": sk,
        "text": "hola",
        "status": "queued",
        "metadata": {"crm": [1, 2]},
    }
    # An update's content is sealed on its own and wins over the row's sealed whole; a removal hides it.
    new = table.update(pk, sk, set={"text": "adiós"}, condition=Attr("status").eq("queued"))
    assert new["text"] == "adiós" and new["metadata"] == {"crm": [1, 2]}
    assert is_sealed(raw.get(pk, sk)["text"])  # type: ignore[index]
    table.transact_write(
        [Update(pk, sk, set={"last_message_preview": "p"}), Put({"pk": pk, "sk": "X", "name": "Ana"})]
    )
    assert table.query(pk).items[-1]["name"] == "Ana"
    assert table.get(pk, sk)["last_message_preview"] == "p"  # type: ignore[index]
    assert "Ana" not in json.dumps(raw.query(pk).items, default=str)
    assert "metadata" not in table.update(pk, sk, remove=["metadata"])
    assert "metadata" not in table.get(pk, sk)  # type: ignore[operator]
    table.transact_write([Update(pk, sk, remove=["text"])])
    assert "text" not in table.get(pk, sk)  # type: ignore[operator]
    table.update(pk, sk, set={"text": "otra vez", "metadata": {}})
    assert table.delete(pk, sk) == {  # empty values stay plain: they say nothing
        "pk": pk,
        "sk": sk,
        "text": "otra vez",
        "status": "queued",
        "last_message_preview": "p",
        "metadata": {},
    }


def test_a_sealed_value_moved_to_another_row_or_tenant_does_not_open(
    table: SealedTable, raw: SqliteTable
) -> None:
    pk, sk = keys.message(TENANT, "msg_1")
    table.put({"pk": pk, "sk": sk, "text": "secret"})
    sealed = raw.get(pk, sk)[SEALED]  # type: ignore[index]
    raw.put({"pk": pk, "sk": "MSG#msg_2", SEALED: sealed})
    with pytest.raises(InvalidInput):
        table.get(pk, "MSG#msg_2")
    table.put({"pk": keys.tenant_partition(OTHER), "sk": sk, "text": "x"})
    raw.put({"pk": keys.tenant_partition(OTHER), "sk": sk, SEALED: sealed})
    with pytest.raises(InvalidInput):
        table.get(keys.tenant_partition(OTHER), sk)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    raw.put({"pk": pk, "sk": sk, SEALED: tampered})
    with pytest.raises(InvalidInput):
        table.get(pk, sk)


def test_destroying_a_tenant_key_shreds_its_content_and_refuses_new_keys(
    table: SealedTable, tenant_keys: TenantKeys, raw: SqliteTable, tmp_path: Path
) -> None:
    pk, sk = keys.message(TENANT, "msg_1")
    table.put({"pk": pk, "sk": sk, "text": "gone soon", "status": "sent"})
    tenant_keys.destroy(TENANT)
    assert table.get(pk, sk) == {"pk": pk, "sk": sk, "status": "sent"}
    with pytest.raises(TenantKeyDestroyed):
        table.put({"pk": pk, "sk": sk, "text": "new"})
    # Another process that had the key cached: it stops working within the cache's max age.
    clock = Clock()
    other = TenantKeys(raw, FileCrypto(tmp_path / "master.key"), max_age=60, clock=clock)
    table_b = SealedTable(raw, ContentCipher(other))
    table_b.put({"pk": keys.tenant_partition(OTHER), "sk": "MSG#1", "text": "b"})
    other.key(OTHER)
    TenantKeys(raw, FileCrypto(tmp_path / "master.key")).destroy(OTHER)
    assert table_b.get(keys.tenant_partition(OTHER), "MSG#1")["text"] == "b"  # type: ignore[index]
    clock.now = 61
    assert "text" not in table_b.get(keys.tenant_partition(OTHER), "MSG#1")  # type: ignore[operator]


def test_rows_written_before_encryption_are_read_and_sealed_in_place(
    table: SealedTable, raw: SqliteTable
) -> None:
    pk = keys.tenant_partition(TENANT)
    raw.put({"pk": pk, "sk": "MSG#old", "text": "plain old", "status": "sent"})
    raw.put({"pk": pk, "sk": "CONTACT#+1", "name": "Ana"})
    assert table.get(pk, "MSG#old")["text"] == "plain old"  # type: ignore[index]
    assert table.seal_existing(iter(raw.scan())) == 2
    assert table.seal_existing(iter(raw.scan())) == 0
    assert all(is_sealed(i.get("text") or i.get("name")) for i in raw.query(pk).items)
    assert table.get(pk, "CONTACT#+1")["name"] == "Ana"  # type: ignore[index]


def test_the_migration_leaves_a_row_written_meanwhile_alone(table: SealedTable, raw: SqliteTable) -> None:
    pk = keys.tenant_partition(TENANT)
    raw.put({"pk": pk, "sk": "MSG#1", "text": "v1"})
    stale = list(raw.scan())
    table.put({"pk": pk, "sk": "MSG#1", "text": "v2"})
    assert table.seal_existing(iter(stale)) == 0
    assert table.get(pk, "MSG#1")["text"] == "v2"  # type: ignore[index]
    with pytest.raises(ConflictError):
        raw.update(pk, "MSG#1", set={"text": "x"}, condition=Attr("text").eq("v2"))


def test_queue_bodies_are_sealed_at_rest_and_open_on_receive(tenant_keys: TenantKeys, tmp_path: Path) -> None:
    definitions = {"Q.fifo": QueueDefinition("Q.fifo", fifo=True), "S": QueueDefinition("S", fifo=False)}
    raw = SqliteQueues(tmp_path / "queues.db", definitions)
    bodies = QueueBodies(ContentCipher(tenant_keys))
    queues = SealedQueues(raw, bodies)
    body = json.dumps({"tenant_id": TENANT, "text": "hola"})
    fifo = queues.get("Q.fifo")
    first = fifo.send(body, group_id="g")
    assert fifo.send(body, group_id="g") == first  # content-based dedup still works on the plaintext
    queues.get("S").send(json.dumps({"data": {"tenant_id": OTHER}, "x": "hola"}))
    assert b"hola" not in (tmp_path / "queues.db").read_bytes() + _wal(tmp_path / "queues.db")
    assert [m.body for m in fifo.receive()] == [body]
    sealed = raw.get("S").receive()[0].body
    assert sealed.startswith(f"wgq1:{OTHER}:")
    assert json.loads(bodies.open(sealed))["x"] == "hola"
    assert bodies.open('{"plain": 1}') == '{"plain": 1}'  # sent before encryption was on
    with pytest.raises(InvalidInput):
        bodies.open(sealed.replace(f"wgq1:{OTHER}:", f"wgq1:{TENANT}:"))


def test_blind_index_is_keyed_per_tenant(tenant_keys: TenantKeys) -> None:
    cipher = ContentCipher(tenant_keys)
    assert cipher.blind(TENANT, "+34600123456") == cipher.blind(TENANT, "+34600123456")
    assert cipher.blind(TENANT, "+34600123456") != cipher.blind(OTHER, "+34600123456")
    assert "34600123456" not in cipher.blind(TENANT, "+34600123456")


def _wal(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_global_rows_stay_plain_but_idempotency_records(table: SealedTable, raw: SqliteTable) -> None:
    """The authorizer and the socket's handler read global rows and have no KMS access."""
    api_key = keys.api_key("d" * 64)
    table.put({"pk": api_key.pk, "sk": api_key.sk, "name": "CRM key", "tenant_id": TENANT})
    assert raw.get(*api_key)["name"] == "CRM key"  # type: ignore[index]
    record = keys.idempotency_record("h" * 64)
    table.put({"pk": record.pk, "sk": record.sk, "data": '{"text": "hola"}', "status": "COMPLETED"})
    assert "hola" not in json.dumps(raw.get(*record))
    assert table.get(*record)["data"] == '{"text": "hola"}'  # type: ignore[index]


def test_with_encryption_off_writes_stay_plain_and_sealed_rows_still_read(
    table: SealedTable, raw: SqliteTable, tenant_keys: TenantKeys
) -> None:
    pk = keys.tenant_partition(TENANT)
    table.put({"pk": pk, "sk": "MSG#1", "text": "sealed", "chat": "+34600000001", "metadata": {"a": 1}})
    off = SealedTable(raw, ContentCipher(tenant_keys), seal=False)
    assert off.get(pk, "MSG#1")["chat"] == "+34600000001"  # type: ignore[index]
    off.put({"pk": pk, "sk": "MSG#2", "text": "plain"})
    assert raw.get(pk, "MSG#2")["text"] == "plain"  # type: ignore[index]
    off.update(pk, "MSG#1", set={"text": "now plain"}, remove=["metadata"])
    assert raw.get(pk, "MSG#1")["text"] == "now plain"  # type: ignore[index]
    assert off.get(pk, "MSG#1") == {"pk": pk, "sk": "MSG#1", "text": "now plain", "chat": "+34600000001"}
    bodies = QueueBodies(ContentCipher(tenant_keys), seal=False)
    assert bodies.seal('{"tenant_id": "ten_a"}') == '{"tenant_id": "ten_a"}'
