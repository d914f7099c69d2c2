"""The WhatsApp Web version the engine claims: fetched from WhatsApp at connect, cached, or pinned.

WhatsApp refuses clients that claim an outdated version (`<failure reason="405">`) and the version moves
every few weeks, so a built-in constant goes stale on its own. Like Baileys' `fetchLatestWaWebVersion`, the
engine reads `client_revision` from web.whatsapp.com's service worker script (`/sw.js`, fetched with a
browser's user agent and `sec-fetch-site: none`) and claims `2.3000.<revision>`. One `VersionSource` per
process caches it for hours, so thousands of sessions reconnecting cost one request; when WhatsApp cannot be
asked, the last known (or built-in) version is used. A 405 marks the version stale: the next connect fetches
again (at most once a minute), so a release of WhatsApp Web costs each session one quick retry instead of
ending it. An operator may pin a version (`WAGATE_WA_VERSION`); a pin that WhatsApp refuses gives way to
the fetched one (with a warning) rather than keep every session down.

    python -m connector.engines.web.version        # prints the current one, e.g. 2.3000.1035194821
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import sys
import time
from collections.abc import Callable
from typing import Final, Literal

import httpx

WaVersion = tuple[int, int, int]

DEFAULT_WA_VERSION: Final[WaVersion] = (2, 3000, 1035194821)
"""What Baileys 7.0.0-rc13 shipped with: the fallback when WhatsApp cannot be asked and nothing is known."""

log = logging.getLogger(__name__)

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


class VersionSource:
    """The version to claim, shared by every session of a process. Never raises: falls back instead.

    `current()` answers from the cache while it is fresh; otherwise one caller fetches (the others wait for
    that same fetch), with a short timeout. `refused(version)` is what a 405 means: that version is stale.
    """

    def __init__(
        self,
        *,
        pinned: WaVersion | None = None,
        url: str = SERVICE_WORKER_URL,
        cache_seconds: float = 6 * 3600,
        timeout: float = 5.0,
        refetch_seconds: float = 60.0,
        verify: ssl.SSLContext | bool = True,
        proxy: str | Literal[True] | None = True,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._pinned = pinned
        self._url = url
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._refetch_seconds = refetch_seconds  # the least time between two fetches (failed or refused)
        self._verify = verify
        self._proxy = proxy
        self._clock = clock
        self._transport = transport
        self._known: WaVersion | None = None  # the last version WhatsApp announced
        self._fetched_at: float | None = None  # when we last asked (successfully or not)
        self._fresh_until = 0.0
        self._refused: set[WaVersion] = set()
        self._fetch_now = False  # a 405 refused what we know: ask again at once (once)
        self._lock = asyncio.Lock()
        self.fetches = 0  # requests sent to WhatsApp, for tests and the benchmark

    @property
    def fallback(self) -> WaVersion:
        """The best version known without asking: announced, pinned, built in (unrefused ones first)."""
        candidates = [v for v in (self._known, self._pinned, DEFAULT_WA_VERSION) if v is not None]
        return next((v for v in candidates if v not in self._refused), candidates[0])

    async def current(self) -> WaVersion:
        """The version to claim now (the pin while WhatsApp has not refused it)."""
        if self._pinned is not None and self._pinned not in self._refused:
            return self._pinned
        if self._clock() < self._fresh_until:
            return self.fallback
        async with self._lock:  # one fetch for every session asking at the same time
            now = self._clock()
            if self._fetch_now or (now >= self._fresh_until and not self._recently_fetched(now)):
                await self._fetch()
        return self.fallback

    def refused(self, version: WaVersion) -> None:
        """WhatsApp answered 405 to `version`: stop trusting the cache (the next current() fetches)."""
        if version == self.fallback:  # not yet replaced by a newer answer (another session's 405)
            self._fresh_until = 0.0
            self._fetch_now = True
        self._refused.add(version)
        if version == self._pinned:
            log.warning(
                "WhatsApp refuses the pinned version %s (405); using the current one", format_version(version)
            )

    def _recently_fetched(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self._refetch_seconds

    async def _fetch(self) -> None:
        self._fetched_at = self._clock()
        self._fetch_now = False
        self.fetches += 1
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout,
                verify=self._verify,
                proxy=None if self._proxy is True else self._proxy,
                trust_env=self._proxy is True,
                follow_redirects=True,
                transport=self._transport,
            ) as client:
                version = await fetch_current_version(client, self._url)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "cannot fetch the WhatsApp Web version from %s (%s); claiming %s",
                self._url,
                exc,
                format_version(self.fallback),
            )
            return
        if version != self._known:
            log.info("WhatsApp Web version: %s", format_version(version))
        self._known = version
        self._fresh_until = self._fetched_at + self._cache_seconds


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
