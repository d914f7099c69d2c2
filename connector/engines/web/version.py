"""The WhatsApp Web version the engine claims: parse it from configuration, or fetch the current one.

WhatsApp refuses clients that claim an outdated version (`<failure reason="405">`), and the version moves
every few weeks. It is therefore configuration (`WAGATE_WA_VERSION`, e.g. `2.3000.1035194821`), never a
constant buried in the code. To find the current one at deploy time:

    python -m connector.engines.web.version        # prints e.g. 2.3000.1035194821

which reads `client_revision` from web.whatsapp.com's service worker script, as WhatsApp Web itself does.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Final

import httpx

WaVersion = tuple[int, int, int]

DEFAULT_WA_VERSION: Final[WaVersion] = (2, 3000, 1035194821)
"""What Baileys 7.0.0-rc13 shipped with: a sane fallback only. Fetch the current one at deploy time."""

SERVICE_WORKER_URL: Final = "https://web.whatsapp.com/sw.js"
_REVISION = re.compile(rb'\\?"client_revision\\?":\s*(\d+)')
_VERSION = re.compile(r"(\d{1,10})\.(\d{1,10})\.(\d{1,10})")


def parse_version(text: str) -> WaVersion:
    """`"2.3000.1035194821"` → `(2, 3000, 1035194821)`. Raises ValueError for anything else."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a WhatsApp Web version (expected like 2.3000.1035194821): {text!r}")
    primary, secondary, tertiary = (int(part) for part in match.groups())
    if max(primary, secondary, tertiary) >= 1 << 32:
        raise ValueError(f"WhatsApp Web version parts are 32-bit: {text!r}")
    return primary, secondary, tertiary


def format_version(version: WaVersion) -> str:
    return ".".join(str(part) for part in version)


def revision_from_service_worker(script: bytes) -> WaVersion:
    """The version announced by web.whatsapp.com's sw.js. Raises ValueError if it names none."""
    match = _REVISION.search(script)
    if match is None:
        raise ValueError("no client_revision in the WhatsApp Web service worker script")
    return 2, 3000, int(match.group(1))


async def fetch_current_version(client: httpx.AsyncClient, url: str = SERVICE_WORKER_URL) -> WaVersion:
    """Ask web.whatsapp.com for its current version. Raises httpx.HTTPError, ValueError."""
    response = await client.get(url, headers={"sec-fetch-site": "none", "user-agent": _BROWSER_AGENT})
    response.raise_for_status()
    return revision_from_service_worker(response.content)


_BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


async def _main() -> int:
    async with httpx.AsyncClient(timeout=20, follow_redirects=True) as client:
        try:
            version = await fetch_current_version(client)
        except (httpx.HTTPError, ValueError) as exc:
            print(f"cannot fetch the WhatsApp Web version: {exc}", file=sys.stderr)  # noqa: T201
            return 1
    print(format_version(version))  # noqa: T201  (a command-line tool)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
