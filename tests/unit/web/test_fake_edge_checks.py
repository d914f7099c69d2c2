"""The fake edge refuses what a real client must never send: each mutation of a good ClientPayload or iq
is refused with the failure a client would see. (That it accepts the real thing is proven by Baileys
pairing and logging in through it: tests/interop/test_baileys_fake_edge.py.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.creds import Credentials, Me
from connector.engines.web.payloads import ClientProfile, login_payload, registration_payload
from connector.engines.web.protos import wa
from tests.fakes.whatsapp_edge.checks import (
    Refused,
    check_iq,
    check_login,
    check_registration,
    parse_client_payload,
)

MIN_VERSION = (2, 3000, 0)
CREDS = Credentials.generate(1_750_000_000)
PROFILE = ClientProfile((2, 3000, 1035194821))
PAIRED = CREDS.replace(me=Me(Jid("15551234567", "s.whatsapp.net", 2)), account=b"\x0a\x00")

Mutation = Callable[[Any], None]


def _set(path: str, value: object) -> Mutation:
    def mutate(payload: Any) -> None:
        *parents, name = path.split(".")
        target = payload
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, name, value)

    return mutate


def _clear(path: str) -> Mutation:
    def mutate(payload: Any) -> None:
        *parents, name = path.split(".")
        target = payload
        for parent in parents:
            target = getattr(target, parent)
        target.ClearField(name)

    return mutate


def _build_hash_of_another_version(payload: Any) -> None:
    payload.userAgent.appVersion.tertiary += 1


REGISTRATION_MUTATIONS: dict[str, tuple[Mutation, int]] = {
    "no user agent": (_clear("userAgent"), 409),
    "not the web platform": (_set("userAgent.platform", wa.ClientPayload.UserAgent.ANDROID), 409),
    "no release channel": (_clear("userAgent.releaseChannel"), 409),
    "odd locale": (_set("userAgent.localeCountryIso31661Alpha2", "USA"), 409),
    "no web sub-platform": (_clear("webInfo"), 409),
    "no connect reason": (_clear("connectReason"), 400),
    "passive": (_set("passive", True), 400),
    "with a username": (_set("username", 15551234567), 400),
    "short identity": (_set("devicePairingData.eIdent", bytes(31)), 400),
    "wrong key type": (_set("devicePairingData.eKeytype", b"\x04"), 400),
    "forged prekey signature": (_set("devicePairingData.eSkeySig", bytes(64)), 400),
    "build hash of another version": (_build_hash_of_another_version, 400),
    "garbage device props": (_set("devicePairingData.deviceProps", b"\xff\xff"), 400),
    "no device props": (_set("devicePairingData.deviceProps", b""), 400),
    "registration id over 14 bits": (_set("devicePairingData.eRegid", (1 << 14).to_bytes(4, "big")), 400),
}


def test_a_good_registration_passes() -> None:
    check_registration(parse_client_payload(registration_payload(CREDS, PROFILE)), MIN_VERSION)


@pytest.mark.parametrize("name", list(REGISTRATION_MUTATIONS))
def test_a_bad_registration_is_refused(name: str) -> None:
    mutate, reason = REGISTRATION_MUTATIONS[name]
    payload = parse_client_payload(registration_payload(CREDS, PROFILE))
    mutate(payload)
    with pytest.raises(Refused) as refused:
        check_registration(payload, MIN_VERSION)
    assert refused.value.reason == reason


LOGIN_MUTATIONS: dict[str, tuple[Mutation, int]] = {
    "not passive": (_set("passive", False), 400),
    "no pull": (_set("pull", False), 400),
    "no device": (_clear("device"), 400),
    "pairing data too": (_set("devicePairingData.eRegid", b"\x00\x00\x00\x01"), 400),
}


@pytest.mark.parametrize("name", list(LOGIN_MUTATIONS))
def test_a_bad_login_is_refused(name: str) -> None:
    mutate, reason = LOGIN_MUTATIONS[name]
    payload = parse_client_payload(login_payload(PAIRED, PROFILE))
    check_login(payload, MIN_VERSION)
    mutate(payload)
    with pytest.raises(Refused) as refused:
        check_login(payload, MIN_VERSION)
    assert refused.value.reason == reason


def test_an_outdated_version_and_garbage_are_refused() -> None:
    payload = parse_client_payload(login_payload(PAIRED, ClientProfile((2, 2999, 9))))
    with pytest.raises(Refused, match="older"):
        check_login(payload, MIN_VERSION)
    with pytest.raises(Refused):
        parse_client_payload(b"\xff\xff\xff")


@pytest.mark.parametrize(
    "node",
    [
        Node("iq", {"type": "get", "to": SERVER_JID, "xmlns": "w:p"}),  # no id
        Node("iq", {"id": "1", "type": "fetch", "to": SERVER_JID, "xmlns": "w:p"}),
        Node("iq", {"id": "1", "type": "get", "to": "s.whatsapp.net", "xmlns": "w:p"}),  # text, not a JID
        Node("iq", {"id": "1", "type": "get", "to": Jid("1", "s.whatsapp.net"), "xmlns": "w:p"}),
        Node("iq", {"id": "1", "type": "set", "to": SERVER_JID}),  # no xmlns
    ],
    ids=["no id", "odd type", "text to", "to a user", "no xmlns"],
)
def test_malformed_iqs_are_refused(node: Node) -> None:
    with pytest.raises(Refused):
        check_iq(node)
    assert check_iq(Node("iq", {"id": "1", "type": "result", "to": SERVER_JID})) == "result"
