"""Faults: an untrusted or expired certificate chain, a tampered pair-success, garbage and broken stanzas
from the edge. Each ends that one connection with a clear reason and a clean close, never a hang, and
never disturbs another session in the same event loop."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import Paired, QrCode
from connector.engines.exits import ExitReason, Retry
from connector.engines.keys import KeyNamespace
from connector.engines.web.binary.jid import SERVER_JID
from connector.engines.web.binary.node import Node
from connector.engines.web.creds import CREDS_ID, Credentials
from connector.engines.web.crypto import curve
from tests.connector.web.harness import Harness, with_edge
from tests.fakes.whatsapp_edge import EdgeConfig, FakePhone, PairingRefused
from tests.fakes.whatsapp_edge.server import GARBAGE_KINDS


@pytest.mark.parametrize(
    "config",
    [EdgeConfig(certificate_root=curve.KeyPair.generate()), EdgeConfig(certificate_expired=True)],
    ids=["untrusted root", "expired"],
)
def test_a_bad_certificate_chain_fails_the_connection(config: EdgeConfig) -> None:
    async def body(h: Harness) -> None:
        outcome = await h.start().exit()
        assert outcome.reason is ExitReason.FAILED and "certificate" in outcome.detail
        assert not any(e.kind == "registration" for e in h.edge.events)  # no ClientPayload ever sent

    with_edge(body, config)


@pytest.mark.parametrize(
    ("phone_fault", "text"), [("wrong_hmac", "hmac-mismatch"), ("bad_signature", "signature-mismatch")]
)
def test_a_tampered_pair_success_is_refused_and_nothing_is_stored(phone_fault: str, text: str) -> None:
    async def body(h: Harness) -> None:
        running = h.start()
        qr = await running.wait(QrCode)
        with pytest.raises(PairingRefused) as refused:
            await FakePhone(h.edge, "15550003333", **{phone_fault: True}).scan(qr.qr)
        assert (refused.value.code, refused.value.text) == ("401", text)
        outcome = await running.exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.FAILED, Retry.NEVER)
        assert text in outcome.detail
        assert not any(isinstance(event, Paired) for event in running.events)
        stored = Credentials.from_bytes((await h.keys().get(KeyNamespace.CREDS, [CREDS_ID]))[CREDS_ID])
        assert not stored.paired

    with_edge(body)


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
def test_garbage_ends_one_session_and_the_other_keeps_working(kind: str) -> None:
    async def body(h: Harness) -> None:
        victim_jid = await h.pair("15550004444", "ses_victim")
        other_jid = await h.pair("15550005555", "ses_other")
        victim = await h.connect("ses_victim")
        other = await h.connect("ses_other")
        await h.edge.inject(h.edge.live[victim_jid], kind)
        outcome = await victim.exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.CONNECTION_LOST, Retry.BACKOFF), outcome
        assert outcome.detail
        # The other session still reads, answers and uploads.
        answer = await h.edge.ping(other_jid)
        assert answer.str_attr("type") == "result"
        await h.edge.prekey_low(other_jid, 1)
        await h.edge.wait_for("prekeys", jid=other_jid, count=2)
        assert other.engine.connected
        await other.stop()

    with_edge(body)


@pytest.mark.parametrize("kind", ["frame", "node", "truncated"])
def test_garbage_while_pairing_ends_the_connection(kind: str) -> None:
    async def body(h: Harness) -> None:
        running = h.start()
        await running.wait(QrCode)
        await h.edge.inject(h.edge.sessions[0], kind)
        outcome = await running.exit()
        assert outcome.reason is ExitReason.CONNECTION_LOST

    with_edge(body)


@pytest.mark.parametrize(
    ("stanza", "reason"),
    [
        (Node("success", {"t": "1"}), ExitReason.CONNECTION_LOST),  # success before pairing
        (
            Node("iq", {"from": SERVER_JID, "type": "set", "id": "x1"}, [Node("pair-device", {}, [])]),
            ExitReason.CONNECTION_LOST,  # pair-device without refs
        ),
        (
            Node("iq", {"from": SERVER_JID, "type": "set", "id": "x2"}, [Node("pair-success", {}, [])]),
            ExitReason.FAILED,  # pair-success without device identity: refused with 500
        ),
        (Node("failure", {"reason": "not a number"}), ExitReason.CONNECTION_LOST),
        (Node("xmlstreamend"), ExitReason.CONNECTION_LOST),
    ],
    ids=["early success", "no refs", "empty pair-success", "odd failure", "stream end"],
)
def test_broken_stanzas_while_pairing(stanza: Node, reason: ExitReason) -> None:
    async def body(h: Harness) -> None:
        running = h.start()
        await running.wait(QrCode)
        session = h.edge.sessions[0]
        if stanza.tag == "iq":
            session.expect_answer(stanza.str_attr("id") or "")
        await session.send(stanza)
        outcome = await running.exit()
        assert outcome.reason is reason, outcome

    with_edge(body)


def test_the_edge_vanishing_is_a_transient_loss() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        running = await h.connect()
        h.edge.live[jid].ws.transport.abort()  # no close frame: a dead network
        outcome = await running.exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.CONNECTION_LOST, Retry.BACKOFF)

    with_edge(body)


def test_nothing_listening_is_a_transient_loss() -> None:
    async def body(h: Harness) -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        outcome = await h.start(url=f"wss://127.0.0.1:{port}/ws/chat").exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.CONNECTION_LOST, Retry.BACKOFF)

    with_edge(body)


def test_an_edge_certificate_outside_the_trust_store_is_a_transient_explained_loss() -> None:
    """Without the test CA the engine trusts only the system store: the TLS handshake fails, the engine
    says so and backs off (a TLS-intercepting proxy may go away); nothing reaches the edge."""

    async def body(h: Harness) -> None:
        outcome = await h.start(ca_file=None).exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.CONNECTION_LOST, Retry.BACKOFF)
        assert "TLS: the edge's certificate is not trusted" in outcome.detail
        assert h.edge.sessions == []

    with_edge(body)


def test_corrupt_stored_credentials_mean_pairing_again() -> None:
    async def body(h: Harness) -> None:
        await h.keys().put(KeyNamespace.CREDS, {CREDS_ID: b'{"format": 1, "noise_key": "broken"}'})
        outcome = await h.start().exit()
        assert outcome.logged_out and "credentials" in outcome.detail

    with_edge(body)


def test_a_login_with_another_noise_key_is_refused_as_logged_out() -> None:
    async def body(h: Harness) -> None:
        await h.pair()
        keys = h.keys()
        stored = Credentials.from_bytes((await keys.get(KeyNamespace.CREDS, [CREDS_ID]))[CREDS_ID])
        await keys.put(
            KeyNamespace.CREDS, {CREDS_ID: stored.replace(noise_key=curve.KeyPair.generate()).to_bytes()}
        )
        outcome = await h.start().exit()
        assert outcome.logged_out and "401" in outcome.detail
        assert "noise key" in h.edge.refusals[0]

    with_edge(body)
