"""What the real edge enforces beyond the grammar, enforced by the fake and met by the engine: privacy
tokens (463 without one), phone numbers recovered when the edge leaves out `*_pn`, the passkey prompt at
linking. Each test fails when the engine misbehaves, and the fake must have understood every request."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import SessionInfo
from connector.engines.errors import SendRejected
from connector.engines.events import Connected, IncomingMessage, Paired, PairingCode, QrCode
from connector.engines.exits import ExitReason, Retry
from connector.engines.keys import KeyNamespace
from connector.engines.web.pairing_code import CROCKFORD
from tests.connector.web.harness import TIMEOUT, Harness, with_edge
from tests.fakes.whatsapp_edge import EdgeConfig, FakePhone, PasskeyRequested
from tests.fakes.whatsapp_edge.phone import WrongCode

ALICE, BOB, CAROL = "15550001111", "15550002222", "15550003333"


def test_a_restricted_number_writes_only_to_contacts_whose_privacy_token_it_holds() -> None:
    """Alice's account is restricted: her first message to a stranger is refused with 463 (a clear,
    not-retried `recipient_restricted`). Bob writes to her; his engine then issues his privacy token,
    which reaches hers as a `privacy_token` notification; her reply carries it and gets through."""

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        h.edge.state.account(CAROL)
        h.edge.restrict(ALICE)

        with pytest.raises(SendRejected) as refused:
            await alice.engine.send_text(f"+{CAROL}", "hello stranger", "msg_cold")
        assert refused.value.code == "recipient_restricted" and not refused.value.is_transient
        with pytest.raises(SendRejected):  # Bob never trusted her yet either
            await alice.engine.send_text(bob.e164, "hello bob?", "msg_early")

        await bob.engine.send_text(alice.e164, "hi alice", "msg_hi")
        await alice.running.wait_where(IncomingMessage, lambda m: m.text == "hi alice")
        await h.edge.wait_for("privacy-token", jid=bob.jid)
        stored = await _wait_for_token(h, "ses_a")
        assert stored, "the privacy_token notification was not stored"

        await alice.engine.send_text(bob.e164, "hi bob", "msg_reply")
        got = await bob.running.wait_where(IncomingMessage, lambda m: m.text == "hi bob")
        assert got.sender_phone == alice.e164
        restricted = [e.detail for e in h.edge.events if e.kind == "restricted"]
        assert restricted == [f"{ALICE}->{CAROL}", f"{ALICE}->{BOB}"]
        assert h.edge.unhandled == []

    with_edge(body)


async def _wait_for_token(h: Harness, session_id: str) -> list[str]:
    """The privacy tokens stored for the session, once there is one (the harness's timeout, not a fixed
    number of polls: a loaded CI box may take longer than a few seconds)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            backing = h.backing.get(("ten_web", session_id), {})
            found = [key for (namespace, key) in backing if namespace == KeyNamespace.PRIVACY_TOKEN.value]
            if found:
                return found
            await asyncio.sleep(0.02)


def test_a_lid_group_message_without_participant_pn_still_names_the_senders_phone() -> None:
    """The edge leaves out participant_pn and Alice never met Bob: the engine reads the group's members
    (a LID group names each one's phone) before it reports the message, so the CRM gets Bob's number."""

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        group = h.edge.create_group("Team", ALICE, [BOB], addressing_mode="lid")
        await bob.engine.send_text(str(group.jid), "hello from a LID", "grp_lid")
        got = await alice.running.wait_where(IncomingMessage, lambda m: m.text == "hello from a LID")
        assert h.edge.events_of("pn-omitted"), "the fake did not leave participant_pn out"
        assert (got.sender_phone, got.sender_jid) == (bob.e164, f"{BOB}@s.whatsapp.net")
        assert h.edge.unhandled == []

    with_edge(body, EdgeConfig(omit_pn_every=1))


def test_a_one_to_one_lid_message_without_sender_pn_takes_the_phone_from_the_lid_map() -> None:
    """Bob learned Alice's LID from her first (phone-addressed) message; her next one is LID-addressed and
    comes without sender_pn: his engine names her number from its map."""

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        await alice.engine.send_text(bob.e164, "first by number", "pn_1")
        await bob.running.wait_where(IncomingMessage, lambda m: m.text == "first by number")
        bob_lid = h.edge.state.accounts[BOB].lid
        await alice.engine.send_text(str(bob_lid), "then by lid", "lid_1")
        got = await bob.running.wait_where(IncomingMessage, lambda m: m.text == "then by lid")
        assert h.edge.events_of("pn-omitted")
        assert (got.sender_phone, got.chat_jid) == (alice.e164, f"{ALICE}@s.whatsapp.net")

    with_edge(body, EdgeConfig(omit_pn_every=1))


def test_a_passkey_prompt_at_linking_ends_pairing_with_a_clear_reason_not_a_qr_timeout() -> None:
    """The account links new devices only with its passkey: the scan gets a passkey_prologue_request. The
    engine cannot answer it, and says so at once (passkey_required) instead of showing QR codes until
    they expire; the notification is acked like any other."""

    async def body(h: Harness) -> None:
        h.edge.require_passkey(ALICE)
        running = h.start("ses_a")
        qr = await running.wait(QrCode)
        with pytest.raises(PasskeyRequested):
            await FakePhone(h.edge, ALICE).scan(qr.qr)
        outcome = await running.exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.PASSKEY_REQUIRED, Retry.NEVER)
        assert "passkey" in outcome.detail and "whatsapp.com" in outcome.detail
        assert len(running.of(QrCode)) == 1  # no more QR codes after the challenge
        await h.edge.wait_for("closed")
        assert [e.detail for e in h.edge.events_of("ack")] == ["passkey_prologue_request"]
        assert h.edge.unhandled == []

    with_edge(body)


def test_linking_by_phone_number_shows_a_code_the_phone_types_and_then_logs_in() -> None:
    """No QR code: companion_hello gives the edge our key wrapped with an 8-character code; the phone,
    given the code, answers with its keys; companion_finish; pair-success keyed with the ADV secret both
    derived; then the usual restart and login."""

    async def body(h: Harness) -> None:
        session = SessionInfo("ten_web", "ses_code", "web", phone=f"+{ALICE}", link_by_code=True)
        running = h.start("ses_code", session=session)
        shown = await running.wait(PairingCode)
        assert len(shown.code) == 8 and set(shown.code) <= set(CROCKFORD)
        assert running.of(QrCode) == []
        with pytest.raises(WrongCode):  # a typo: the key bundle does not open, nothing is linked
            await FakePhone(h.edge, ALICE).enter_code(_typo(shown.code))
        assert not running.task.done() and running.of(Paired) == []  # still waiting: the user types again
        jid = await FakePhone(h.edge, ALICE).enter_code(shown.code)
        paired = await running.wait(Paired)
        assert paired.phone == f"+{ALICE}" and paired.jid == str(jid.to_account())
        assert (await running.exit()).reason is ExitReason.RESTART_REQUIRED
        connected = await h.connect("ses_code")
        assert (await connected.wait(Connected)).phone == f"+{ALICE}"
        await connected.stop()

    with_edge(body)


def _typo(code: str) -> str:
    return ("2" if code[0] != "2" else "3") + code[1:]
