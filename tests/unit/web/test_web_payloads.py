"""ClientPayloads (checked by the fake edge's strict checks too), the QR client type, the version from
configuration or from web.whatsapp.com, and the settings read from the environment."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.web.binary.jid import Jid
from connector.engines.web.creds import Credentials, Me
from connector.engines.web.errors import CredentialsError
from connector.engines.web.noise import WHATSAPP_ROOT_PUBLIC_KEY
from connector.engines.web.payloads import ClientProfile, login_payload, registration_payload
from connector.engines.web.protos import wa
from connector.engines.web.settings import WebSettings
from connector.engines.web.version import (
    DEFAULT_WA_VERSION,
    VersionSource,
    fetch_current_version,
    format_version,
    parse_version,
    revision_from_service_worker,
)
from tests.fakes.whatsapp_edge.checks import check_login, check_registration, parse_client_payload
from wagate.settings import SettingsError

PROFILE = ClientProfile(
    (2, 3000, 1023456789), device_name="wagate", browser="Firefox", country="BR", language="pt"
)
CREDS = Credentials.generate(1_750_000_000)


def test_registration_payload_carries_the_pairing_data_and_passes_the_edge_checks() -> None:
    payload = parse_client_payload(registration_payload(CREDS, PROFILE))
    checked = check_registration(payload, (2, 3000, 0))
    assert checked.identity_public == CREDS.identity_key.public
    assert checked.registration_id == CREDS.registration_id
    assert checked.signed_pre_key.public == CREDS.signed_pre_key.key_pair.public
    assert (checked.device_os, checked.platform_type) == ("wagate", wa.DeviceProps.FIREFOX)
    data = payload.devicePairingData
    assert data.buildHash == hashlib.md5(b"2.3000.1023456789").digest()
    assert payload.userAgent.localeCountryIso31661Alpha2 == "BR" and not payload.pull
    props = wa.DeviceProps.FromString(data.deviceProps)
    assert not props.requireFullSync and props.historySyncConfig.storageQuotaMb == 10240


def test_login_payload_names_the_device_and_passes_the_edge_checks() -> None:
    paired = CREDS.replace(me=Me(Jid("5511987654321", "s.whatsapp.net", 12)), account=b"\x0a\x00")
    payload = parse_client_payload(login_payload(paired, PROFILE))
    assert check_login(payload, (2, 3000, 0)).jid == Jid("5511987654321", "s.whatsapp.net", 12)
    assert payload.passive and payload.pull and not payload.HasField("devicePairingData")


def test_login_needs_paired_credentials() -> None:
    with pytest.raises(CredentialsError):
        login_payload(CREDS, PROFILE)


@pytest.mark.parametrize(
    ("browser", "device_name", "client_type"),
    [
        ("Chrome", "x", "1"),
        ("Edge", "x", "2"),
        ("Safari", "x", "6"),
        ("Desktop", "Mac OS", "7"),
        ("Desktop", "Windows", "8"),
    ],
)
def test_qr_client_type(browser: str, device_name: str, client_type: str) -> None:
    assert ClientProfile(DEFAULT_WA_VERSION, device_name, browser).qr_client_type == client_type


def test_versions_parse_and_format() -> None:
    assert parse_version(" 2.3000.1035194821 ") == (2, 3000, 1035194821)
    assert format_version((2, 3000, 7)) == "2.3000.7"
    for bad in ("2.3000", "2.3000.x", "v2.3000.1", "2.3000.99999999999"):
        with pytest.raises(ValueError):
            parse_version(bad)


def test_the_current_version_comes_from_the_service_worker() -> None:
    script = b'self.x={};/*...*/{\\"client_revision\\":1029384756,\\"other\\":1}'
    assert revision_from_service_worker(script) == (2, 3000, 1029384756)
    with pytest.raises(ValueError):
        revision_from_service_worker(b"nothing here")

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/sw.js"
        return httpx.Response(200, content=b'"client_revision": 1011121314')

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            assert await fetch_current_version(client) == (2, 3000, 1011121314)

    asyncio.run(main())


def test_settings_from_the_environment() -> None:
    root = bytes(range(32))
    settings = WebSettings.from_env(
        {
            "WAGATE_WA_VERSION": "2.3000.1099999999",
            "WAGATE_WA_URL": "wss://localhost:9/ws/chat",
            "WAGATE_WA_CA_FILE": "/etc/wagate/proxy-ca.pem",
            "WAGATE_WA_NOISE_ROOT": root.hex(),
            "WAGATE_WA_PROXY": "none",
            "WAGATE_WA_DEVICE_NAME": "Acme CRM",
            "WAGATE_WA_BROWSER": "Safari",
        }
    )
    assert settings.wa_version == (2, 3000, 1099999999) and settings.noise_root_key == root
    assert settings.socket_config().proxy is None and settings.socket_config().url.startswith("wss://")
    assert settings.socket_config().ca_file == "/etc/wagate/proxy-ca.pem"
    assert settings.trust().root_public_key == root
    defaults = WebSettings.from_env({})
    assert defaults.noise_root_key == WHATSAPP_ROOT_PUBLIC_KEY and defaults.socket_config().proxy is True
    assert ClientProfile.from_settings(settings, DEFAULT_WA_VERSION).device_name == "Acme CRM"
    for bad in (
        {"WAGATE_WA_VERSION": "latest"},
        {"WAGATE_WA_NOISE_ROOT": "abcd"},
        {"WAGATE_WA_BROWSER": "Lynx"},
        {"WAGATE_WA_URL": "ws://web.whatsapp.com/ws/chat"},  # the edge is TLS only
    ):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            WebSettings.from_env(bad)


class SwScript:
    """WhatsApp Web's sw.js over httpx.MockTransport: announces `revision`, or fails with `status`."""

    def __init__(self) -> None:
        self.revision = 1040000000
        self.status = 200
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = f'self.__swData=JSON.parse("{{\\"client_revision\\":{self.revision}}}");'
        return httpx.Response(self.status, text=body)


def _source(script: SwScript, now: list[float], **options: Any) -> VersionSource:
    return VersionSource(transport=httpx.MockTransport(script), clock=lambda: now[0], **options)


def test_the_version_source_fetches_once_for_many_sessions_and_caches() -> None:
    script, now = SwScript(), [0.0]
    source = _source(script, now, cache_seconds=100)

    async def main() -> None:
        versions = await asyncio.gather(*(source.current() for _ in range(50)))
        assert set(versions) == {(2, 3000, 1040000000)} and len(script.requests) == 1
        request = script.requests[0]
        assert request.headers["sec-fetch-site"] == "none" and "Mozilla/5.0" in request.headers["user-agent"]
        script.revision = 1040000001
        now[0] = 99
        assert await source.current() == (2, 3000, 1040000000)  # still cached
        now[0] = 101
        assert await source.current() == (2, 3000, 1040000001) and source.fetches == 2

    asyncio.run(main())


def test_the_version_source_falls_back_and_does_not_hammer_when_whatsapp_fails() -> None:
    script, now = SwScript(), [0.0]
    script.status = 503
    source = _source(script, now, refetch_seconds=60)

    async def main() -> None:
        assert await source.current() == DEFAULT_WA_VERSION
        assert await source.current() == DEFAULT_WA_VERSION and source.fetches == 1  # not again at once
        script.status = 200
        now[0] = 61
        assert await source.current() == (2, 3000, 1040000000) and source.fetches == 2
        script.status, now[0] = 503, 10_000_000  # the cache expired and WhatsApp fails: the last known
        assert await source.current() == (2, 3000, 1040000000)

    asyncio.run(main())


def test_a_405_makes_the_version_source_ask_again_at_once_but_only_once() -> None:
    script, now = SwScript(), [0.0]
    source = _source(script, now)

    async def main() -> None:
        old = await source.current()
        script.revision = 1040000009
        for _ in range(20):  # every session of the process is refused with the same version
            source.refused(old)
        assert await asyncio.gather(*(source.current() for _ in range(20))) == [(2, 3000, 1040000009)] * 20
        assert source.fetches == 2

    asyncio.run(main())


def test_a_pin_is_claimed_without_asking_until_whatsapp_refuses_it() -> None:
    script, now = SwScript(), [0.0]
    source = _source(script, now, pinned=(2, 3000, 1))

    async def main() -> None:
        assert await source.current() == (2, 3000, 1) and source.fetches == 0
        source.refused((2, 3000, 1))
        assert await source.current() == (2, 3000, 1040000000) and source.fetches == 1

    asyncio.run(main())
