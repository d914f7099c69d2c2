"""The fake phone's history sync, read by Baileys: downloaded from the fake edge's media hosts over TLS,
decrypted with History keys, inflated and parsed by Baileys' own history code, it yields the same
number ↔ LID pairs our engine reads from the same blob (so the fake speaks what a real client reads)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from connector.engines.web.history import read_history
from tests.fakes.whatsapp_edge import FakeEdge
from tests.fakes.whatsapp_edge.history import history_blob, publish_history

pytestmark = pytest.mark.interop


def test_baileys_reads_the_history_the_fake_phone_publishes(interop_dir: Path) -> None:
    async def main() -> None:
        async with FakeEdge() as edge:
            alice = edge.state.account("15550001111")
            for phone in ("15550002222", "15550003333", "15550004444"):
                edge.state.account(phone)
            blob = history_blob(edge.state, alice)
            notification = publish_history(edge.media, blob)
            node = shutil.which("node")
            assert node is not None
            process = await asyncio.create_subprocess_exec(
                node,
                str(interop_dir / "history_download.mjs"),
                cwd=interop_dir,
                env={**os.environ, "NODE_EXTRA_CA_CERTS": edge.ca_file},
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            request = {
                "mediaKey": notification.mediaKey.hex(),
                "directPath": notification.directPath,
                "host": edge.media.host,
            }
            out, err = await asyncio.wait_for(process.communicate(json.dumps(request).encode()), 60)
            assert process.returncode == 0, err.decode(errors="replace")
            theirs = json.loads(out)
            assert len(edge.media.downloads) == 1  # Baileys fetched it from the media host
            ours = read_history(blob)
            pairs = {(m["pn"].split("@")[0], m["lid"].split("@")[0]) for m in theirs["lidPnMappings"]}
            assert pairs == set(ours.pairs.items()) and len(pairs) == 3
            assert theirs["messages"] == 9  # three per chat
            assert edge.unhandled == []

    asyncio.run(main())
