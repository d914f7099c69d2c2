"""Media by URL, checked when a message is accepted: https, a public address, reachable, at most 16 MB.

The rules (nothing is stored when one fails):
  * `media.url` obeys the outbound-URL rules (`wagate.domain.outbound_urls`: https, public addresses),
    relaxed by WAGATE_MEDIA_ALLOW_HTTP / WAGATE_MEDIA_ALLOW_PRIVATE. Every redirect target is checked
    again, and the probe connects to the very addresses that were checked (no second DNS lookup to rebind).
  * The probe (HEAD, else a one-byte ranged GET) must answer within WAGATE_MEDIA_PROBE_SECONDS with a
    size of 1 byte .. 16 MB (seed 003). Too large: 413 `media_too_large`; anything else: 422
    `media_unreachable`, naming the URL and what happened.
  * `media.upload_id` names a stored file instead (services/media_files.py; MessageService checks it).
The connector downloads the file again when it sends; it should apply `check_target` to what it fetches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from wagate.domain.errors import InvalidInput, ItemTooLarge
from wagate.domain.messages import MAX_MEDIA_BYTES, MediaContent
from wagate.domain.outbound_urls import MEDIA, UrlPolicy
from wagate.ports import MediaProbe


@dataclass(frozen=True)
class MediaRules:
    urls: UrlPolicy = field(default_factory=lambda: UrlPolicy(MEDIA))
    max_bytes: int = MAX_MEDIA_BYTES


class MediaCheck:
    """`check(media)` raises when the media cannot be sent; the message service calls it before storing."""

    def __init__(self, probe: Callable[[], MediaProbe], rules: MediaRules) -> None:
        self._probe = probe  # resolved per check: the probe's HTTP client is made only when media comes
        self.rules = rules

    def __call__(self, media: MediaContent) -> None:
        if media.url is None:
            raise InvalidInput("media.url is required here", details={"field": "media.url"})
        self.check_url(media.url)
        size = self._probe().size(media.url, guard=self.check_target, limit=self.rules.max_bytes)
        if size > self.rules.max_bytes:
            raise ItemTooLarge(
                f"media.url {media.url} is {size} bytes; WhatsApp takes at most {self.rules.max_bytes}",
                code="media_too_large",
                details={
                    "field": "media.url",
                    "url": media.url,
                    "bytes": size,
                    "limit": self.rules.max_bytes,
                },
            )
        if size == 0:
            raise MEDIA.unreachable(media.url, "the file is empty")

    def download(self, url: str, limit: int) -> Iterator[bytes]:
        """The bytes at `url`, under the same rules as a send by URL (each hop checked, pinned), at most
        `limit` bytes. Raises InvalidInput `invalid_media_url` / `media_unreachable`, ItemTooLarge."""
        self.check_url(url)
        return self._probe().fetch(url, guard=self.check_target, limit=limit)

    def check_url(self, url: str) -> None:
        """The URL's form and scheme (no I/O). Raises InvalidInput `invalid_media_url`."""
        self.rules.urls.check_url(url)

    def check_target(self, url: str, addresses: Sequence[str]) -> None:
        """A URL about to be fetched and the addresses its host resolved to. Raises InvalidInput."""
        self.rules.urls.check_target(url, addresses)
