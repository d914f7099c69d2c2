"""Erasure of one contact with 10,000 messages and 100 media files, on SQLite and on DynamoDB (moto).

For each backend a fresh tenant gets one sandbox number and a contact who exchanged N messages with it
(half inbound with provider ids, half outbound; the first 100 carry a stored media file: its row and its
bytes in the local media directory), one conversation, the contact row, and a second contact's 200
messages that must survive. Rows are written through the composition root's table (content sealed under
the tenant's data key, retention TTLs stamped) with the repositories' own row builders, one put each,
instead of one API call per message: seeding is not what is measured. Then `DELETE /v1/contacts/{phone}`'s
service (`ErasureService.erase`) runs once, timed, and the survivors are checked.

moto runs in this process: its figure is the erasure's own work plus moto's, not DynamoDB's network
latency (on AWS each of the ~3 writes per message is a ~5 ms round trip unless batched).
Run: `.venv/bin/python bench/erasure.py [--messages N]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

from local.template import load_template
from wagate import wiring
from wagate.compose import Services
from wagate.domain.conversations import conversation_id
from wagate.domain.ids import new_id
from wagate.domain.media import MediaKind
from wagate.domain.messages import ContentKind, Direction, Message, MessageStatus
from wagate.domain.sessions import Provider
from wagate.services import tenants
from wagate.settings import Settings
from wagate.store import keys
from wagate.store.conversations import ContactRepository, activity
from wagate.store.media import MediaState, StoredFile, media_item
from wagate.store.messages import message_item, provider_id_item

ROOT = Path(__file__).resolve().parents[1]
PERSON = "+34600999888"
OTHER = "+34600555444"
MEDIA_FILES = 100
OTHER_MESSAGES = 200
TARGET_SECONDS = 60.0


def seed(services: Services, tenant_id: str, session_id: str, phone: str, count: int, media: int) -> None:
    table = services.table
    store = services.ports.media_store
    now = time.time()
    for index in range(count):
        inbound = index % 2 == 0
        message_id = new_id("msg", now + index / 1000)
        media_id = new_id("med", now) if index < media else None
        message = Message.model_validate(
            {
                "id": message_id,
                "tenant_id": tenant_id,
                "session_id": session_id,
                "direction": Direction.INBOUND if inbound else Direction.OUTBOUND,
                "from": phone if inbound else None,
                "to": None if inbound else phone,
                "chat": phone,
                "kind": ContentKind.TEXT,
                "text": f"Hola, mensaje {index} sobre la visita del jueves",
                "status": MessageStatus.RECEIVED if inbound else MessageStatus.DELIVERED,
                "provider_message_id": f"3EB0{index:016X}{phone[-4:]}",
                "metadata": {"media_id": media_id} if media_id else {},
                "created_at": now,
                "updated_at": now,
            }
        )
        table.put(message_item(message))
        table.put(provider_id_item(tenant_id, session_id, str(message.provider_message_id), message_id))
        if media_id is not None:
            stored = StoredFile(
                id=media_id,
                tenant_id=tenant_id,
                state=MediaState.READY,
                kind=MediaKind.IMAGE,
                mime="image/jpeg",
                size=2048,
                source="inbound",
                session_id=session_id,
                created_at=now,
            )
            table.put(media_item(stored))
            if store is not None:
                store.put(stored.object_key, [os.urandom(2048)], content_type="image/jpeg")
        if index == count - 1:
            table.transact_write([activity(message, name="Lucía")])
            contact = ContactRepository(table).key(tenant_id, phone)
            table.put(
                {
                    "pk": contact.pk,
                    "sk": contact.sk,
                    "phone": phone,
                    "tenant_id": tenant_id,
                    "messages_in": count // 2,
                }
            )


def run(name: str, deps: wiring.Deps, count: int) -> float:
    services = Services(deps)
    tenant, _ = tenants.create_tenant(deps.table, deps.clock, "Bench")
    session = services.sessions.create(
        tenant.id, name="Desk", provider=Provider.SANDBOX, phone=None, metadata={}
    )
    started = time.perf_counter()
    seed(services, tenant.id, session.id, PERSON, count, MEDIA_FILES)
    seed(services, tenant.id, session.id, OTHER, OTHER_MESSAGES, 0)
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    receipt = services.erasure.erase(tenant.id, PERSON)
    took = time.perf_counter() - started
    assert receipt.erased["messages"] == count, receipt.erased
    assert receipt.erased.get("media_files") == MEDIA_FILES, receipt.erased
    other = conversation_id(session.id, OTHER)
    left = deps.table.query(keys.conversation_messages_index(tenant.id, other), index="gsi2", limit=1000)
    assert len(left.items) == OTHER_MESSAGES
    print(f"{name}: seeded {count + OTHER_MESSAGES} messages in {seeded:.1f} s; erased {receipt.erased}")
    print(f"{name}: erasure {took:.2f} s ({count / took:,.0f} messages/s)")
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--backend", choices=["both", "sqlite", "dynamodb"], default="both")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        queues = load_template(ROOT / "template.yaml").queue_definitions()
        deps = wiring.build(Settings(backend="local", data_dir=Path(tmp) / "sqlite"), queues)
        if args.backend in ("both", "sqlite"):
            results["sqlite"] = run("sqlite", deps, args.messages)
        if args.backend == "sqlite":
            print(
                f"erasure_10k_messages_100_media: {results['sqlite']:.1f} s (target ≤ {TARGET_SECONDS:.0f} s)"
            )
            return

        import boto3
        from moto import mock_aws

        from tests.support.aws_template import create_tables
        from wagate.adapters.aws.dynamodb_table import DynamoTable

        for variable, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
            os.environ.setdefault(variable, value)
        os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
        with mock_aws():
            client = boto3.client("dynamodb", region_name="eu-west-1")
            names = create_tables(client)
            settings = Settings(backend="local", data_dir=Path(tmp) / "dynamo", encrypt_content=False)
            local = wiring.build(settings, queues)
            deps = dataclasses.replace(
                local,
                table=DynamoTable(names["Table"], lambda: client),
                settings=local.settings.model_copy(update={"encrypt_content": True}),
            )
            wiring._seal(deps)  # the same sealing wiring puts around the AWS table
            results["dynamodb"] = run("dynamodb (moto)", deps, args.messages)
    worst = max(results.values())
    print(f"erasure_10k_messages_100_media: {worst:.1f} s (target ≤ {TARGET_SECONDS:.0f} s, slower backend)")


if __name__ == "__main__":
    main()
