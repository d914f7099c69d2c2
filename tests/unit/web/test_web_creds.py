"""Credentials: fresh ones are complete and self-consistent; the stored record is deterministic, round-trips,
and anything else (corrupt, truncated, foreign) is a CredentialsError, never another exception."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.engines.keys import KeyNamespace
from connector.engines.memory_keys import InMemoryKeyStore
from connector.engines.web.binary.jid import Jid
from connector.engines.web.creds import (
    CREDS_ID,
    MAX_REGISTRATION_ID,
    Credentials,
    CredentialStore,
    Me,
    SignedPreKey,
)
from connector.engines.web.crypto import curve
from connector.engines.web.errors import CredentialsError

NOW = 1_750_000_000


def _paired(creds: Credentials) -> Credentials:
    previous = SignedPreKey.generate(creds.identity_key, 9, NOW - 10, published=True)
    return creds.replace(
        me=Me(Jid("15551234567", "s.whatsapp.net", 3), Jid("98765432109876", "lid", 3), "Shop"),
        account=b"\x0a\x02\x08\x01",
        platform="android",
        routing_info=b"\x08\x05\x08\x0d",
        previous_signed_pre_key=previous,
        next_pre_key_id=813,
        first_unuploaded_pre_key_id=813,
    )


def test_fresh_credentials_are_complete() -> None:
    creds = Credentials.generate(NOW)
    assert not creds.paired
    assert 1 <= creds.registration_id <= MAX_REGISTRATION_ID
    assert len(creds.adv_secret) == 32 and len(creds.noise_key.public) == 32
    assert creds.signed_pre_key.key_id == 1 and creds.signed_pre_key.published
    assert creds.signed_pre_key.verify(creds.identity_key.public)
    assert curve.verify(
        creds.identity_key.public,
        curve.prefixed(creds.signed_pre_key.key_pair.public),
        creds.signed_pre_key.signature,
    )
    assert Credentials.generate(NOW).noise_key != creds.noise_key


@pytest.mark.parametrize("paired", [False, True])
def test_the_record_round_trips_and_is_deterministic(paired: bool) -> None:
    creds = Credentials.generate(NOW)
    creds = _paired(creds) if paired else creds
    data = creds.to_bytes()
    assert Credentials.from_bytes(data) == creds
    assert Credentials.from_bytes(data).to_bytes() == data
    record = json.loads(data)
    assert list(record) == sorted(record) and b" " not in data
    assert '"public"' not in data.decode()  # only private halves are kept
    assert ("me" in record) is paired


def test_a_signed_prekey_signed_by_another_key_is_refused() -> None:
    creds = Credentials.generate(NOW)
    stranger = SignedPreKey.generate(curve.KeyPair.generate(), 1, NOW, published=True)
    with pytest.raises(CredentialsError, match="not signed by the stored identity key"):
        Credentials.from_bytes(creds.replace(signed_pre_key=stranger).to_bytes())


@pytest.mark.parametrize(
    "change",
    [
        {"format": 2},
        {"noise_key": "not base64!"},
        {"noise_key": "AAAA"},
        {"registration_id": 0},
        {"registration_id": True},
        {"adv_secret": None},
        {"me": {"jid": "no at sign"}},
        {"me": "15551234567@s.whatsapp.net"},
        {"signed_pre_key": {"id": 1}},
        {"platform": 7},
    ],
)
def test_corrupt_records_are_credentials_errors(change: Mapping[str, object]) -> None:
    record = json.loads(_paired(Credentials.generate(NOW)).to_bytes())
    record.update(change)
    with pytest.raises(CredentialsError):
        Credentials.from_bytes(json.dumps(record).encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda value: json.dumps(value).encode()))
def test_any_bytes_are_read_or_refused_cleanly(data: bytes) -> None:
    try:
        Credentials.from_bytes(data)
    except CredentialsError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(json.loads(_paired(Credentials.generate(NOW)).to_bytes()))), json_values)
def test_any_field_replaced_by_any_value_is_read_or_refused_cleanly(field: str, value: object) -> None:
    record = json.loads(_paired(Credentials.generate(NOW)).to_bytes())
    record[field] = value
    try:
        Credentials.from_bytes(json.dumps(record).encode())
    except CredentialsError:
        pass


class CountingStore(InMemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    async def put(self, namespace: str, values: Mapping[str, bytes | None]) -> None:
        self.puts += 1
        await super().put(namespace, values)


def test_the_store_creates_once_and_writes_only_changes() -> None:
    async def main() -> None:
        keys = CountingStore()
        store, fresh = await CredentialStore.open(keys, NOW)
        assert fresh and keys.puts == 1
        again, fresh_again = await CredentialStore.open(keys, NOW)
        assert not fresh_again and again.current == store.current
        await store.update(platform=None)  # no change: no write
        assert keys.puts == 1
        await store.update(platform="android")
        stored = await keys.get(KeyNamespace.CREDS, [CREDS_ID])
        assert Credentials.from_bytes(stored[CREDS_ID]).platform == "android" and keys.puts == 2

    asyncio.run(main())


def test_opening_corrupt_credentials_raises() -> None:
    async def main() -> None:
        keys = InMemoryKeyStore()
        await keys.put(KeyNamespace.CREDS, {CREDS_ID: b"{}"})
        with pytest.raises(CredentialsError):
            await CredentialStore.open(keys, NOW)

    asyncio.run(main())
