"""Builds the adapters behind each port, once per process, from Settings.

`wagate.compose` builds the services on these ports; handlers and routes go through it, not here.
Nothing is constructed at import time (a boto3 client made at import escapes moto in tests and slows
cold starts). The local runner builds one `Deps` for its whole process and `install()`s it, so every
handler thread shares the same SQLite connections and queue wake-ups; it then replaces the push adapter
with one that writes straight into its in-process WebSocket gateway, and tests put fakes on the lazily
built HTTP clients (media probe, webhook sender, Graph).

The layer never reads template.yaml (its parser, cfn-lint, is the local runner's, not Lambda's): the
runner passes the queue definitions it read to `build()`, and the SQLite queue file records them, so any
other local process (`python -m connector` beside `wagate serve`) builds its adapters without them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wagate.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    from wagate.adapters.local.sqlite_queue import QueueDefinition
    from wagate.cloud.graph import GraphApi
    from wagate.ports import Crypto, MediaProbe, MediaStore, Push, Queues, Table, WebhookSender
    from wagate.store.sealed_queues import QueueBodies
    from wagate.store.tenant_keys import TenantKeys


class SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass
class Deps:
    settings: Settings
    table: Table
    queues: Queues
    crypto: Crypto
    push: Push | None
    clock: SystemClock
    # Powertools idempotency persistence (POST /v1/messages): DynamoDB in AWS, the Table port locally.
    idempotency: BasePersistenceLayer | None = None
    # Media URL probe (POST /v1/messages with media); tests put one on an httpx.MockTransport here.
    media_probe: MediaProbe | None = None
    # CRM webhook sender (services/crm_attempts.py); tests put one on a local receiver here.
    webhook_sender: WebhookSender | None = None
    # Meta Graph client of cloud sessions (cloud/graph.py); tests put one on an httpx.MockTransport.
    graph_api: GraphApi | None = None
    # Stored media files: a directory locally, the media bucket in AWS (None: no MEDIA_BUCKET given).
    media_store: MediaStore | None = None
    # Content encryption at rest (store/tenant_keys.py), there even with WAGATE_ENCRYPT_CONTENT off.
    tenant_keys: TenantKeys | None = None
    queue_bodies: QueueBodies | None = None

    def open_body(self, body: str) -> str:
        """A queue body as its producer wrote it (Lambda consumers get sealed bodies from the SQS event)."""
        return self.queue_bodies.open(body) if self.queue_bodies is not None else body

    def media(self) -> MediaProbe:
        """The media probe, built on first use: no HTTP client exists at import time or cold start."""
        if self.media_probe is None:
            with _lock:
                if self.media_probe is None:
                    from wagate.adapters.http_media import HttpMediaProbe

                    self.media_probe = HttpMediaProbe.create(timeout=self.settings.media_probe_seconds)
        return self.media_probe

    def graph(self) -> GraphApi:
        """The Graph client, built on first use (like the media probe)."""
        if self.graph_api is None:
            with _lock:
                if self.graph_api is None:
                    from wagate.cloud.graph import GraphApi

                    self.graph_api = GraphApi(
                        base_url=self.settings.graph_base_url,
                        version=self.settings.graph_api_version,
                        timeout=self.settings.graph_timeout_seconds,
                    )
        return self.graph_api

    def webhooks(self) -> WebhookSender:
        """The CRM webhook sender, built on first use (like the media probe)."""
        if self.webhook_sender is None:
            with _lock:
                if self.webhook_sender is None:
                    from wagate.adapters.http_crm_webhooks import HttpWebhookSender

                    timeout = self.settings.webhooks_timeout_seconds
                    self.webhook_sender = HttpWebhookSender.create(timeout=timeout)
        return self.webhook_sender


_lock = threading.Lock()
_deps: Deps | None = None


def deps() -> Deps:
    """The process's adapters, built on first use."""
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = build(Settings.from_env())
    return _deps


def install(value: Deps) -> None:
    """Use these adapters from now on (the local runner and tests)."""
    global _deps
    with _lock:
        _deps = value


def reset() -> None:
    global _deps
    with _lock:
        _deps = None


def build(settings: Settings, queue_definitions: Mapping[str, QueueDefinition] | None = None) -> Deps:
    """`queue_definitions` (local backend): the queues to create; None opens those the file records."""
    if settings.backend == "aws":
        return _build_aws(settings)
    return _build_local(settings, queue_definitions)


def _build_local(settings: Settings, definitions: Mapping[str, QueueDefinition] | None) -> Deps:
    from wagate.adapters.aws.apigw_push import ApiGatewayPush
    from wagate.adapters.local.dir_media import DirMediaStore
    from wagate.adapters.local.file_crypto import FileCrypto, derived_key
    from wagate.adapters.local.idempotency_store import TableIdempotencyStore
    from wagate.adapters.local.sqlite_queue import SqliteQueues
    from wagate.adapters.local.sqlite_table import SqliteTable

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    push = ApiGatewayPush(settings.websocket_endpoint) if settings.websocket_endpoint else None
    raw = SqliteTable(settings.table_path)
    crypto = FileCrypto(settings.master_key_path)
    deps = Deps(
        settings=settings,
        table=raw,
        queues=SqliteQueues(settings.queues_path, definitions),
        crypto=crypto,
        push=push,
        clock=SystemClock(),
        media_store=DirMediaStore(
            settings.media_dir,
            signing_key=derived_key(settings.master_key_path, b"media links"),
            base_url=settings.media_base_url or settings.cli.url,
        ),
    )
    _seal(deps)
    assert deps.tenant_keys is not None and isinstance(deps.media_store, DirMediaStore)
    from wagate.store.sealed_media import MediaSealer

    deps.media_store.sealer = MediaSealer(deps.tenant_keys, seal=settings.encrypt_content)
    deps.idempotency = TableIdempotencyStore(deps.table)
    return deps


def _seal(deps: Deps) -> None:
    """Puts content sealing (store/sealed_table.py, store/sealed_queues.py) around the table and queues.
    With WAGATE_ENCRYPT_CONTENT=false new writes stay plain, but what was sealed still reads (and a
    deleted tenant's key is still destroyed)."""
    seal = deps.settings.encrypt_content
    from wagate.store.content_cipher import ContentCipher
    from wagate.store.sealed_queues import QueueBodies, SealedQueues
    from wagate.store.sealed_table import SealedTable
    from wagate.store.tenant_keys import TenantKeys

    deps.tenant_keys = TenantKeys(deps.table, deps.crypto, max_age=deps.settings.content_key_cache_seconds)
    cipher = ContentCipher(deps.tenant_keys)
    deps.queue_bodies = QueueBodies(cipher, seal=seal)
    deps.table = SealedTable(deps.table, cipher, seal=seal)
    deps.queues = SealedQueues(deps.queues, deps.queue_bodies)


def _build_aws(settings: Settings) -> Deps:
    import boto3
    from botocore.config import Config

    from wagate.adapters.aws.apigw_push import ApiGatewayPush
    from wagate.adapters.aws.dynamodb_table import DynamoTable
    from wagate.adapters.aws.kms_crypto import KmsCrypto
    from wagate.adapters.aws.s3_media import S3MediaStore
    from wagate.adapters.aws.sqs_queue import SqsQueues

    if not settings.kms_key_id:
        raise RuntimeError("KMS_KEY_ID is not set: the AWS backend encrypts every secret with KMS")
    endpoint = settings.websocket_endpoint
    push = ApiGatewayPush(endpoint, signed=True) if endpoint else None
    bucket = settings.media_bucket
    # SigV4 and the regional endpoint: presigned links must work from the first hour of a new bucket.
    s3 = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
    deps = Deps(
        settings=settings,
        media_store=S3MediaStore(lambda: boto3.client("s3", config=s3), bucket) if bucket else None,
        table=DynamoTable(settings.table_name, lambda: boto3.client("dynamodb")),
        queues=SqsQueues(lambda: boto3.client("sqs"), name_prefix=settings.queue_name_prefix),
        crypto=KmsCrypto(lambda: boto3.client("kms"), settings.kms_key_id),
        push=push,
        clock=SystemClock(),
    )
    _seal(deps)
    assert deps.tenant_keys is not None
    from wagate.adapters.aws.sealed_idempotency import SealedDynamoDBPersistenceLayer
    from wagate.store.content_cipher import ContentCipher

    deps.idempotency = SealedDynamoDBPersistenceLayer(
        ContentCipher(deps.tenant_keys),
        seal=settings.encrypt_content,
        table_name=settings.idempotency_table,
        boto3_client=boto3.client("dynamodb"),
    )
    return deps
