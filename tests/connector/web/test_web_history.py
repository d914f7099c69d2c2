"""The phone's history sync and LID migration, end to end against the fake edge: the blob is downloaded
from the media hosts (or read inline), checked, inflated and parsed; what it teaches (number ↔ LID,
push names, privacy tokens, the cstoken salt) is kept and used, and a spoof from anyone else is not."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.errors import SendRejected
from connector.engines.events import ContactInfo, ContactsSynced, IncomingMessage
from connector.engines.keys import KeyNamespace
from connector.engines.web.binary.jid import Jid
from tests.connector.web.harness import TIMEOUT, Harness, Running, with_edge
from tests.fakes.whatsapp_edge.media_hosts import FakeMediaHosts

ALICE, BOB, CAROL, DAN = "15550001111", "15550002222", "15550003333", "15550004444"


def test_history_sync_teaches_numbers_names_and_tokens_and_unlocks_a_restricted_account() -> None:
    """Alice's account is restricted: nobody's token is known, so both first messages fail with 463.
    Her phone's history sync carries Carol's token (Carol trusted her on the phone) and the account's
    cstoken salt: afterwards Carol gets the tctoken, Bob (no token, LID now known) a valid cstoken."""

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        h.edge.state.account(BOB).push_name = "Bob Builder"
        h.edge.state.account(CAROL)
        h.edge.state.privacy_tokens[(ALICE, CAROL)] = (b"carol trusts alice", int(time.time()) - 60)
        h.edge.restrict(ALICE)
        for phone in (CAROL, BOB):
            with pytest.raises(SendRejected):
                await alice.engine.send_text(f"+{phone}", "before the sync", f"cold_{phone}")

        await h.edge.send_history_sync(alice.jid)
        synced = await alice.running.wait(ContactsSynced)
        state = h.edge.state
        assert synced.source == "history_sync"
        assert set(synced.contacts) == {
            ContactInfo(phone=f"+{BOB}", lid=str(state.accounts[BOB].lid), name="Bob Builder"),
            ContactInfo(
                phone=f"+{CAROL}", lid=str(state.accounts[CAROL].lid), name=state.accounts[CAROL].push_name
            ),
        }
        assert len(h.edge.media.downloads) == 1  # fetched from the media hosts, not made up
        keys = h.keys("ses_a")
        mapped = await keys.get(KeyNamespace.LID_MAP, [f"pn:{BOB}", f"pn:{CAROL}"])
        assert mapped == {
            f"pn:{BOB}": state.accounts[BOB].lid_user.encode(),
            f"pn:{CAROL}": state.accounts[CAROL].lid_user.encode(),
        }
        salt = await keys.get(KeyNamespace.ACCOUNT_SYNC, ["nct-salt"])
        assert salt == {"nct-salt": state.accounts[ALICE].nct_salt}

        await alice.engine.send_text(f"+{CAROL}", "hi carol", "warm_carol")
        await alice.engine.send_text(f"+{BOB}", "hi bob", "new_bob")
        received = {m.message.conversation for p in (BOB, CAROL) for m in h.edge.phone(p).received}
        assert {"hi carol", "hi bob"} <= received
        assert [e.detail for e in h.edge.events_of("restricted")] == [f"{ALICE}->{CAROL}", f"{ALICE}->{BOB}"]
        await alice.running.stop()

    with_edge(body)


def test_an_inline_history_a_lid_migration_and_a_spoof() -> None:
    """Another account's phone sending a history sync is ignored (only our own phone may); the real
    inline one and a LID migration are taken in, the newest LID winning."""

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        h.edge.state.account(BOB).push_name = "Bob"
        spoof = await h.edge.send_history_sync(alice.jid, sender=BOB)
        await h.edge.send_history_sync(alice.jid)  # after the spoof: had it counted, it would be in first
        synced = await alice.running.wait(ContactsSynced)
        assert [(c.phone, c.name) for c in synced.contacts] == [(f"+{BOB}", "Bob")]
        acked = [e.detail for e in h.edge.events_of("ack") if e.jid == alice.jid]
        assert any(spoof in detail for detail in acked), acked
        assert len(h.edge.media.downloads) == 1  # the spoof's blob was never fetched
        await h.edge.send_history_sync(alice.jid, inline=True)
        await alice.running.wait(ContactsSynced, count=2)
        assert len(h.edge.media.downloads) == 1  # inline: nothing to download

        await h.edge.send_lid_migration(alice.jid, [(DAN, "777000111"), (BOB, "888000222")])
        moved = await alice.running.wait(ContactsSynced, count=3)
        assert moved.source == "lid_migration"
        assert set(moved.contacts) == {
            ContactInfo(phone=f"+{DAN}", lid="777000111@lid"),
            ContactInfo(phone=f"+{BOB}", lid="888000222@lid"),
        }
        lids = alice.engine._messaging.lids if alice.engine._messaging else None
        assert lids is not None
        assert await lids.lid_form(Jid(DAN, "s.whatsapp.net")) == Jid("777000111", "lid")
        assert await lids.pn_user("888000222") == BOB
        await alice.running.stop()

    with_edge(body)


def test_a_history_blob_that_fails_its_checks_is_dropped_and_the_connection_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        h.edge.state.account(BOB)
        publish = FakeMediaHosts.publish

        def corrupting(self: FakeMediaHosts, data: bytes, mms_type: str) -> str:
            return publish(self, data[:100] + bytes([data[100] ^ 1]) + data[101:], mms_type)

        monkeypatch.setattr(FakeMediaHosts, "publish", corrupting)
        await h.edge.send_history_sync(alice.jid)
        await h.edge.wait_for("ack", jid=alice.jid)
        async with asyncio.timeout(TIMEOUT):  # the blob is fetched after the ack, in the background
            while not h.edge.media.downloads:
                await asyncio.sleep(0.02)
        assert len(h.edge.media.downloads) == 1  # fetched, then refused by its hash check
        monkeypatch.setattr(FakeMediaHosts, "publish", publish)
        await h.edge.send_history_sync(alice.jid)
        synced = await alice.running.wait(ContactsSynced)
        assert [c.phone for c in synced.contacts] == [f"+{BOB}"]
        assert len(alice.running.of(ContactsSynced)) == 1 and alice.engine.connected
        await alice.running.stop()

    with_edge(body)


def test_recent_chats_are_imported_as_historical_messages_only_when_configured() -> None:
    """WAGATE_WA_HISTORY_IMPORT_DAYS=30: the chats' last 30 days become historical messages (theirs and
    ours, with numbers), the 40-day-old one does not; with the default (0) nothing is imported."""

    async def body(h: Harness) -> None:
        h.edge.state.account(BOB).push_name = "Bob"
        await h.pair(ALICE, "ses_a")
        alice = await h.connect("ses_a", history_import_days=30)
        me = alice.engine._creds.me
        assert me is not None
        await h.edge.wait_for("prekeys", jid=me.jid)
        await h.edge.send_history_sync(me.jid)
        await alice.wait(ContactsSynced)
        imported = [m for m in await _messages(alice, 2) if m.historical]
        assert [(m.text, m.from_me, m.sender_phone, m.chat_jid) for m in imported] == [
            (f"from them, 2 days ago ({BOB})", False, f"+{BOB}", f"{BOB}@s.whatsapp.net"),
            (f"from us, 1 day ago ({BOB})", True, f"+{ALICE}", f"{BOB}@s.whatsapp.net"),
        ]
        assert imported[0].push_name == "Bob" and imported[0].sender_lid == str(
            h.edge.state.accounts[BOB].lid
        )
        await alice.stop()

        off = await h.connect("ses_a")
        await h.edge.send_history_sync(me.jid)
        await off.wait(ContactsSynced)
        assert off.of(IncomingMessage) == []
        await off.stop()

    with_edge(body)


async def _messages(running: Running, count: int) -> list[IncomingMessage]:
    await running.wait(IncomingMessage, count)
    return running.of(IncomingMessage)
