"""QR pairing, sans-I/O: refs, QR text, and every check of pair-success (fuzzed: a hostile stanza is a
PairingError or ProtocolError, never another exception)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.web.binary.jid import SERVER_JID, Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.creds import Credentials, Me
from connector.engines.web.crypto import curve
from connector.engines.web.errors import PairingError, ProtocolError
from connector.engines.web.pairing import (
    QR_PREFIX,
    complete_pairing,
    pairing_error_reply,
    pairing_refs,
    qr_text,
)
from connector.engines.web.protos import wa
from tests.fakes.whatsapp_edge.phone import adv_identity, parse_qr

CREDS = Credentials.generate(1_750_000_000)
ACCOUNT = curve.KeyPair.generate()
JID = Jid("15551234567", "s.whatsapp.net", 4)
LID = Jid("98765432109876", "lid", 4)


def _pair_success(container: bytes, device: Node | None = None, **extra: Node) -> Node:
    children = [Node("device-identity", {}, container), device or Node("device", {"jid": JID, "lid": LID})]
    children += list(extra.values())
    iq_attrs: dict[str, AttrValue] = {"from": SERVER_JID, "type": "set", "id": "p1", "xmlns": "md"}
    return Node("iq", iq_attrs, [Node("pair-success", {}, children)])


def _container(**faults: bool) -> bytes:
    return adv_identity(
        account=ACCOUNT,
        raw_id=5,
        key_index=4,
        companion_identity=CREDS.identity_key.public,
        adv_secret=CREDS.adv_secret,
        **faults,
    ).container


def test_qr_text_carries_our_keys() -> None:
    text = qr_text("2@abc", CREDS, "1")
    assert text.startswith(QR_PREFIX)
    scanned = parse_qr(text)
    assert (scanned.ref, scanned.client_type) == ("2@abc", "1")
    assert scanned.noise_public == CREDS.noise_key.public
    assert scanned.identity_public == CREDS.identity_key.public
    assert scanned.adv_secret == CREDS.adv_secret
    assert base64.b64encode(CREDS.adv_secret).decode() in text


def test_refs_are_read_in_order_and_odd_ones_refused() -> None:
    def iq(*refs: bytes) -> Node:
        return Node("iq", {}, [Node("pair-device", {}, [Node("ref", {}, ref) for ref in refs])])

    assert pairing_refs(iq(b"2@a", b"2@b")) == ["2@a", "2@b"]
    for bad in (iq(), iq(b""), iq(b"2@a,b"), iq(b"\xff"), iq(b"a\nb"), Node("iq", {}, []), iq(*[b"r"] * 33)):
        with pytest.raises(ProtocolError):
            pairing_refs(bad)


@pytest.mark.parametrize("hosted", [False, True])
def test_a_good_pair_success_is_signed_and_answered(hosted: bool) -> None:
    container = adv_identity(
        account=ACCOUNT,
        raw_id=5,
        key_index=4,
        companion_identity=CREDS.identity_key.public,
        adv_secret=CREDS.adv_secret,
        hosted=hosted,
    ).container
    biz, platform = Node("biz", {"name": "Shop"}), Node("platform", {"name": "smbi"})
    result = complete_pairing(_pair_success(container, biz=biz, platform=platform), CREDS)
    assert result.creds.me == Me(JID, LID, "Shop") and result.creds.platform == "smbi"
    assert result.business_name == "Shop"
    account = wa.ADVSignedDeviceIdentity.FromString(result.creds.account or b"")
    assert account.accountSignatureKey == ACCOUNT.public
    assert result.reply.attrs == {"to": SERVER_JID, "type": "result", "id": "p1"}
    sign = result.reply.find("pair-device-sign")
    identity = sign.find("device-identity") if sign is not None else None
    assert identity is not None and identity.str_attr("key-index") == "4"
    sent = wa.ADVSignedDeviceIdentity.FromString(identity.content_bytes() or b"")
    assert not sent.HasField("accountSignatureKey")
    message = b"\x06\x01" + sent.details + CREDS.identity_key.public + ACCOUNT.public
    assert curve.verify(CREDS.identity_key.public, message, sent.deviceSignature)


@pytest.mark.parametrize(
    ("stanza", "code", "text"),
    [
        (_pair_success(_container(wrong_hmac=True)), 401, "hmac-mismatch"),
        (_pair_success(_container(bad_signature=True)), 401, "signature-mismatch"),
        (_pair_success(b"\xff\xff\xff"), 500, "internal-error"),
        (_pair_success(_container(), Node("device", {"jid": Jid("1555", "lid", 4)})), 500, "internal-error"),
        (
            _pair_success(_container(), Node("device", {"jid": Jid("1555", "s.whatsapp.net")})),
            500,
            "internal-error",
        ),
        (_pair_success(_container(), Node("device", {"jid": "not a jid"})), 500, "internal-error"),
        (_pair_success(_container(), Node("device", {"jid": JID, "lid": JID})), 500, "internal-error"),
        (Node("iq", {"id": "p1"}, [Node("pair-success", {}, [])]), 500, "internal-error"),
    ],
    ids=[
        "wrong hmac",
        "bad signature",
        "garbage container",
        "lid as jid",
        "no device",
        "text jid",
        "pn lid",
        "empty",
    ],
)
def test_a_bad_pair_success_is_refused_with_the_code_to_answer(stanza: Node, code: int, text: str) -> None:
    with pytest.raises(PairingError) as refused:
        complete_pairing(stanza, CREDS)
    assert refused.value.details == {"code": code, "text": text}
    reply = pairing_error_reply("p1", code, text)
    assert reply.find("error") == Node("error", {"code": str(code), "text": text})


def test_a_pair_success_for_another_device_s_keys_is_refused() -> None:
    other = Credentials.generate(1_750_000_000)
    with pytest.raises(PairingError, match="hmac-mismatch"):
        complete_pairing(_pair_success(_container()), other)


def test_a_pair_success_without_id_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        complete_pairing(Node("iq", {}, [Node("pair-success")]), CREDS)


jid_values = st.sampled_from([JID, LID, SERVER_JID, Jid("1", "g.us"), "15551234567:4@s.whatsapp.net", "x"])
byte_values = st.sampled_from(
    [_container(), _container(wrong_hmac=True), b"", b"\x0a\x02\x08\x01"]
) | st.binary(max_size=80)
children = st.lists(
    st.builds(
        Node,
        st.sampled_from(["device-identity", "device", "platform", "biz", "x"]),
        st.dictionaries(st.sampled_from(["jid", "lid", "name", "key-index"]), jid_values, max_size=3),
        st.none() | byte_values | st.text(max_size=5),
    ),
    max_size=5,
)
stanzas = st.builds(
    lambda attrs, inner: Node("iq", attrs, [Node("pair-success", {}, inner)]),
    st.dictionaries(st.sampled_from(["id", "from", "type"]), st.sampled_from(["p1", "", "set"]), max_size=3),
    children,
)


@settings(max_examples=400, deadline=None)
@given(stanzas)
def test_any_pair_success_is_answered_or_refused_cleanly(stanza: Node) -> None:
    try:
        complete_pairing(stanza, CREDS)
    except (PairingError, ProtocolError):
        pass
