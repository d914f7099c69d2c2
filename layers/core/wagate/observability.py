"""The process's Powertools logger, metrics and tracer (one of each; JSON logs carry tenant_id)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="wagate")
metrics = Metrics(namespace="wagate", service="wagate")
tracer = Tracer(service="wagate")
