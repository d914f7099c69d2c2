"""`Idempotency-Key` for POST routes, through Powertools idempotency (one implementation for all routes).

A retried request with the same key returns the first answer; the same key with a different body is a 422
(`idempotency_key_reused`, mapped in the resolver). Keys are scoped to the tenant. The decorated function is
built once per (function, persistence store): a test or the local runner may install another store.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate.wiring import deps

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

EXPIRES_AFTER_SECONDS = 24 * 3600
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def run_once(
    router: APIGatewayHttpRouter, tenant_id: str, body: dict[str, Any], handler: Handler
) -> dict[str, Any]:
    """Calls `handler({"tenant", "key", "body"})`, at most once per tenant and Idempotency-Key."""
    key = router.current_event.headers.get("idempotency-key")
    request = {"tenant": tenant_id, "key": key, "body": body}
    if not key:
        return handler(request)
    store = deps().idempotency
    assert store is not None, "the wiring provides an idempotency store"
    config, wrapped = _decorated(handler, store, threading.get_ident())
    config.register_lambda_context(router.lambda_context)  # in-progress records expire with the invocation
    return wrapped(request=request)


@functools.cache
def _decorated(
    handler: Handler, store: BasePersistenceLayer, thread: int
) -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    # Imported at first use: the idempotency package pulls in boto3.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath="[tenant, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    decorate = idempotent_function(data_keyword_argument="request", config=config, persistence_store=store)
    wrapped: Callable[..., dict[str, Any]] = decorate(handler)
    return config, wrapped
