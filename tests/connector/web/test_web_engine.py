"""Our web engine against the strict fake edge: pairing by QR, restart, login, keys kept across a process
restart, logout, replacement, prekeys, keepalive answers, and every way the edge ends a connection."""

from __future__ import annotations

import asyncio

import httpx
import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.base import OutgoingMedia
from connector.engines.errors import NotConnected, SendRejected, Unsupported
from connector.engines.events import Connected, MediaKind, QrCode
from connector.engines.exits import ExitReason, Retry
from connector.engines.keys import KeyNamespace
from connector.engines.web.binary.jid import SERVER_JID
from connector.engines.web.creds import CREDS_ID, Credentials
from connector.engines.web.pairing import QR_PREFIX
from connector.engines.web.version import DEFAULT_WA_VERSION, fetch_current_version
from tests.connector.web.harness import Harness, with_edge
from tests.fakes.tls import local_ca
from tests.fakes.whatsapp_edge import EdgeConfig, parse_qr


def test_pairs_by_qr_restarts_and_logs_in() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair("15550001111")
        stored = Credentials.from_bytes((await h.keys().get(KeyNamespace.CREDS, [CREDS_ID]))[CREDS_ID])
        assert stored.paired and stored.me is not None and stored.me.jid == jid
        device = h.edge.state.device(jid)
        assert device is not None and device.noise_public == stored.noise_key.public

        running = await h.connect()
        connected = await running.wait(Connected)
        assert (connected.phone, connected.jid) == ("+15550001111", "15550001111@s.whatsapp.net")
        assert running.engine.connected
        assert int((await h.edge.wait_for("prekeys", jid=jid)).detail) == h.settings.pre_key_initial
        assert (await h.edge.wait_for("passive", jid=jid)).detail == "active"
        assert len(device.pre_keys) == h.settings.pre_key_initial
        assert device.lid.user and stored.me.lid == device.lid
        outcome = await running.stop()
        assert (outcome.reason, outcome.retry) == (ExitReason.STOPPED, Retry.NEVER)
        assert not running.engine.connected
        assert h.edge.refusals == []

    with_edge(body)


def test_a_restarted_process_logs_in_with_stored_keys_and_no_qr_code() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        first = await h.connect()
        await first.stop()
        second = await h.connect()  # new engine, new KeyStore object over the same stored keys
        assert not any(isinstance(event, QrCode) for event in second.events)
        await h.edge.wait_for("login", jid=jid, count=2)
        # The edge still holds the first upload: nothing more to send.
        assert [e.kind for e in h.edge.events].count("prekeys") == 1
        await second.stop()

    with_edge(body)


def test_qr_codes_rotate_then_expire() -> None:
    async def body(h: Harness) -> None:
        running = h.start()
        codes = [await running.wait(QrCode, n) for n in (1, 2, 3)]
        outcome = await running.exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.QR_TIMEOUT, Retry.NEVER)
        refs = [parse_qr(code.qr).ref for code in codes]
        assert len(set(refs)) == 3 and all(code.qr.startswith(QR_PREFIX) for code in codes)
        session = h.edge.sessions[0]
        assert refs == session.refs
        assert codes[0].expires_at < codes[1].expires_at < codes[2].expires_at

    with_edge(body, EdgeConfig(refs=3), qr_first_seconds=0.3, qr_next_seconds=0.1)


def test_the_edge_ending_pairing_with_408_is_a_qr_timeout() -> None:
    async def body(h: Harness) -> None:
        running = h.start()
        await running.wait(QrCode)
        outcome = await running.exit()
        assert outcome.reason is ExitReason.QR_TIMEOUT and "edge" in outcome.detail

    with_edge(body, EdgeConfig(pairing_seconds=0.3))


def test_logout_unlinks_the_device() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        running = await h.connect()
        await running.engine.logout()
        outcome = await running.exit()
        assert outcome.logged_out and outcome.retry is Retry.NEVER
        await h.edge.wait_for("logout", jid=jid)
        device = h.edge.state.device(jid)
        assert device is not None and device.removed

    with_edge(body)


def test_removed_on_the_phone_while_connected_is_logged_out() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        running = await h.connect()
        await h.edge.remove_device(jid)
        outcome = await running.exit()
        assert outcome.logged_out and outcome.reason is ExitReason.LOGGED_OUT

    with_edge(body)


def test_login_refused_with_401_is_logged_out() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        await h.edge.remove_device(jid)  # unlinked while we were away
        outcome = await h.start().exit()
        assert outcome.logged_out and outcome.retry is Retry.NEVER and "401" in outcome.detail

    with_edge(body)


@pytest.mark.parametrize(
    ("reason", "expected", "retry"),
    [
        (403, ExitReason.LOGGED_OUT, Retry.NEVER),
        (402, ExitReason.TEMPORARILY_BANNED, Retry.NEVER),
        (405, ExitReason.VERSION_REFUSED, Retry.NOW),  # refetch the version and come back at once
        (409, ExitReason.FAILED, Retry.NEVER),
        (503, ExitReason.CONNECTION_LOST, Retry.BACKOFF),
    ],
)
def test_login_failures_on_demand(reason: int, expected: ExitReason, retry: Retry) -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        h.edge.fail_next_login(jid, reason)
        outcome = await h.start().exit()
        assert (outcome.reason, outcome.retry) == (expected, retry), outcome

    with_edge(body)


def test_a_temporary_ban_and_a_ban_are_told_apart_with_why_and_for_how_long() -> None:
    """WhatsApp's 402 carries why (code 102: blocked by many) and for how long (expire, seconds); a 403
    whose text says banned is a ban for good (and the device is gone with the account)."""

    async def body(h: Harness) -> None:
        jid = await h.pair()
        h.edge.fail_next_login(jid, 402, code="102", expire="3600")
        outcome = await h.start().exit()
        assert (outcome.reason, outcome.retry, outcome.logged_out) == (
            ExitReason.TEMPORARILY_BANNED,
            Retry.NEVER,
            False,
        )
        assert outcome.expires_in == 3600 and "blocked" in outcome.detail
        h.edge.fail_next_login(jid, 403, logout_message_header="Your account has been banned")
        outcome = await h.start().exit()
        assert (outcome.reason, outcome.logged_out) == (ExitReason.BANNED, True), outcome

    with_edge(body)


def test_the_version_is_fetched_from_whatsapp_web_over_tls_once_per_process() -> None:
    async def body(h: Harness) -> None:
        h.edge.release((2, 3000, 1040000001))  # newer than the built-in one: only fetching finds it
        jid = await h.pair()
        running = await h.connect()
        login = await h.edge.wait_for("login", jid=jid)
        assert login.session is not None and login.session.client_version == (2, 3000, 1040000001)
        assert [e.detail for e in h.edge.events if e.kind == "version"] == ["2.3000.1040000001"]
        assert h.versions.fetches == 1  # pairing, restart and login shared one answer
        await running.stop()
        assert h.edge.unhandled == [] and h.edge.refusals == []

    with_edge(body)


def test_the_fake_serves_the_version_only_over_tls_and_only_to_browsers() -> None:
    async def body(h: Harness) -> None:
        async with httpx.AsyncClient(verify=local_ca().client_context(), trust_env=False) as client:
            assert (await client.get(h.edge.version_url)).status_code == 403  # no browser headers
            assert await fetch_current_version(client, h.edge.version_url) == DEFAULT_WA_VERSION
        async with httpx.AsyncClient(trust_env=False) as system_store:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await system_store.get(h.edge.version_url)

    with_edge(body)


def test_a_new_whatsapp_release_refuses_us_with_405_and_we_come_back_with_its_version() -> None:
    """The edge moves on while we are away: the cached version is refused (405) exactly as WhatsApp does;
    the engine asks for a restart now (never `failed`), fetches the new version, and logs in with it."""

    async def body(h: Harness) -> None:
        jid = await h.pair()
        await (await h.connect()).stop()
        h.edge.release((2, 3000, 1040000002))
        refused = await h.start().exit()
        assert (refused.reason, refused.retry) == (ExitReason.VERSION_REFUSED, Retry.NOW), refused
        assert "refused version 2.3000.1035194821 (405)" in refused.detail
        assert h.edge.refusals and "405" in h.edge.refusals[-1]
        running = await h.connect()
        login = await h.edge.wait_for("login", jid=jid, count=2)
        assert login.session is not None and login.session.client_version == (2, 3000, 1040000002)
        assert h.versions.fetches == 2
        await running.stop()

    with_edge(body)


def test_a_pinned_version_whatsapp_refuses_gives_way_to_the_current_one() -> None:
    async def body(h: Harness) -> None:
        h.edge.release((2, 3000, 1040000003))
        versions = h.settings.model_copy(update={"wa_version": (2, 2400, 1)}).version_source()
        h.versions = versions
        refused = await h.start().exit()  # the pin is claimed without asking WhatsApp
        assert refused.retry is Retry.NOW and "2.2400.1" in refused.detail and versions.fetches == 0
        qr = await h.start().wait(QrCode)  # the registration now claims the fetched version
        assert qr.qr and versions.fetches == 1
        assert h.edge.sessions[-1].client_version == (2, 3000, 1040000003)

    with_edge(body)


def test_the_version_falls_back_when_whatsapp_web_cannot_be_asked() -> None:
    async def body(h: Harness) -> None:
        h.versions = h.settings.model_copy(
            update={"wa_version_url": "https://localhost:9/sw.js"}
        ).version_source()
        await h.pair()  # nothing listens there: the built-in version, which this edge still accepts
        assert h.versions.fetches == 1 and h.edge.sessions[0].client_version == DEFAULT_WA_VERSION

    with_edge(body)


def test_another_connection_for_the_device_replaces_this_one() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        first = await h.connect()
        second = await h.connect()  # the same device, e.g. a second connector that took over
        outcome = await first.exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.REPLACED, Retry.NEVER)
        assert h.edge.live[jid].device is not None
        assert second.engine.connected
        await second.stop()

    with_edge(body)


def test_restart_on_demand_and_a_server_error_backs_off() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        running = await h.connect()
        await h.edge.stream_error(jid, "515")
        assert (await running.exit()).retry is Retry.NOW
        running = await h.connect()
        await h.edge.stream_error(jid, "503")
        outcome = await running.exit()
        assert (outcome.reason, outcome.retry) == (ExitReason.CONNECTION_LOST, Retry.BACKOFF)

    with_edge(body)


def test_prekeys_are_topped_up_when_the_edge_runs_low() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        running = await h.connect()
        await h.edge.wait_for("prekeys", jid=jid)
        await h.edge.prekey_low(jid, 2)
        assert (await h.edge.wait_for("ack", jid=jid)).detail == "encrypt"
        top_up = await h.edge.wait_for("prekeys", jid=jid, count=2)
        assert int(top_up.detail) == h.settings.pre_key_batch
        await running.stop()

    with_edge(body)


def test_the_signed_prekey_is_rotated_when_due() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        await asyncio.sleep(0.05)  # older than the (tiny) rotation period
        running = await h.connect()
        rotated = await h.edge.wait_for("rotate", jid=jid)
        stored = Credentials.from_bytes((await h.keys().get(KeyNamespace.CREDS, [CREDS_ID]))[CREDS_ID])
        assert str(stored.signed_pre_key.key_id) == rotated.detail == "2"
        assert stored.signed_pre_key.published and stored.previous_signed_pre_key is not None
        device = h.edge.state.device(jid)
        assert device is not None and device.signed_pre_key.public == stored.signed_pre_key.key_pair.public
        await running.stop()

    with_edge(body, signed_pre_key_days=0.01 / 86400)


def test_routing_info_from_the_edge_is_sent_back_on_the_next_connection() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        running = await h.connect()
        assert (await h.edge.wait_for("login", jid=jid)).detail == ""
        await h.edge.send_routing_info(jid, b"\x08\x02\x08\x05")
        await h.edge.ping(jid)  # answered after the ib before it was handled
        await running.stop()
        stored = Credentials.from_bytes((await h.keys().get(KeyNamespace.CREDS, [CREDS_ID]))[CREDS_ID])
        assert stored.routing_info == b"\x08\x02\x08\x05"
        running = await h.connect()
        assert (await h.edge.wait_for("login", jid=jid, count=2)).detail == "routing 08020805"
        await running.stop()

    with_edge(body)


def test_answers_the_edge_s_pings() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        running = await h.connect()
        answer = await h.edge.ping(jid)
        assert answer.str_attr("type") == "result" and answer.attrs.get("to") == SERVER_JID
        await running.stop()

    with_edge(body)


def test_keepalive_pings_reach_the_edge() -> None:
    async def body(h: Harness) -> None:
        jid = await h.pair()
        running = await h.connect()
        await h.edge.wait_for("ping", jid=jid, count=2)
        assert running.engine.connected
        await running.stop()

    with_edge(body, keepalive_seconds=0.1, keepalive_grace_seconds=5)


def test_sending_needs_a_connection_a_known_number_and_a_file() -> None:
    async def body(h: Harness) -> None:
        await h.pair()
        running = h.start()
        with pytest.raises(NotConnected):
            await running.engine.send_text("+15550002222", "hi", "msg_1")
        await running.wait(Connected)
        with pytest.raises(SendRejected) as rejected:
            await running.engine.send_text("+15550002222", "hi", "msg_1")  # nobody has this number
        assert rejected.value.code == "not_on_whatsapp" and not rejected.value.is_transient
        media = OutgoingMedia(MediaKind.IMAGE, "image/png", url="https://cdn.example/x.png")
        with pytest.raises(Unsupported) as unsupported:  # the web engine sends stored files, not URLs
            await running.engine.send_media("+15550002222", media, "msg_2")
        assert unsupported.value.code == "media_url_not_supported"
        assert await running.engine.list_groups() == []
        await running.stop()

    with_edge(body)


def test_stop_before_run_and_during_connect() -> None:
    async def body(h: Harness) -> None:
        running = h.start()
        await running.engine.stop()
        assert (await running.exit()).reason is ExitReason.STOPPED
        # An edge that accepts TCP and then says nothing: stop() must not wait for the connect timeout.
        accepted: list[asyncio.StreamWriter] = []
        silent = await asyncio.start_server(lambda _, writer: accepted.append(writer), "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        stuck = h.start(url=f"wss://127.0.0.1:{port}/ws/chat", connect_timeout_seconds=60)
        while not accepted:
            await asyncio.sleep(0.01)
        assert (await stuck.stop()).reason is ExitReason.STOPPED
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()

    with_edge(body)
