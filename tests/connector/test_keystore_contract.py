"""One KeyStore contract for TableKeyStore (SQLite table + FileCrypto) and the InMemoryKeyStore fake."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.memory_keys import Backing, InMemoryKeyStore
from connector.keystore import TableKeyStore
from connector.leases import LeaseLost, Leases, LeaseTimes, session_lease_key
from wagate.adapters.local.file_crypto import FileCrypto
from wagate.adapters.local.sqlite_table import SqliteTable

TIMES = LeaseTimes.for_ttl(60)
CREDS, SESSION, PRE_KEY = KeyNamespace.CREDS, KeyNamespace.SESSION, KeyNamespace.PRE_KEY


class ManualClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


StoreFactory = Callable[[str], KeyStore]


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture(params=["table", "memory"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes the store of a session; stores of one test share their backing (table or dict)."""
    if request.param == "memory":
        backing: Backing = {}
        yield lambda session_id: InMemoryKeyStore("ten_a", session_id, backing=backing)
        return
    table = SqliteTable(tmp_path / "table.db")
    crypto = FileCrypto(tmp_path / "master.key")
    leases = Leases(table, ManualClock(), "connector-1")

    def make(session_id: str) -> KeyStore:
        lease = leases.acquire(session_lease_key("ten_a", session_id), TIMES)
        assert lease is not None
        return TableKeyStore(table, crypto, lease, tenant_id="ten_a", session_id=session_id)

    yield make
    table.close()


# ---- reads and writes ---------------------------------------------------------------------------------


def test_put_then_get(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        await keys.put(SESSION, {"a@s.whatsapp.net.0": b"\x00\x01", "b.0": b"bee", "empty": b""})
        assert await keys.get(SESSION, ["a@s.whatsapp.net.0", "b.0", "empty", "missing"]) == {
            "a@s.whatsapp.net.0": b"\x00\x01",
            "b.0": b"bee",
            "empty": b"",
        }
        assert await keys.get(SESSION, []) == {}

    run(scenario())


def test_none_deletes_and_overwrites_replace(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        await keys.put(PRE_KEY, {"1": b"one", "2": b"two"})
        await keys.put(PRE_KEY, {"1": None, "2": b"TWO", "3": None})
        assert await keys.get(PRE_KEY, ["1", "2", "3"]) == {"2": b"TWO"}

    run(scenario())


def test_namespaces_and_sessions_are_separate(stores: StoreFactory) -> None:
    async def scenario() -> None:
        first, second = stores("ses_1"), stores("ses_2")
        await first.put(SESSION, {"x": b"session"})
        await first.put(PRE_KEY, {"x": b"pre-key"})
        await second.put(SESSION, {"x": b"other session"})
        assert await first.get(SESSION, ["x"]) == {"x": b"session"}
        assert await first.get(PRE_KEY, ["x"]) == {"x": b"pre-key"}
        assert await first.get(CREDS, ["x"]) == {}
        assert await second.get(SESSION, ["x"]) == {"x": b"other session"}

    run(scenario())


def test_every_namespace_of_the_architecture_is_accepted(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        for namespace in ("creds", "session", "pre-key", "sender-key", "identity", "device-list", "lid-map"):
            await keys.put(namespace, {"k": namespace.encode()})
            assert await keys.get(namespace, ["k"]) == {"k": namespace.encode()}

    run(scenario())


def test_bad_input_is_refused(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        with pytest.raises(ValueError):
            await keys.put("no-such-namespace", {"k": b"v"})
        with pytest.raises(ValueError):
            await keys.get("no-such-namespace", ["k"])
        with pytest.raises(ValueError):
            await keys.put(SESSION, {"k": "not bytes"})  # type: ignore[dict-item]
        with pytest.raises(ValueError):
            await keys.put(SESSION, {"": b"v"})

    run(scenario())


# ---- transactions -------------------------------------------------------------------------------------


def test_transaction_commits_everything_at_the_end(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        await keys.put(SESSION, {"old": b"1"})
        outsider_saw: dict[str, bytes] = {}
        async with keys.transaction():
            await keys.put(SESSION, {"new": b"2", "old": None})
            # The transaction reads its own writes (deletes included)...
            assert await keys.get(SESSION, ["new", "old"]) == {"new": b"2"}

            # ...while another task still sees the committed state.
            async def outsider() -> None:
                outsider_saw.update(await keys.get(SESSION, ["new", "old"]))

            await asyncio.create_task(outsider())
        assert outsider_saw == {"old": b"1"}
        assert await keys.get(SESSION, ["new", "old"]) == {"new": b"2"}

    run(scenario())


def test_transaction_that_raises_writes_nothing(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        await keys.put(SESSION, {"kept": b"1"})
        with pytest.raises(RuntimeError):
            async with keys.transaction():
                await keys.put(SESSION, {"kept": None, "added": b"2"})
                raise RuntimeError("stanza could not be decrypted")
        assert await keys.get(SESSION, ["kept", "added"]) == {"kept": b"1"}

    run(scenario())


def test_nested_transaction_joins_the_outer_one(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        with pytest.raises(RuntimeError):
            async with keys.transaction():
                async with keys.transaction():
                    await keys.put(SESSION, {"inner": b"1"})
                assert await keys.get(SESSION, ["inner"]) == {"inner": b"1"}
                raise RuntimeError("the outer one fails")
        assert await keys.get(SESSION, ["inner"]) == {}

    run(scenario())


def test_transactions_run_one_at_a_time(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        await keys.put(CREDS, {"counter": b"0"})

        async def increment() -> None:
            async with keys.transaction():
                current = int((await keys.get(CREDS, ["counter"]))["counter"])
                await asyncio.sleep(0)  # give the other tasks every chance to interleave
                await keys.put(CREDS, {"counter": str(current + 1).encode()})

        await asyncio.gather(*(increment() for _ in range(25)))
        assert await keys.get(CREDS, ["counter"]) == {"counter": b"25"}

    run(scenario())


def test_a_transaction_larger_than_one_table_transaction(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys = stores("ses_1")
        pre_keys = {str(i): i.to_bytes(4, "big") for i in range(1, 251)}
        async with keys.transaction():
            await keys.put(PRE_KEY, pre_keys)
        assert await keys.get(PRE_KEY, list(pre_keys)) == pre_keys
        await keys.put(PRE_KEY, dict.fromkeys(pre_keys))
        assert await keys.get(PRE_KEY, list(pre_keys)) == {}

    run(scenario())


# ---- wipe ---------------------------------------------------------------------------------------------


def test_wipe_removes_every_namespace_of_this_session_only(stores: StoreFactory) -> None:
    async def scenario() -> None:
        keys, neighbour = stores("ses_1"), stores("ses_2")
        await keys.put(CREDS, {"creds": b"me"})
        await keys.put(PRE_KEY, {str(i): b"k" for i in range(150)})
        await neighbour.put(CREDS, {"creds": b"neighbour"})
        await keys.wipe()
        assert await keys.get(CREDS, ["creds"]) == {}
        assert await keys.get(PRE_KEY, [str(i) for i in range(150)]) == {}
        assert await neighbour.get(CREDS, ["creds"]) == {"creds": b"neighbour"}
        await keys.put(CREDS, {"creds": b"paired again"})
        assert await keys.get(CREDS, ["creds"]) == {"creds": b"paired again"}

    run(scenario())


# ---- TableKeyStore only: encryption at rest and fencing ------------------------------------------------


@pytest.fixture
def table(tmp_path: Path) -> Iterator[SqliteTable]:
    table = SqliteTable(tmp_path / "table.db")
    yield table
    table.close()


def test_values_are_encrypted_and_bound_to_their_session(table: SqliteTable, tmp_path: Path) -> None:
    crypto = FileCrypto(tmp_path / "master.key")
    lease = Leases(table, ManualClock(), "connector-1").acquire(session_lease_key("ten_a", "ses_1"), TIMES)
    assert lease is not None
    keys = TableKeyStore(table, crypto, lease, tenant_id="ten_a", session_id="ses_1")
    secret = b"identity-private-key-" + bytes(range(32))
    run(keys.put(KeyNamespace.IDENTITY, {"self": secret}))
    [item] = table.query("T#ten_a#KEYS#ses_1").items
    assert item["sk"] == "identity#self"
    assert secret not in item["v"]
    # The blob does not open as another session's, or as another namespace's.
    with pytest.raises(Exception):  # noqa: B017 - InvalidInput, whatever the context mismatch
        crypto.decrypt(
            item["v"], context={"tenant_id": "ten_a", "session_id": "ses_2", "namespace": "identity"}
        )
    with pytest.raises(Exception):  # noqa: B017
        crypto.decrypt(item["v"], context={"tenant_id": "ten_a", "session_id": "ses_1", "namespace": "creds"})


def test_writes_are_refused_once_the_lease_is_lost(table: SqliteTable, tmp_path: Path) -> None:
    clock = ManualClock()
    crypto = FileCrypto(tmp_path / "master.key")
    key = session_lease_key("ten_a", "ses_1")
    old = Leases(table, clock, "connector-old").acquire(key, TIMES)
    assert old is not None
    lost: list[str] = []
    keys = TableKeyStore(
        table, crypto, old, tenant_id="ten_a", session_id="ses_1", on_lease_lost=lambda: lost.append("lost")
    )
    run(keys.put(CREDS, {"creds": b"v1"}))

    clock.t += TIMES.ttl + 1  # the old owner stalls past its lease...
    new = Leases(table, clock, "connector-new").acquire(key, TIMES)  # ...and another takes over
    assert new is not None and new.fence == old.fence + 1

    async def stale_writes() -> None:
        with pytest.raises(LeaseLost):
            await keys.put(CREDS, {"creds": b"stale"})
        with pytest.raises(LeaseLost):
            async with keys.transaction():
                await keys.put(SESSION, {str(i): b"x" for i in range(120)})  # chunked: the first chunk fails
        with pytest.raises(LeaseLost):
            await keys.wipe()

    run(stale_writes())
    assert lost == ["lost", "lost", "lost"]
    current = TableKeyStore(table, crypto, new, tenant_id="ten_a", session_id="ses_1")
    assert run(current.get(CREDS, ["creds"])) == {"creds": b"v1"}
    assert run(current.get(SESSION, [str(i) for i in range(120)])) == {}
