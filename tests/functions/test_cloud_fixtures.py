"""Every shared Cloud API fixture (../shared/fixtures/cloud; skipped when absent) is read, and tallied.

Webhook bodies parse into the web engine's event shapes or are ignored with a reason, Graph errors map to
domain errors, send responses parse, and the real signed body verifies (a flipped byte does not).
"""

from __future__ import annotations

import collections
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from connector.engines.events import IncomingMessage, MediaRef, Receipt
from tests.functions.cloud_support import FIXTURES
from wagate.cloud.errors import CloudApiError, from_graph
from wagate.cloud.graph import parse_accepted, parse_media
from wagate.cloud.notifications import parse_notification
from wagate.cloud.signatures import signature, signed_by
from wagate.domain.events import EventType

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/cloud is not here")

INCOMING_KEYS = {f.name for f in dataclasses.fields(IncomingMessage)} | {"type"}
MEDIA_KEYS = {f.name for f in dataclasses.fields(MediaRef)} - {"fetch"}  # the publisher drops `fetch`
RECEIPT_KEYS = {f.name for f in dataclasses.fields(Receipt)}
FAILURE_KEYS = RECEIPT_KEYS | {"reason", "detail", "retryable"}


def check_shape(kind: EventType, data: dict[str, Any]) -> None:
    """The data of an event is what the connector's publisher sends for the web engine's events."""
    if kind == EventType.INCOMING_MESSAGE:
        assert set(data) == INCOMING_KEYS, set(data) ^ INCOMING_KEYS
        assert data["provider_message_id"] and data["sender_jid"] and data["chat_jid"]
        if data["media"] is not None:
            assert set(data["media"]) == MEDIA_KEYS and data["media"]["url"].startswith("cloud-media:")
    else:
        assert kind == EventType.MESSAGE_STATUS
        assert set(data) == (FAILURE_KEYS if data["status"] == "failed" else RECEIPT_KEYS)
        assert data["provider_message_ids"] and isinstance(data["at"], float)


def webhook_tally(path: Path, tally: collections.Counter[str], reasons: collections.Counter[str]) -> None:
    result = parse_notification(json.loads(path.read_bytes()), received_at=1.0)
    ignored = result.all_ignored()
    for item in ignored:
        assert item.reason, path
        reasons[f"{item.field}: {item.reason}"] += 1
    events = [event for number in result.numbers.values() for event in number.events]
    for kind, data in events:
        check_shape(kind, data)
    templates = [update for updates in result.accounts.values() for update in updates]
    for update in templates:
        assert update.business_account_id.isdigit() and (update.template_id or update.name), path.name
    assert events or templates or ignored, f"{path.name}: neither events nor a reason"
    if templates:
        tally["webhook → template updates"] += 1
    else:
        tally["webhook → events" if events else "webhook → ignored with a reason"] += 1


def test_every_cloud_fixture_is_read() -> None:
    files = sorted(path for path in FIXTURES.rglob("*") if path.is_file())
    tally: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    for path in files:
        group = path.relative_to(FIXTURES).parts[0]
        if group == "errors":
            body = json.loads(path.read_bytes())
            error = from_graph(body.get("error", body), http_status=400)
            assert isinstance(error, CloudApiError) and error.code != "provider_error", path.name
            tally[f"Graph error → {type(error).__name__} ({error.code})"] += 1
        elif group == "send-responses":
            body = json.loads(path.read_bytes())
            if "messages" in body:
                assert parse_accepted(body).message_id.startswith("wamid.")
                tally["send response → wamid"] += 1
            else:
                assert parse_media(body).url.startswith("https://")
                tally["media response → url"] += 1
        elif group == "signature":
            tally["signature vector (test below)"] += 1
        else:
            webhook_tally(path, tally, reasons)
    print(f"\n{len(files)} cloud fixtures:")
    for what, count in sorted(tally.items()):
        print(f"  {count:4d}  {what}")
    print("ignored, by reason:")
    for what, count in reasons.most_common():
        print(f"  {count:4d}  {what}")
    assert sum(tally.values()) == len(files) and len(files) >= 150
    assert tally["webhook → events"] >= 100


def test_bsuid_payloads_without_from_or_wa_id_parse() -> None:
    paths = sorted(FIXTURES.glob("*/*bsuid*")) + sorted(FIXTURES.glob("*/*username*"))
    assert paths
    for path in paths:
        result = parse_notification(json.loads(path.read_bytes()), received_at=1.0)
        [(kind, data)] = [e for n in result.numbers.values() for e in n.events]
        check_shape(kind, data)
        if kind == EventType.INCOMING_MESSAGE and data["sender_phone"] is None:
            assert data["sender_jid"] == data["chat_jid"] and "@" not in data["sender_jid"], path.name


def test_the_real_signed_body_verifies_and_a_flipped_byte_does_not() -> None:
    vector = json.loads((FIXTURES / "signature" / "pywa__signature_vector.json").read_bytes())
    raw = (FIXTURES / "signature" / vector["body_file"]).read_bytes()
    secret = vector["app_secret"].encode()
    digest = signature({"X-Hub-Signature-256": vector["x_hub_signature_256"]})
    assert digest is not None and signed_by(raw, digest, secret)
    flipped = bytes([raw[0] ^ 0x01]) + raw[1:]
    assert not signed_by(flipped, digest, secret)
    assert not signed_by(raw, digest, secret[:-1] + b"0")
    assert signature({"x-hub-signature-256": "sha1=" + "0" * 40}) is None
    assert signature({"x-hub-signature-256": "sha256=zz"}) is None
