"""The process's Powertools logger, metrics and tracer (one of each; JSON logs carry tenant_id)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

Handler = TypeVar("Handler", bound=Callable[..., Any])

logger = Logger(service="wagate")
metrics = Metrics(namespace="wagate", service="wagate")

_tracer: Tracer | None = None
_tracer_lock = threading.Lock()
_flush_lock = threading.Lock()


def tracer() -> Tracer:
    """The process's Tracer, built on first use.

    Building it imports aws_xray_sdk, which creates two botocore clients for sampling, and patches
    botocore (100-200 ms). Every module that logs imports this one, so it must not happen at import.
    """
    global _tracer
    if _tracer is None:
        with _tracer_lock:  # `wagate serve` invokes handlers from several threads at once
            if _tracer is None:
                from aws_lambda_powertools import Tracer

                _tracer = Tracer(service="wagate")
    return _tracer


def traced(handler: Handler) -> Handler:
    """`Tracer.capture_lambda_handler`, with the Tracer built at the first invocation, not at import.

    The Tracer exists (and botocore is patched) before the handler body runs, so every AWS call of the
    invocation still shows in the trace as a subsegment.
    """
    captured: Callable[..., Any] | None = None

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        nonlocal captured
        if captured is None:  # a race only builds the same wrapper twice
            captured = tracer().capture_lambda_handler(handler)
        return captured(event, context)

    return cast("Handler", invoke)


def flushes_metrics(handler: Handler) -> Handler:
    """`Metrics.log_metrics` that concurrent invocations in one process (`wagate serve`) can share.

    Powertools keeps one metric set per process: a flush by one thread can empty it between another
    thread's "is it empty?" check and its serialisation (SchemaValidationError). Flushes take turns here,
    and an invocation whose metrics another flush already published has nothing left to do. On Lambda one
    invocation runs per process at a time, so the lock is never contended.
    """

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            with _flush_lock:
                if metrics.metric_set:
                    metrics.flush_metrics()

    return cast("Handler", invoke)
