"""QR pairing, sans-I/O: pairing refs → QR texts, and the checks and answer for `pair-success`.

    edge → <iq type=set xmlns=md><pair-device><ref>…</ref>…</pair-device></iq>   we ack, show one QR per ref
    phone scans  `https://wa.me/settings/linked_devices#ref,noise,identity,adv,client-type` (base64 keys)
    edge → <iq type=set><pair-success><device-identity/><device jid lid/><platform/><biz?/></pair-success>
    we   check HMAC-SHA256(adv secret, [0x06 0x05 if hosted] + details), decode ADVSignedDeviceIdentity,
         verify the account's XEdDSA signature over 06 00 + details + our identity key (06 05 if hosted),
         sign 06 01 + details + our identity key + account key with our identity key, and answer
         <iq type=result><pair-device-sign><device-identity key-index=…>identity without the account
         key</device-identity></pair-device-sign></iq>; the edge then ends the stream with 515 (restart).

A check that fails is answered with `<iq type=error><error code=… text=…/></iq>` (hmac-mismatch,
signature-mismatch, as WhatsApp Web does) and raises PairingError; nothing is stored.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from typing import Final, TypeVar

from connector.engines.web.binary.jid import LID_SERVER, SERVER_JID, USER_SERVER, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.creds import Credentials, Me
from connector.engines.web.crypto import curve
from connector.engines.web.errors import PairingError, ProtocolError
from connector.engines.web.protos import parse, serialize, wa

QR_PREFIX: Final = "https://wa.me/settings/linked_devices#"

ADV_ACCOUNT_SIGNATURE_PREFIX: Final = b"\x06\x00"
ADV_DEVICE_SIGNATURE_PREFIX: Final = b"\x06\x01"
ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX: Final = b"\x06\x05"

MAX_REFS: Final = 32  # real edges send six; more is a broken or hostile edge

M = TypeVar("M")


def qr_text(ref: str, creds: Credentials, client_type: str) -> str:
    """What the QR code encodes for pairing ref `ref`: the phone learns our keys and ADV secret from it."""
    parts = (
        ref,
        base64.b64encode(creds.noise_key.public).decode(),
        base64.b64encode(creds.identity_key.public).decode(),
        base64.b64encode(creds.adv_secret).decode(),
        client_type,
    )
    return QR_PREFIX + ",".join(parts)


def pairing_refs(iq: Node) -> list[str]:
    """The refs of a `pair-device` iq, in order. Raises ProtocolError if there are none or they are odd."""
    pair_device = iq.find("pair-device")
    if pair_device is None:
        raise ProtocolError("pair-device iq without a <pair-device> child")
    refs: list[str] = []
    for child in pair_device.findall("ref"):
        raw = child.content_bytes()
        if not raw:
            raise ProtocolError("pair-device <ref> without content")
        try:
            ref = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ProtocolError("pair-device <ref> is not ASCII text") from exc
        if "," in ref or not ref.isprintable():
            raise ProtocolError("pair-device <ref> would break the QR text")
        refs.append(ref)
    if not refs or len(refs) > MAX_REFS:
        raise ProtocolError(f"pair-device carries {len(refs)} refs")
    return refs


@dataclass(frozen=True, slots=True)
class PairingResult:
    creds: Credentials  # with me, account and platform set: save before answering
    reply: Node  # the pair-device-sign answer
    business_name: str | None


def complete_pairing(iq: Node, creds: Credentials) -> PairingResult:
    """Check a `pair-success` iq against our keys and build the signed answer.

    Raises PairingError (details: the `code` and `text` to answer with) when a check fails, ProtocolError
    when the stanza lacks an id.
    """
    iq_id = iq.str_attr("id")
    if not iq_id:
        raise ProtocolError("pair-success iq without an id")
    success = iq.find("pair-success")
    identity_node = success.find("device-identity") if success is not None else None
    device = success.find("device") if success is not None else None
    container_bytes = identity_node.content_bytes() if identity_node is not None else None
    if success is None or device is None or not container_bytes:
        raise _refuse(500, "internal-error", "pair-success lacks <device-identity> or <device>")
    me = _me(device, success)

    container = _parse(wa.ADVSignedDeviceIdentityHMAC, container_bytes, "device identity container")
    hmac_prefix = ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX if container.accountType == wa.HOSTED else b""
    expected = hmac.digest(creds.adv_secret, hmac_prefix + container.details, "sha256")
    if not container.HasField("hmac") or not hmac.compare_digest(expected, container.hmac):
        raise _refuse(401, "hmac-mismatch", "the device identity's HMAC does not match our ADV secret")

    account = _parse(wa.ADVSignedDeviceIdentity, container.details, "signed device identity")
    details = _parse(wa.ADVDeviceIdentity, account.details, "device identity details")
    account_key = account.accountSignatureKey
    if len(account_key) != curve.KEY_SIZE or len(account.accountSignature) != curve.SIGNATURE_SIZE:
        raise _refuse(401, "signature-mismatch", "the account signature or its key is missing")
    hosted = details.deviceType == wa.HOSTED
    account_prefix = ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX if hosted else ADV_ACCOUNT_SIGNATURE_PREFIX
    signed_by_account = account_prefix + account.details + creds.identity_key.public
    if not curve.verify(account_key, signed_by_account, account.accountSignature):
        raise _refuse(401, "signature-mismatch", "the account signature over our identity key is not valid")

    device_message = ADV_DEVICE_SIGNATURE_PREFIX + account.details + creds.identity_key.public + account_key
    account.deviceSignature = curve.sign(creds.identity_key.private, device_message)
    stored = serialize(account)
    account.ClearField("accountSignatureKey")  # the edge knows the account key; it wants ours signed
    reply = Node(
        "iq",
        {"to": SERVER_JID, "type": "result", "id": iq_id},
        [
            Node(
                "pair-device-sign",
                {},
                [Node("device-identity", {"key-index": str(details.keyIndex)}, serialize(account))],
            )
        ],
    )
    platform = success.find("platform")
    business = success.find("biz")
    business_name = business.str_attr("name") if business is not None else None
    paired = creds.replace(
        me=Me(jid=me.jid, lid=me.lid, name=business_name),
        account=stored,
        platform=platform.str_attr("name") if platform is not None else None,
    )
    return PairingResult(creds=paired, reply=reply, business_name=business_name)


def pairing_error_reply(iq_id: str, code: int, text: str) -> Node:
    """How a device refuses a pair-success it cannot accept."""
    error = Node("error", {"code": str(code), "text": text})
    return Node("iq", {"to": SERVER_JID, "type": "error", "id": iq_id}, [error])


def _me(device: Node, success: Node) -> Me:
    try:
        jid, lid = device.jid_attr("jid"), device.jid_attr("lid")
    except ValueError as exc:
        raise _refuse(500, "internal-error", f"pair-success <device> has a malformed jid: {exc}") from exc
    if jid is None or jid.server != USER_SERVER or not jid.user.isdigit() or not jid.device:
        raise _refuse(500, "internal-error", f"pair-success names no companion device jid: {jid}")
    if lid is not None and (lid.server != LID_SERVER or not lid.user):
        raise _refuse(500, "internal-error", f"pair-success names a malformed lid: {lid}")
    return Me(jid=Jid(jid.user, USER_SERVER, jid.device), lid=lid)


def _parse(message_type: type[M], data: bytes, what: str) -> M:
    try:
        return parse(message_type, data, what)
    except ProtocolError as exc:
        raise _refuse(500, "internal-error", str(exc)) from exc


def _refuse(code: int, text: str, message: str) -> PairingError:
    return PairingError(f"pairing refused ({text}): {message}", details={"code": code, "text": text})
