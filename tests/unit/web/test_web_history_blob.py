"""History blobs without a network: inflation bounded (a zip bomb is refused), the facts read from a
HistorySync (pairs from mappings and conversations, tokens, push names, the salt off the wire), the
batched LID map writes, and the engine event that carries them mapped to `contacts_synced`."""

from __future__ import annotations

import asyncio
import json
import zlib

import pytest

from connector.engines.events import ContactInfo, ContactsSynced
from connector.engines.keys import KeyNamespace
from connector.engines.memory_keys import InMemoryKeyStore
from connector.engines.web.binary.jid import Jid
from connector.engines.web.history import HistoryError, inflate, read_history
from connector.engines.web.history_import import recent_messages
from connector.engines.web.lid import LidMap
from connector.engines.web.protos import serialize, wa
from connector.engines.web.signal import SignalAddress
from connector.engines.web.signal.protowire import bytes_field
from connector.publisher import event_payload
from wagate.domain.events import EventType


def test_inflation_is_bounded_and_checked() -> None:
    bomb = zlib.compress(b"\x00" * 2_000_000)
    with pytest.raises(HistoryError, match="more than"):
        inflate(bomb, limit=1_000_000)
    assert len(inflate(bomb, limit=2_000_000)) == 2_000_000
    with pytest.raises(HistoryError, match="not zlib"):
        inflate(b"plain bytes")
    with pytest.raises(HistoryError, match="cut off"):
        inflate(zlib.compress(b"x" * 1000)[:-6])


def test_the_facts_of_a_history_sync() -> None:
    history = wa.HistorySync(syncType=wa.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP)
    history.phoneNumberToLidMappings.add(pnJid="15550001111@s.whatsapp.net", lidJid="111@lid")
    history.phoneNumberToLidMappings.add(pnJid="not a jid", lidJid="222@lid")
    by_lid = history.conversations.add(id="333@lid", pnJid="15550003333@s.whatsapp.net")
    by_lid.tcToken, by_lid.tcTokenTimestamp, by_lid.tcTokenSenderTimestamp = b"tok", 1700000000, 1700000100
    history.conversations.add(id="15550004444@s.whatsapp.net", lidJid="444@lid", tcToken=b"no time")
    history.conversations.add(id="120363000000000001@g.us", tcToken=b"group", tcTokenTimestamp=5)
    history.pushnames.add(id="15550001111@s.whatsapp.net", pushname="  Ana  ")
    history.pushnames.add(id="120363000000000001@g.us", pushname="a group")
    salt = bytes(range(32))
    facts = read_history(serialize(history) + bytes_field(19, salt))
    assert facts.pairs == {"15550001111": "111", "15550003333": "333", "15550004444": "444"}
    assert facts.tokens == [(Jid("333", "lid"), b"tok", 1700000000, 1700000100)]
    assert facts.names == {Jid("15550001111", "s.whatsapp.net"): "Ana"}
    assert facts.salt == salt and facts.conversations == 3
    assert read_history(serialize(history)).salt is None
    with pytest.raises(HistoryError):
        read_history(b"\xff\xff\xff")


def test_contacts_synced_is_its_own_event_type() -> None:
    kind, data = event_payload(
        ContactsSynced((ContactInfo("+15550001111", "111@lid", "Ana"),), "history_sync")
    )
    assert kind is EventType.CONTACTS_SYNCED
    assert json.loads(json.dumps(data)) == {  # as the queue carries it
        "contacts": [{"phone": "+15550001111", "lid": "111@lid", "name": "Ana"}],
        "source": "history_sync",
    }


def test_learning_many_pairs_writes_both_directions_and_moves_the_phone_session() -> None:
    async def main() -> None:
        keys = InMemoryKeyStore()
        lids = LidMap(keys)
        pn, lid = Jid("15550001111", "s.whatsapp.net"), Jid("111", "lid")
        await keys.put(KeyNamespace.SESSION, {str(SignalAddress.from_jid(pn)): b"session"})
        pairs = {f"1555000{i:04d}": str(100 + i) for i in range(250)} | {"15550001111": "111"}
        assert await lids.learn_many(pairs, batch=100) == 251
        assert await lids.learn_many(pairs) == 0  # nothing new the second time
        sessions = await keys.get(KeyNamespace.SESSION, [str(SignalAddress.from_jid(a)) for a in (pn, lid)])
        assert sessions == {str(SignalAddress.from_jid(lid)): b"session"}
        fresh = LidMap(keys)  # read back from the store, not the cache
        assert await fresh.pn_user("349") == "15550000249" and await fresh.lid_user("15550001111") == "111"

    asyncio.run(main())


def test_recent_messages_are_bounded_in_days_and_keep_no_way_to_download_old_media() -> None:
    async def main() -> None:
        now = 1_800_000_000.0
        history = wa.HistorySync()
        chat = history.conversations.add(id="15550002222@s.whatsapp.net")
        for i, (age_days, message) in enumerate(
            [
                (
                    1,
                    wa.Message(
                        imageMessage=wa.Message.ImageMessage(mimetype="image/jpeg", mediaKey=b"k" * 32)
                    ),
                ),
                (3, wa.Message(conversation="three days")),
                (10, wa.Message(conversation="ten days")),
            ]
        ):
            info = wa.WebMessageInfo(
                key=wa.MessageKey(remoteJid=chat.id, id=f"ID{i}"),
                messageTimestamp=int(now - age_days * 86400),
                message=message,
            )
            chat.messages.add(message=info)
        lids, me = LidMap(InMemoryKeyStore()), Jid("15550001111", "s.whatsapp.net", 3)
        recent = await recent_messages(history, lids, me, now=now, days=5)
        assert [m.provider_message_id for m in recent] == ["ID1", "ID0"]  # oldest first
        assert all(m.historical and m.sender_phone == "+15550002222" for m in recent)
        assert recent[1].media is not None and recent[1].media.fetch is None
        assert await recent_messages(history, lids, me, now=now, days=0) == []

    asyncio.run(main())
