"""Webhook values without I/O: signatures (checked with `standardwebhooks`), the schedule, delivery ids."""

from __future__ import annotations

import base64
import datetime as dt
import random

from standardwebhooks import Webhook as StandardWebhook

from wagate.domain.crm_webhooks import (
    RETRY_DELAYS,
    delivery_id,
    delivery_id_floor,
    new_secret,
    retry_delay,
    secret_key,
    signed_headers,
)
from wagate.settings import Settings


def test_signatures_are_standard_webhooks_signatures() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    body = '{"type":"message_sent","data":{"content":"¿Mañana a las 17:30?"}}'
    at = 1_700_000_000
    headers = signed_headers([secret_key(secret)], "dlv_01HX", at, body)
    standard = StandardWebhook(secret)
    expected = standard.sign("dlv_01HX", dt.datetime.fromtimestamp(at, dt.UTC), body)
    assert headers["webhook-signature"] == expected and headers["webhook-timestamp"] == str(at)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    fresh = signed_headers([secret_key(secret)], "dlv_01HX", now, body)
    assert standard.verify(body.encode(), fresh)["data"]["content"] == "¿Mañana a las 17:30?"


def test_the_schedule_spans_about_a_day_with_bounded_jitter() -> None:
    assert 20 * 3600 < sum(RETRY_DELAYS) < 26 * 3600 and len(RETRY_DELAYS) + 1 == 11
    assert Settings().webhook_retry_delays == RETRY_DELAYS
    rng = random.Random(7)
    for attempt, base in enumerate(RETRY_DELAYS, start=1):
        delays = [retry_delay(attempt, RETRY_DELAYS, rng) for _ in range(200)]
        assert all(d is not None and 0.8 * base <= d <= 1.2 * base for d in delays)
        assert len({round(d or 0, 3) for d in delays}) > 100  # spread, not one instant
    assert retry_delay(len(RETRY_DELAYS) + 1, RETRY_DELAYS) is None
    assert Settings(webhooks_retry_schedule="0, 2,3").webhook_retry_delays == (0, 2, 3)


def test_delivery_ids_are_deterministic_and_ordered_by_event_time() -> None:
    first = delivery_id(1_700_000_000.5, "ten_1", "whk_1", "evt_1", "incoming_message", "")
    assert first == delivery_id(1_700_000_000.5, "ten_1", "whk_1", "evt_1", "incoming_message", "")
    assert first != delivery_id(1_700_000_000.5, "ten_1", "whk_2", "evt_1", "incoming_message", "")
    later = delivery_id(1_700_000_000.6, "ten_1", "whk_1", "evt_0", "incoming_message", "")
    assert first.startswith("dlv_") and len(first) == 30 and first < later
    assert delivery_id_floor(1_700_000_000.5) <= first < delivery_id_floor(1_700_000_000.501)
