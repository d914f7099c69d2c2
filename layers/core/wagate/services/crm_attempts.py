"""One webhook attempt per queue message: claim, sign, POST, record, then retry later or give up.

Outcomes: a 2xx is `delivered`. 410 Gone means the CRM wants no more: the delivery fails and the webhook
is disabled (PATCH `enabled: true` turns it back on). Anything else (another status, a timeout, a refused
connection, a refused address) is retried after the next delay of the schedule (5 s, 30 s, 2 min,
10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h by default, each ±20% jitter: 11 attempts over about a day);
after the last one the delivery is `failed` and a dead letter goes to WebhooksDlq. A replay is one
attempt: it ends `delivered` or `failed`, with no retries and no dead letter.

Racing copies of a message (SQS delivers at least once) are sorted out by the delivery row: an attempt
is claimed with a condition on the attempt count (the claim expires, so a crashed consumer's attempt is
taken over when SQS shows its message again), and recorded with the same condition. The claim names its
process: a claim whose process is provably gone (killed on this host) counts as lapsed at once, so the
attempt is retried as soon as the message is seen again (locally within a second: the queue frees
messages in flight to a dead process). A 2xx is recorded before anything else, and a recorded delivery is
never sent again; only a 2xx that the dead process never read can be followed by the same `webhook-id`
again (Standard Webhooks receivers deduplicate by it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wagate import meters, process_liveness
from wagate.conditions import Attr
from wagate.domain.crm_webhooks import (
    Attempt,
    DeliveryStatus,
    retry_delay,
    secret_key,
    signed_headers,
)
from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.observability import logger
from wagate.ports import Clock, Item, SendResult, Table, WebhookSender
from wagate.services.crm_deliveries import (
    MAX_ATTEMPTS_KEPT,
    DeliveryStore,
    message,
    parse_message,
)
from wagate.services.crm_webhooks import WebhookService

# Longer than an attempt can take (the send timeout is at most 15 s), shorter than the queue's
# visibility timeout, so a crashed attempt's message reappears after its claim has lapsed.
CLAIM_SECONDS = 45


class AttemptRunner:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        store: DeliveryStore,
        webhooks: WebhookService,
        sender: Callable[[], WebhookSender],
        *,
        delays: Sequence[int],
        rng: random.Random | None = None,
    ) -> None:
        self.table = table
        self.clock = clock
        self.store = store
        self.webhooks = webhooks
        self._sender = sender
        self.delays = tuple(delays)
        self.rng = rng

    def process(self, body: str) -> None:
        """Handle one queue message. Raises only when storage or the queue fail (SQS then retries it)."""
        data = parse_message(body)
        tenant_id, webhook_id, ident = data["tenant_id"], data["webhook_id"], data["delivery_id"]
        logger.thread_safe_clear_keys()  # records of a batch run in parallel threads
        logger.thread_safe_append_keys(tenant_id=tenant_id, webhook_id=webhook_id, delivery_id=ident)
        if data.get("redrive"):
            self._redrive(tenant_id, webhook_id, ident)
            return
        now = self.clock.now()
        due_at = float(data.get("due_at") or 0)
        if due_at - now >= 1:  # a wait longer than one SQS delay: hop again
            self.store.send([data], now=now)
            return
        try:
            item = self.store.get_item(tenant_id, webhook_id, ident)
        except NotFound:
            return  # expired, or its webhook was deleted
        attempt = int(data["attempt"])
        if item["status"] != DeliveryStatus.PENDING or int(item["attempt_count"]) != attempt - 1:
            self._repair(item, attempt)
            return
        if not self._claim(item, attempt, now):
            return  # another copy of this message is making the attempt
        try:
            webhook, secrets = self.webhooks.secret(tenant_id, webhook_id)
        except NotFound:
            return
        if not webhook.enabled:
            result = SendResult(None, 0.0, f"not sent: the webhook is disabled ({webhook.disabled_reason})")
            self._record(item, attempt, now, result, final=True, replay=bool(data.get("replay")))
            return
        # An Evolution webhook (wagate/evolution) may send each event to its own path, with the
        # CRM's own headers beside wagate's signature.
        url = webhook.url + str(item.get("url_suffix") or "")
        extra = webhook.evolution.headers if webhook.evolution is not None else {}
        result = self._send(url, str(item["body"]), ident, secrets, now, extra)
        gone = result.status_code == 410
        final = gone or bool(item.get("final"))
        recorded = self._record(item, attempt, now, result, final=final, replay=bool(data.get("replay")))
        if gone and recorded is not None:
            reason = "the endpoint answered 410 Gone"
            self.webhooks.disable(tenant_id, webhook_id, reason)
            logger.warning("webhook disabled: the CRM answered 410 Gone")

    def _send(
        self,
        url: str,
        body: str,
        ident: str,
        secrets: Sequence[str],
        now: float,
        extra: Mapping[str, str] | None = None,
    ) -> SendResult:
        signed = signed_headers([secret_key(s) for s in secrets], ident, int(now), body)
        ours = {name.lower() for name in signed} | {"content-type", "content-length", "host"}
        headers = {**{k: v for k, v in (extra or {}).items() if k.lower() not in ours}, **signed}
        try:
            return self._sender().send(url, body.encode(), headers, guard=self.webhooks.rules.check_target)
        except InvalidInput as exc:  # the URL now resolves to a refused address: retried, DNS may change
            return SendResult(None, 0.0, exc.message)

    def _claim(self, item: Item, attempt: int, now: float) -> bool:
        unclaimed = Attr("claimed_until").not_exists() | Attr("claimed_until").lt(now)
        if item.get("claimed_until") is not None and process_liveness.row_writer_gone(item):
            # Claimed by a process that died with the attempt: exactly that claim may be taken over.
            unclaimed = unclaimed | Attr("claimed_until").eq(item["claimed_until"])
            logger.warning("taking over an attempt whose process is gone", extra={"attempt": attempt})
        try:
            self.store.rows.update(
                item,
                set={"claimed_until": now + CLAIM_SECONDS, **process_liveness.current().attributes()},
                condition=Attr("status").eq(DeliveryStatus.PENDING.value)
                & Attr("attempt_count").eq(attempt - 1)
                & unclaimed,
            )
        except ConflictError:
            return False
        return True

    def _record(
        self, item: Item, attempt: int, now: float, result: SendResult, *, final: bool, replay: bool
    ) -> Item | None:
        delivered = result.error is None and result.status_code is not None
        delay = None if delivered or final else retry_delay(attempt, self.delays, self.rng)
        if delivered:
            status = DeliveryStatus.DELIVERED
        else:
            status = DeliveryStatus.PENDING if delay is not None else DeliveryStatus.FAILED
        record = Attempt(
            number=attempt,
            at=now,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            response=result.response,
            replay=replay,
        )
        attempts = [*(item.get("attempts") or []), record.model_dump(mode="json")][-MAX_ATTEMPTS_KEPT:]
        finished = self.clock.now()  # a retry waits its delay after the attempt ended (a timeout took 5 s)
        changes: dict[str, Any] = {
            **self.store.rows.status_fields(str(item["tenant_id"]), str(item["webhook_id"]), status),
            "attempt_count": attempt,
            "attempts": attempts,
            "next_attempt_at": None if delay is None else finished + delay,
            "updated_at": finished,
        }
        remove = ["claimed_until", *process_liveness.FIELDS]
        if status != DeliveryStatus.PENDING:
            remove.append("final")
        if status == DeliveryStatus.FAILED and not final:
            changes["exhausted"] = True  # every attempt of the schedule used: this one is dead-lettered
        try:
            updated = self.store.rows.update(
                item,
                set=changes,
                remove=remove,
                condition=Attr("status").eq(DeliveryStatus.PENDING.value)
                & Attr("attempt_count").eq(attempt - 1),
            )
        except ConflictError:
            logger.warning("attempt outcome not recorded: the delivery moved on meanwhile")
            return None
        self._follow_up(updated, attempt)
        _log(result, attempt, status)
        return updated

    def _follow_up(self, item: Item, attempt: int) -> None:
        """After attempt `attempt` was recorded: queue the next one, or dead-letter a delivery that
        used its last. Also run when a copy of the message finds the attempt already recorded, because
        the first run may have stopped between recording and queueing (a duplicate is harmless)."""
        if item["status"] == DeliveryStatus.PENDING and item.get("next_attempt_at") is not None:
            due_at = float(item["next_attempt_at"])
            self.store.send(
                [
                    message(
                        str(item["tenant_id"]), str(item["webhook_id"]), str(item["id"]), attempt + 1, due_at
                    )
                ]
            )
        elif item["status"] == DeliveryStatus.FAILED and item.get("exhausted"):
            last = (item.get("attempts") or [{}])[-1]
            self.store.dead_letter(item, last.get("error"))

    def _repair(self, item: Item, attempt: int) -> None:
        """A message whose attempt is already recorded: make sure what follows it was queued."""
        if int(item["attempt_count"]) == attempt and not item.get("final"):
            self._follow_up(item, attempt)

    def _redrive(self, tenant_id: str, webhook_id: str, ident: str) -> None:
        """A dead letter moved back to the queue (an SQS DLQ redrive): replay the delivery once."""
        try:
            webhook = self.webhooks.get(tenant_id, webhook_id)
            self.store.replay(webhook, ident)
        except (NotFound, ConflictError) as exc:
            logger.info("redriven webhook delivery not replayed", extra={"reason": exc.message})


def _log(result: SendResult, attempt: int, status: DeliveryStatus) -> None:
    outcome = {DeliveryStatus.DELIVERED: "delivered", DeliveryStatus.PENDING: "retry"}.get(status, "failed")
    meters.count("wagate_webhook_deliveries_total", outcome=outcome)
    extra = {"attempt": attempt, "status_code": result.status_code, "latency_ms": result.latency_ms}
    if status == DeliveryStatus.DELIVERED:
        logger.info("webhook delivered", extra=extra)
    else:
        logger.info("webhook attempt failed", extra={**extra, "error": result.error, "outcome": status})
