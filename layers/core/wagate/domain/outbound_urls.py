"""Outbound-URL safety (SSRF rules) for every URL wagate calls on a tenant's behalf: media and CRM webhooks.

The rules, checked without I/O (the adapters resolve the host and connect to the very addresses checked,
through `adapters/pinned_http.py`, so DNS cannot answer differently between the check and the request):
  * https only, unless the operator allows http (local development);
  * a host, and a port that is a number;
  * every address the host resolves to is public (`is_public`): loopback, private, link-local (cloud
    metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and documentation ranges are
    refused, IPv4-mapped IPv6 forms too — unless the operator allows private addresses.
A `UrlUse` says which request field is checked and how refusals read (error codes keep their names:
`invalid_media_url`, `media_address_not_allowed`, `media_unreachable`, and the same three for webhooks).
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from wagate.domain.errors import InvalidInput


@dataclass(frozen=True)
class UrlUse:
    """What a URL is for, as refusals name it."""

    field: str  # the request field: "media.url", "url"
    invalid_code: str
    address_code: str
    unreachable_code: str
    refusal: str  # the end of the address refusal: "wagate only ... public addresses"

    def unreachable(self, url: str, reason: str) -> InvalidInput:
        """The error for a URL that could not be resolved, connected to, or answered badly."""
        return InvalidInput(
            f"{self.field} {url} is unreachable: {reason}",
            code=self.unreachable_code,
            details={"field": self.field, "url": url, "reason": reason},
        )


MEDIA = UrlUse(
    field="media.url",
    invalid_code="invalid_media_url",
    address_code="media_address_not_allowed",
    unreachable_code="media_unreachable",
    refusal="is a private, loopback or reserved address ({refused}); "
    "wagate only fetches media from public addresses",
)
WEBHOOK = UrlUse(
    field="url",
    invalid_code="invalid_webhook_url",
    address_code="webhook_address_not_allowed",
    unreachable_code="webhook_unreachable",
    refusal="resolves to a private, loopback or reserved address ({refused}); "
    "wagate only calls webhooks on public addresses",
)


@dataclass(frozen=True)
class UrlPolicy:
    """The operator's choices for one use (WAGATE_MEDIA_ALLOW_*, WAGATE_WEBHOOKS_ALLOW_*)."""

    use: UrlUse
    allow_http: bool = False
    allow_private: bool = False

    def check_url(self, url: str) -> None:
        """The URL's form and scheme (no I/O). Raises InvalidInput (`use.invalid_code`)."""
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise self._invalid(url, f"it is not a URL ({exc})") from exc
        allowed = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme.lower() not in allowed:
            why = "it must start with https://" if parts.scheme else "it is not an absolute URL"
            raise self._invalid(url, why)
        if not parts.hostname:
            raise self._invalid(url, "it has no host")

    def check_target(self, url: str, addresses: Sequence[str]) -> None:
        """A URL about to be called and the addresses its host resolved to (a `ports.Guard`).
        Raises InvalidInput (`use.invalid_code`, `use.address_code`)."""
        self.check_url(url)
        if self.allow_private:
            return
        refused = [a for a in addresses if not is_public(a)]
        if refused or not addresses:
            host = urllib.parse.urlsplit(url).hostname
            raise InvalidInput(
                f"{self.use.field} {url}: {host} " + self.use.refusal.format(refused=", ".join(refused)),
                code=self.use.address_code,
                details={"field": self.use.field, "url": url, "addresses": refused},
            )

    def _invalid(self, url: str, why: str) -> InvalidInput:
        return InvalidInput(
            f"{self.use.field} {url!r}: {why}",
            code=self.use.invalid_code,
            details={"field": self.use.field, "url": url},
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
