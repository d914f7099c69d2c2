"""A temporarily banned web number comes back by itself: the connector (real session runner, real web
engine) meets WhatsApp's `<failure reason=402 code expire>` at the strict fake edge, reports `failed` /
`temporarily_banned` with `expires_at` once, waits until then (plus jitter) holding the lease, and logs
in again; the edge accepts the login once the ban is over."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from tests.connector.conftest import World
from tests.fakes.whatsapp_edge import FakeEdge, FakePhone
from wagate.domain.events import EventType
from wagate.settings import WebSection

PHONE = "15550004444"


def test_a_temporarily_banned_number_logs_in_again_when_the_ban_ends(world: World) -> None:
    async def main() -> None:
        async with FakeEdge() as edge:
            web = WebSection(
                url=edge.url,
                ca_file=edge.ca_file,
                version_url=edge.version_url,
                noise_root=edge.root_public.hex(),
                proxy="none",
            )
            world.settings = world.settings.model_copy(update={"web": web})
            session = world.add_session(provider="web")
            connector = world.connector("c1")
            await connector.start()
            try:
                [qr] = await world.events.wait_for(session, EventType.QR_CODE)
                jid = await FakePhone(edge, PHONE).scan(str(qr.data["qr"]))
                await world.events.wait_for(session, EventType.CONNECTION_SUCCESS)
                edge.temp_ban(jid, 1.5, code="102")
                since = world.events.mark()
                await edge.stream_error(jid, "503")  # the socket drops; the reconnect meets the ban
                [failed] = await world.events.wait_for(session, EventType.SESSION_FAILED, since=since)
                assert failed.data["reason"] == "temporarily_banned" and "102" in failed.data["detail"]
                assert failed.at + 1.5 <= failed.data["expires_at"] <= failed.at + 2.1  # expire="2"
                [back] = await world.events.wait_for(
                    session, EventType.CONNECTION_SUCCESS, since=since, timeout=20
                )
                assert back.at >= failed.data["expires_at"]  # it waited the ban out: one refusal only
                assert len(edge.events_of("temp-ban")) == 1
                assert world.events.of(session, EventType.SESSION_FAILED, since=since) == [failed]
            finally:
                await connector.stop()
        assert edge.violations == [] and edge.unhandled == []

    asyncio.run(main())
