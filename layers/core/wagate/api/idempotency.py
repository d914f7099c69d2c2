"""`Idempotency-Key` for POST use cases: a typed wrapper over Powertools `idempotent_function`.

`idempotent(router, use_case, Message)` runs `use_case(tenant_id, body, key)` — the validated body model,
the Idempotency-Key (None without one), returning the result model — except that with an
`Idempotency-Key` header a retry returns the first answer instead of running again. The body is
validated once, by the route; Powertools hashes the model (`model_dump(mode="json")`) and stores the
result through `PydanticSerializer`. The same key with a different body is a 422
(`idempotency_key_reused`, mapped in the resolver). Keys are scoped to the tenant. The persistence store
is a port the wiring picks: DynamoDB in AWS, the Table locally.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, SerializeAsAny

from wagate import compose
from wagate.domain.errors import InvalidInput

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

EXPIRES_AFTER_SECONDS = 24 * 3600
Body = TypeVar("Body", bound=BaseModel)
Result = TypeVar("Result", bound=BaseModel)


class IdempotentCall(BaseModel):
    """What identifies a call (tenant, key) and what must not change under the same key (body, the
    route's validated model: kept as it is, dumped with its own fields)."""

    model_config = ConfigDict(defer_build=True)

    tenant: str
    key: str
    body: SerializeAsAny[BaseModel]


UseCase = Callable[[str, Body, str | None], Result]


def idempotent(
    router: APIGatewayHttpRouter, use_case: UseCase[Body, Result], result: type[Result]
) -> Callable[[str, Body], Result]:
    """`use_case`, run at most once per tenant and Idempotency-Key of the current request."""

    def once(tenant_id: str, body: Body) -> Result:
        key = router.current_event.headers.get("idempotency-key")
        if key == "":  # sent but empty: the spec says minLength 1
            raise InvalidInput(
                "Idempotency-Key is empty: send a unique string or leave the header out",
                details={"field": "Idempotency-Key"},
            )
        if not key:
            return use_case(tenant_id, body, None)
        store = compose.ports().idempotency
        assert store is not None, "the wiring provides an idempotency store"
        config, wrapped = _decorated(result, store, threading.get_ident())
        # In-progress records expire with the invocation.
        config.register_lambda_context(router.lambda_context)
        answer: Result = wrapped(call=IdempotentCall(tenant=tenant_id, key=key, body=body), use_case=use_case)
        return answer

    return once


def _run(*, call: IdempotentCall, use_case: Callable[[str, Any, str], BaseModel]) -> BaseModel:
    return use_case(call.tenant, call.body, call.key)


@functools.cache
def _decorated(
    result: type[BaseModel], store: BasePersistenceLayer, thread: int
) -> tuple[IdempotencyConfig, Callable[..., Any]]:
    """One decorated function per (result model, store, thread): a test or the local runner may install
    another store, and each config holds its own invocation's Lambda context (`wagate serve` runs
    invocations on threads)."""
    # Imported at first use: the idempotency package pulls in boto3.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

    config = IdempotencyConfig(
        event_key_jmespath="[tenant, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    decorate = idempotent_function(
        data_keyword_argument="call",
        config=config,
        persistence_store=store,
        output_serializer=PydanticSerializer(result),
    )

    # A function per result model: Powertools keys its records by the function's name.
    def run(*, call: IdempotentCall, use_case: Callable[[str, Any, str], BaseModel]) -> BaseModel:
        return _run(call=call, use_case=use_case)

    run.__name__ = run.__qualname__ = f"once_{result.__name__}"
    return config, decorate(run)
