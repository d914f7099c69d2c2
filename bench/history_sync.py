"""Taking in a phone's history sync: inflate + parse time, and KeyStore round trips per contact.

A HistorySync with `--contacts` 1:1 conversations (each with its number <-> LID pair, a privacy token, a
push name and 3 messages) is compressed as the phone sends it, then read (`inflate` + `read_history`) and
applied by `OwnSync.apply` over an in-memory KeyStore that counts calls. "Per pair" is what applying
cost before `LidMap.learn_many` (one learn — read, transaction, session move — per pair); on DynamoDB
every get/put is at least one request, so round trips are what the sync costs a deployment.
Run:
    python bench/history_sync.py [--contacts 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.engines.memory_keys import InMemoryKeyStore  # noqa: E402
from connector.engines.web.binary.jid import LID_SERVER, USER_SERVER, Jid  # noqa: E402
from connector.engines.web.history import OwnSync, inflate, read_history  # noqa: E402
from connector.engines.web.lid import LidMap  # noqa: E402
from connector.engines.web.privacy_tokens import PrivacyTokens  # noqa: E402
from connector.engines.web.protos import serialize, wa  # noqa: E402


class CountingKeys(InMemoryKeyStore):
    calls = 0

    async def get(self, namespace: str, ids: Any) -> dict[str, bytes]:
        self.calls += 1
        return await super().get(namespace, ids)

    async def put(self, namespace: str, values: Any) -> None:
        self.calls += 1
        await super().put(namespace, values)


def history(contacts: int) -> bytes:
    sync = wa.HistorySync(syncType=wa.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP)
    now = int(time.time())
    for i in range(contacts):
        pn, lid = f"1555{i:07d}@s.whatsapp.net", f"{9000000 + i}@lid"
        sync.phoneNumberToLidMappings.add(pnJid=pn, lidJid=lid)
        chat = sync.conversations.add(id=lid, pnJid=pn, tcToken=b"t" * 24, tcTokenTimestamp=now - 60)
        for m in range(3):
            info = wa.WebMessageInfo(
                key=wa.MessageKey(remoteJid=lid, fromMe=bool(m % 2), id=f"3A{i:08d}{m}"),
                messageTimestamp=now - m * 3600,
                message=wa.Message(conversation=f"message {m} of chat {i}, of an ordinary length"),
            )
            chat.messages.add(message=info, msgOrderId=m + 1)
        sync.pushnames.add(id=pn, pushname=f"Contact {i}")
    return zlib.compress(serialize(sync))


async def apply(blob: bytes, batched: bool) -> tuple[float, float, int]:
    keys = CountingKeys()
    lids = LidMap(keys)

    async def no_query(node: Any) -> Any:
        raise AssertionError("no query while applying")

    async def emit(event: Any) -> None:
        return None

    tokens = PrivacyTokens(keys, lids, no_query, time.time)
    sync = OwnSync(keys, lids, tokens, lambda: None, emit)  # type: ignore[arg-type, return-value]
    started = time.perf_counter()
    facts = read_history(inflate(blob))
    parsed = time.perf_counter() - started
    if not batched:  # what apply did before learn_many
        for pn, lid in list(facts.pairs.items()):
            await lids.learn(Jid(pn, USER_SERVER), Jid(lid, LID_SERVER))
        facts.pairs.clear()
    started = time.perf_counter()
    await sync.apply(facts, "history_sync")
    return parsed, time.perf_counter() - started, keys.calls


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=2000)
    args = parser.parse_args()
    blob = history(args.contacts)
    print(f"history blob: {args.contacts} chats, {len(blob) / 1024:.0f} KiB compressed")
    parsed, applied, calls = await apply(blob, batched=True)
    _, _, calls_before = await apply(blob, batched=False)
    print(f"inflate + parse: {parsed * 1000:.0f} ms; apply: {applied * 1000:.0f} ms")
    before, now = calls_before / args.contacts, calls / args.contacts
    print(f"KeyStore round trips per contact: {now:.2f} batched, {before:.2f} with a learn per pair")
    print(f"history_sync_keystore_calls: {now:.2f} per contact (target < 3; was {before:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
