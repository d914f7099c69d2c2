"""An asyncio child process speaking JSON lines (a node script, or the fake edge's command line).

Reads are bounded, so a peer that stops answering fails the test (or benchmark) instead of hanging it;
stderr is kept for the failure message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def node_trust(ca_file: str) -> dict[str, str]:
    """Environment that makes a node child trust the fake edge's per-run CA (read once at node start)."""
    return {"NODE_EXTRA_CA_CERTS": ca_file}


class PeerStopped(Exception):
    """The child exited or went quiet; the message carries its stderr."""


class JsonLinesProcess:
    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self._process = process
        self._name = name

    @classmethod
    async def start(
        cls, command: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None
    ) -> JsonLinesProcess:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        return cls(process, Path(command[-1]).name if command else "child")

    @property
    def pid(self) -> int:
        return self._process.pid

    async def send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message).encode() + b"\n")
        await self._process.stdin.drain()

    async def read(self, timeout: float = 30) -> dict[str, Any]:
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), timeout)
        except TimeoutError:
            raise PeerStopped(f"{self._name} said nothing for {timeout} s{await self._stderr()}") from None
        if not line:
            raise PeerStopped(f"{self._name} exited ({await self._process.wait()}){await self._stderr()}")
        message: dict[str, Any] = json.loads(line)
        return message

    async def read_until(self, key: str, timeout: float = 30) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The first message holding `key`, and every message before it."""
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while key not in (message := await self.read(timeout)):
                seen.append(message)
        return message, seen

    async def close(self, goodbye: dict[str, Any] | None = None, timeout: float = 10) -> None:
        if self._process.returncode is None and goodbye is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self.send(goodbye)
        try:
            await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()

    async def _stderr(self) -> str:
        if self._process.stderr is None:
            return ""
        with contextlib.suppress(TimeoutError):
            if self._process.returncode is None:
                self._process.kill()
            data = await asyncio.wait_for(self._process.stderr.read(), 5)
            return f"; stderr:\n{data.decode(errors='replace')[-4000:]}"
        return ""
