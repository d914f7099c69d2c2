"""Media by URL, checked when a message is accepted: https, a public address, reachable, at most 16 MB.

The rules (nothing is stored when one fails):
  * `media.url` is https; http only when the operator allows it (WAGATE_MEDIA_ALLOW_HTTP, local testing).
  * The host must resolve only to public addresses (Python's `ipaddress.is_global`): loopback, private,
    link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and
    documentation ranges are refused, as are IPv4-mapped IPv6 forms of them, unless the operator allows
    private addresses (WAGATE_MEDIA_ALLOW_PRIVATE). Every redirect target is checked again, and the probe
    connects to the very addresses that were checked (no second DNS lookup to rebind).
  * The probe (HEAD, else a one-byte ranged GET) must answer within WAGATE_MEDIA_PROBE_SECONDS with a
    size of 1 byte .. 16 MB (seed 003). Too large: 413 `media_too_large`; anything else: 422
    `media_unreachable`, naming the URL and what happened.
  * `media.upload_id`: 422 `uploads_not_available` (there is no upload API yet).
The connector downloads the file again when it sends; it should apply `check_target` to what it fetches.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from wagate.domain.errors import InvalidInput, ItemTooLarge
from wagate.domain.messages import MAX_MEDIA_BYTES, MediaContent

Guard = Callable[[str, Sequence[str]], None]
"""guard(url, addresses): raises InvalidInput when the URL, or an address its host resolved to, is refused."""


class MediaProbe(Protocol):
    """Finds how big the file at a URL is (adapters/http_media.py does it over httpx)."""

    def size(self, url: str, *, guard: Guard, limit: int) -> int:
        """The size in bytes (counting at most `limit` + 1 bytes when the server does not say).

        Calls `guard` with each URL it is about to fetch (the given one, then every redirect target) and
        the addresses its host resolved to, before connecting. Raises InvalidInput `media_unreachable`.
        """
        ...


def unreachable(url: str, reason: str) -> InvalidInput:
    return InvalidInput(
        f"media.url {url} is unreachable: {reason}",
        code="media_unreachable",
        details={"field": "media.url", "url": url, "reason": reason},
    )


@dataclass(frozen=True)
class MediaRules:
    allow_http: bool = False
    allow_private: bool = False
    max_bytes: int = MAX_MEDIA_BYTES


class MediaCheck:
    """`check(media)` raises when the media cannot be sent; the message service calls it before storing."""

    def __init__(self, probe: MediaProbe, rules: MediaRules) -> None:
        self.probe = probe
        self.rules = rules

    def __call__(self, media: MediaContent) -> None:
        if media.upload_id is not None:
            raise InvalidInput(
                "media.upload_id: uploads are not available yet; give media.url (https) instead",
                code="uploads_not_available",
                details={"field": "media.upload_id"},
            )
        assert media.url is not None  # SendRequest insists on exactly one of url and upload_id
        self.check_url(media.url)
        size = self.probe.size(media.url, guard=self.check_target, limit=self.rules.max_bytes)
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
            raise unreachable(media.url, "the file is empty")

    def check_url(self, url: str) -> None:
        """The URL's form and scheme (no I/O). Raises InvalidInput `invalid_media_url`."""
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise _invalid(url, f"it is not a URL ({exc})") from exc
        allowed = ("https", "http") if self.rules.allow_http else ("https",)
        if parts.scheme.lower() not in allowed:
            raise _invalid(
                url, "it must start with https://" if parts.scheme else "it is not an absolute URL"
            )
        if not parts.hostname:
            raise _invalid(url, "it has no host")

    def check_target(self, url: str, addresses: Sequence[str]) -> None:
        """A URL about to be fetched and the addresses its host resolved to. Raises InvalidInput."""
        self.check_url(url)
        if self.rules.allow_private:
            return
        refused = [a for a in addresses if not is_public(a)]
        if refused or not addresses:
            host = urllib.parse.urlsplit(url).hostname
            raise InvalidInput(
                f"media.url {url}: {host} is a private, loopback or reserved address ({', '.join(refused)});"
                " wagate only fetches media from public addresses",
                code="media_address_not_allowed",
                details={"field": "media.url", "url": url, "addresses": refused},
            )


def is_public(address: str) -> bool:
    """Whether an address is globally routable (IPv4-mapped IPv6 judged by the IPv4 inside it)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _invalid(url: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"media.url {url!r}: {why}",
        code="invalid_media_url",
        details={"field": "media.url", "url": url},
    )
