"""The fake edge as its own process, for benchmarks: its memory and CPU stay out of the clients' figures.

python -m tests.fakes.whatsapp_edge
stdout, first line: {"url": "wss://localhost:<port>/ws/chat", "root": hex, "ca_file": path of the CA to trust}
stdin, one JSON per line:  {"provision": [record, ...]} → {"provisioned": n}   (state.provision_record)
                           {"accounts": ["155…", ...]} → {"accounts": n}   (numbers with only a phone)
                           {"stats": true} → {"live": n, "logins": n, "violations": [...], ...}
                           {"end": true} (or EOF) → exit
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.fakes.whatsapp_edge.server import FakeEdge


async def main() -> None:
    async with FakeEdge() as edge:
        _write({"url": edge.url, "root": edge.root_public.hex(), "ca_file": edge.ca_file})
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            command: dict[str, Any] = json.loads(line)
            if "provision" in command:
                for record in command["provision"]:
                    edge.provision(record)
                _write({"provisioned": len(command["provision"])})
            if "accounts" in command:
                for phone in command["accounts"]:
                    edge.state.account(phone)
                _write({"accounts": len(command["accounts"])})
            if command.get("stats"):
                kinds = [event.kind for event in edge.events]
                _write(
                    {
                        "live": len(edge.live),
                        "logins": kinds.count("login"),
                        "pings": kinds.count("ping"),
                        "violations": edge.violations,
                        "refusals": edge.refusals,
                        "unhandled": edge.unhandled[:20],
                        "messages": kinds.count("message"),
                        "phone_errors": sum(len(phone.errors) for phone in edge.phones.values()),
                    }
                )
            if command.get("end"):
                break


def _write(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
