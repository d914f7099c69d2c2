"""Registration, login and QR pairing against Baileys' own code, from keys the test fixes.

- the QR text and both ClientPayloads (registration, login) are byte-equal to Baileys'
  buildPairingQRData / generateRegistrationNode / generateLoginNode;
- a pair-success made by OUR fake phone is accepted by Baileys' configureSuccessfulPairing (and its
  account signature verified by libsignal, since Baileys' own check ignores the verdict); Baileys'
  answer equals ours except for the (randomised) device signature, which we verify;
- a pair-success built with Baileys' primitives (protobufjs, libsignal XEdDSA, Node HMAC) is accepted by
  our `complete_pairing`, and libsignal verifies the device signature in our answer.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.web.binary.codec import encode
from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.binary.payload import decode_payload, encode_payload
from connector.engines.web.creds import Credentials, Me, SignedPreKey
from connector.engines.web.crypto import curve
from connector.engines.web.pairing import complete_pairing, qr_text
from connector.engines.web.payloads import ClientProfile, login_payload, registration_payload
from connector.engines.web.protos import wa
from tests.fakes.whatsapp_edge.phone import adv_identity
from tests.interop.conftest import RunNode

pytestmark = pytest.mark.interop

VERSION = (2, 3000, 1035194821)
REF = "2@f1x3dRefForTheVectorsOnly+/=="
DEVICE_JID = Jid("15551234567", "s.whatsapp.net", 7)
DEVICE_LID = Jid("123456789012345", "lid", 7)


def _key(label: str) -> curve.KeyPair:
    return curve.KeyPair.from_private(hashlib.sha256(f"wagate web vectors/{label}".encode()).digest())


IDENTITY = _key("identity")
SIGNED_PRE_KEY = _key("signed prekey")
ACCOUNT = _key("phone account")
CREDS = Credentials(
    noise_key=_key("noise"),
    identity_key=IDENTITY,
    signed_pre_key=SignedPreKey(
        key_id=1,
        key_pair=SIGNED_PRE_KEY,
        signature=curve.sign(IDENTITY.private, curve.prefixed(SIGNED_PRE_KEY.public), nonce=bytes(64)),
        created_at=1_750_000_000,
    ),
    registration_id=4321,
    adv_secret=hashlib.sha256(b"wagate web vectors/adv secret").digest(),
)
PROFILES = {
    "wagate Chrome": (ClientProfile(VERSION, "wagate", "Chrome"), ["wagate", "Chrome", "1.0"]),
    "Ubuntu Firefox": (ClientProfile(VERSION, "Ubuntu", "Firefox", "DE", "en"), ["Ubuntu", "Firefox", "22"]),
    "Mac OS Desktop full sync": (
        ClientProfile(VERSION, "Mac OS", "Desktop", require_full_sync=True),
        ["Mac OS", "Desktop", "14.4.1"],
    ),
    "Windows Desktop": (ClientProfile(VERSION, "Windows", "Desktop"), ["Windows", "Desktop", "10"]),
}


def _creds_json() -> dict[str, Any]:
    signed = CREDS.signed_pre_key
    return {
        "noise": CREDS.noise_key.private.hex(),
        "identity": CREDS.identity_key.private.hex(),
        "signedPreKey": {
            "id": signed.key_id,
            "private": signed.key_pair.private.hex(),
            "signature": signed.signature.hex(),
        },
        "registrationId": CREDS.registration_id,
        "advSecret": CREDS.adv_secret.hex(),
    }


@functools.cache
def _our_phone_stanza() -> tuple[bytes, bytes]:
    """A pair-success iq from our fake phone for CREDS: (frame payload, the signed identity's details).
    Made once: the account signature's nonce is random, and Baileys and we must see the same stanza."""
    identity = adv_identity(
        account=ACCOUNT,
        raw_id=99,
        key_index=7,
        companion_identity=CREDS.identity_key.public,
        adv_secret=CREDS.adv_secret,
        timestamp=1_750_000_000,
    )
    success = Node(
        "pair-success",
        {},
        [
            Node("device-identity", {}, identity.container),
            Node("platform", {"name": "android"}),
            Node("device", {"jid": DEVICE_JID, "lid": DEVICE_LID}),
        ],
    )
    iq = Node(
        "iq", {"from": SERVER_JID, "type": "set", "id": "pair-1", "xmlns": "md", "t": "1750000000"}, [success]
    )
    return encode_payload(iq), identity.signed.details


@pytest.fixture(scope="module", params=list(PROFILES))
def vectors(request: pytest.FixtureRequest, run_node: RunNode) -> dict[str, Any]:
    profile, browser = PROFILES[request.param]
    stanza, _ = _our_phone_stanza()
    answer: dict[str, Any] = run_node(
        "web_pairing_vectors.mjs",
        {
            "creds": _creds_json(),
            "config": {
                "version": list(VERSION),
                "browser": browser,
                "syncFullHistory": profile.require_full_sync,
                "countryCode": profile.country,
            },
            "ref": REF,
            "loginJid": str(DEVICE_JID),
            "ourPhoneStanza": stanza.hex(),
            "phone": {
                "account": ACCOUNT.private.hex(),
                "rawId": 42,
                "keyIndex": 7,
                "timestamp": 1_750_000_001,
                "jid": str(DEVICE_JID),
                "lid": str(DEVICE_LID),
                "id": "pair-2",
            },
        },
    )
    answer["profile"] = profile
    return answer


def test_qr_text_equals_baileys(vectors: dict[str, Any]) -> None:
    profile: ClientProfile = vectors["profile"]
    assert qr_text(REF, CREDS, profile.qr_client_type) == vectors["qr"]


def test_registration_payload_equals_baileys(vectors: dict[str, Any]) -> None:
    assert registration_payload(CREDS, vectors["profile"]).hex() == vectors["registration"]


def test_login_payload_equals_baileys(vectors: dict[str, Any]) -> None:
    paired = CREDS.replace(me=Me(DEVICE_JID, DEVICE_LID), account=b"\x0a\x00")
    assert login_payload(paired, vectors["profile"]).hex() == vectors["login"]


def test_baileys_accepts_a_pair_success_from_our_phone(vectors: dict[str, Any]) -> None:
    theirs = vectors["baileysPairing"]
    assert "error" not in theirs, theirs
    assert theirs["accountSignatureByLibsignal"] is True
    assert theirs["me"] == {"id": str(DEVICE_JID), "lid": str(DEVICE_LID)}
    assert theirs["platform"] == "android"

    stanza, details = _our_phone_stanza()
    ours = complete_pairing(decode_payload(stanza), CREDS)
    their_reply = decode_payload(bytes.fromhex(theirs["reply"]))
    # Signatures are randomised (libsignal draws a fresh nonce): verify theirs, then compare the rest.
    their_identity, their_signature = _device_identity(their_reply)
    message = b"\x06\x01" + details + CREDS.identity_key.public + ACCOUNT.public
    assert curve.verify(CREDS.identity_key.public, message, their_signature)
    our_identity, our_signature = _device_identity(ours.reply)
    assert curve.verify(CREDS.identity_key.public, message, our_signature)
    assert encode(_without_signature(ours.reply, our_identity)) == encode(
        _without_signature(their_reply, their_identity)
    )


def test_we_accept_a_pair_success_built_with_baileys_primitives(
    vectors: dict[str, Any], run_node: RunNode
) -> None:
    stanza = decode_payload(bytes.fromhex(vectors["phoneStanza"]))
    result = complete_pairing(stanza, CREDS)
    assert result.creds.me == Me(DEVICE_JID, DEVICE_LID, "Wagate Test Shop")
    assert result.creds.platform == "smba"
    stored = wa.ADVSignedDeviceIdentity.FromString(result.creds.account)
    assert stored.accountSignatureKey == ACCOUNT.public and len(stored.deviceSignature) == 64

    check = run_node(
        "web_pairing_vectors.mjs",
        {
            "creds": _creds_json(),
            "config": {
                "version": list(VERSION),
                "browser": ["wagate", "Chrome", "1"],
                "syncFullHistory": False,
            },
            "ref": REF,
            "loginJid": str(DEVICE_JID),
            "checkReply": {
                "reply": encode_payload(result.reply).hex(),
                "accountPublic": ACCOUNT.public.hex(),
                "details": stored.details.hex(),
            },
        },
    )["replyCheck"]
    assert check == {
        "tag": "iq",
        "attrs": {"to": "@s.whatsapp.net", "type": "result", "id": "pair-2"},
        "signTag": "pair-device-sign",
        "keyIndex": "7",
        "hasAccountSignatureKey": False,
        "detailsEqual": True,
        "deviceSignatureByLibsignal": True,
    }


def _device_identity(reply: Node) -> tuple[Node, bytes]:
    sign = reply.find("pair-device-sign")
    assert sign is not None
    identity = sign.find("device-identity")
    assert identity is not None and isinstance(identity.content, bytes)
    return identity, wa.ADVSignedDeviceIdentity.FromString(identity.content).deviceSignature


def _without_signature(reply: Node, identity: Node) -> Node:
    assert isinstance(identity.content, bytes)
    account = wa.ADVSignedDeviceIdentity.FromString(identity.content)
    account.deviceSignature = bytes(64)
    blank = Node(identity.tag, identity.attrs, account.SerializeToString())
    return Node(reply.tag, reply.attrs, [Node("pair-device-sign", {}, [blank])])
