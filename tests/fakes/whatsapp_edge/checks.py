"""The fake edge's strictness: what a real client must send, checked field by field, and refused otherwise.

Every check raises `Refused(reason, text)`: `reason` is the `<failure reason=…>` the edge answers with
(400 malformed, 405 outdated version, 409 bad user agent), `text` says exactly what was wrong, and the
edge records it, so a test can assert a client sent nothing the edge had to refuse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from connector.engines.web.binary.jid import GROUP_SERVER, SERVER_JID, USER_SERVER, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.crypto import curve
from connector.engines.web.protos import wa
from tests.fakes.whatsapp_edge.state import SignedKey

IQ_TYPES = frozenset({"get", "set", "result", "error"})
MAX_REGISTRATION_ID = 16383  # 14 bits, as libsignal generates them


class Refused(Exception):
    def __init__(self, reason: int, text: str, attrs: dict[str, str] | None = None) -> None:
        super().__init__(f"{reason}: {text}")
        self.reason = reason
        self.text = text
        self.attrs = attrs or {}  # more `<failure>` attributes (a temporary ban's code and expire)


@dataclass(frozen=True, slots=True)
class Registration:
    """A registration payload, checked: what pairing needs to remember about the new device."""

    registration_id: int
    identity_public: bytes
    signed_pre_key: SignedKey
    device_os: str
    platform_type: int
    version: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Login:
    jid: Jid
    version: tuple[int, int, int]


def parse_client_payload(data: bytes) -> wa.ClientPayload:
    payload = wa.ClientPayload()
    try:
        payload.ParseFromString(data)
    except DecodeError as exc:
        raise Refused(400, f"ClientPayload does not decode: {exc}") from exc
    return payload


def check_user_agent(payload: wa.ClientPayload, min_version: tuple[int, int, int]) -> tuple[int, int, int]:
    """A web client's user agent: platform WEB, full version, release channel, locale. Returns the version."""
    if not payload.HasField("userAgent"):
        raise Refused(409, "ClientPayload has no userAgent")
    agent = payload.userAgent
    if not agent.HasField("platform") or agent.platform != wa.ClientPayload.UserAgent.WEB:
        raise Refused(409, f"userAgent.platform must be WEB, got {agent.platform}")
    version_fields = ("primary", "secondary", "tertiary")
    if not all(agent.appVersion.HasField(name) for name in version_fields):
        raise Refused(409, "userAgent.appVersion needs primary, secondary and tertiary")
    version = (agent.appVersion.primary, agent.appVersion.secondary, agent.appVersion.tertiary)
    for name in ("mcc", "mnc", "osVersion", "device", "osBuildNumber", "releaseChannel"):
        if not agent.HasField(name):
            raise Refused(409, f"userAgent.{name} is missing")
    if len(agent.localeLanguageIso6391) != 2 or len(agent.localeCountryIso31661Alpha2) != 2:
        raise Refused(409, "userAgent locale (language, country) must be two-letter codes")
    if not payload.webInfo.HasField("webSubPlatform"):
        raise Refused(409, "webInfo.webSubPlatform is missing")
    if not payload.HasField("connectType") or not payload.HasField("connectReason"):
        raise Refused(400, "connectType and connectReason are required")
    if version < min_version:
        raise Refused(405, f"client version {version} is older than {min_version}")
    return version


def check_registration(payload: wa.ClientPayload, min_version: tuple[int, int, int]) -> Registration:
    version = check_user_agent(payload, min_version)
    if payload.HasField("username") or payload.HasField("device"):
        raise Refused(400, "a registration carries no username or device")
    if not payload.HasField("passive") or payload.passive:
        raise Refused(400, "a registration must say passive=false")
    if not payload.HasField("devicePairingData"):
        raise Refused(400, "a registration needs devicePairingData")
    data = payload.devicePairingData
    sizes = {
        "eRegid": 4,
        "eKeytype": 1,
        "eIdent": 32,
        "eSkeyId": 3,
        "eSkeyVal": 32,
        "eSkeySig": 64,
        "buildHash": 16,
    }
    for name, size in sizes.items():
        if len(getattr(data, name)) != size:
            raise Refused(
                400, f"devicePairingData.{name} must be {size} bytes, got {len(getattr(data, name))}"
            )
    if data.eKeytype != b"\x05":
        raise Refused(400, "devicePairingData.eKeytype must be 0x05 (Curve25519)")
    registration_id = int.from_bytes(data.eRegid, "big")
    if registration_id > MAX_REGISTRATION_ID:
        raise Refused(400, f"registration id {registration_id} is over 14 bits")
    if not curve.verify(data.eIdent, b"\x05" + data.eSkeyVal, data.eSkeySig):
        raise Refused(400, "the signed prekey's signature does not verify with the identity key")
    version_text = ".".join(str(part) for part in version).encode()
    if data.buildHash != hashlib.md5(version_text, usedforsecurity=False).digest():
        raise Refused(400, "buildHash is not the MD5 of the version text")
    props = wa.DeviceProps()
    try:
        props.ParseFromString(data.deviceProps)
    except DecodeError as exc:
        raise Refused(400, f"deviceProps does not decode: {exc}") from exc
    if not props.os or not props.HasField("platformType") or not props.HasField("version"):
        raise Refused(400, "deviceProps needs os, platformType and version")
    return Registration(
        registration_id=registration_id,
        identity_public=data.eIdent,
        signed_pre_key=SignedKey(int.from_bytes(data.eSkeyId, "big"), data.eSkeyVal, data.eSkeySig),
        device_os=props.os,
        platform_type=props.platformType,
        version=version,
    )


def check_login(payload: wa.ClientPayload, min_version: tuple[int, int, int]) -> Login:
    version = check_user_agent(payload, min_version)
    if payload.HasField("devicePairingData"):
        raise Refused(400, "a login carries no devicePairingData")
    if not payload.HasField("username") or not payload.HasField("device") or payload.username <= 0:
        raise Refused(400, "a login needs username and device")
    if not (payload.passive and payload.pull):
        raise Refused(400, "a login must say passive=true and pull=true")
    return Login(Jid(str(payload.username), USER_SERVER, payload.device), version)


def check_iq(node: Node) -> str:
    """An iq a client sends: id, a known type, addressed to the server JID, get/set with xmlns. Returns the
    type."""
    if not node.str_attr("id"):
        raise Refused(400, f"iq without an id: {node}")
    kind = node.str_attr("type") or ""
    if kind not in IQ_TYPES:
        raise Refused(400, f"iq of unknown type {kind!r}")
    to = node.attrs.get("to")
    groups = node.str_attr("xmlns") == "w:g2" and isinstance(to, Jid) and to.server == GROUP_SERVER
    if not isinstance(to, Jid) or (to != SERVER_JID and not groups):
        raise Refused(400, f"iq must be addressed to the server JID (a JID pair; w:g2: @g.us), got {to!r}")
    if kind in ("get", "set") and not node.str_attr("xmlns"):
        raise Refused(400, "a get/set iq needs an xmlns")
    return kind


def child_bytes(node: Node, tag: str, size: int | None = None) -> bytes:
    child = node.find(tag)
    data = child.content_bytes() if child is not None else None
    if data is None or (size is not None and len(data) != size):
        expected = f"{size} bytes" if size is not None else "bytes"
        raise Refused(400, f"<{node.tag}> needs <{tag}> with {expected}")
    return data


def check_signed_pre_key(node: Node, identity_public: bytes) -> SignedKey:
    key = SignedKey(
        int.from_bytes(child_bytes(node, "id", 3), "big"),
        child_bytes(node, "value", 32),
        child_bytes(node, "signature", 64),
    )
    if not curve.verify(identity_public, b"\x05" + key.public, key.signature):
        raise Refused(400, "signed prekey signature does not verify with the device identity key")
    return key
