"""The webhook sender over httpx: one signed POST per attempt, to an address checked just before.

The URL's host is resolved, the addresses are shown to the guard (the outbound-URL rules), and the request
goes to the first of those addresses through `pinned_http` (the one pinned-DNS transport). Redirects are not
followed: a 3xx is a failed attempt. Every failure (timeout, refused connection, non-2xx) comes back as a
`SendResult` for the attempt record; only the guard's refusal (InvalidInput) is raised.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import httpx

from wagate.adapters.pinned_http import Resolver, default_port, pinned_client, pinned_request, resolve_host
from wagate.domain.errors import InvalidInput
from wagate.domain.outbound_urls import WEBHOOK
from wagate.ports import Guard, SendResult

RESPONSE_EXCERPT_BYTES = 512


class HttpWebhookSender:
    """Implements `wagate.ports.WebhookSender`. Safe to share between threads."""

    def __init__(self, client: httpx.Client, *, timeout: float, resolve: Resolver = resolve_host) -> None:
        self.client = client
        self.timeout = timeout
        self.resolve = resolve

    @classmethod
    def create(cls, *, timeout: float) -> HttpWebhookSender:
        client = pinned_client(timeout=timeout, purpose="webhooks")
        return cls(client, timeout=timeout)

    def addresses(self, url: str) -> Sequence[str]:
        target = httpx.URL(url)
        try:
            found = list(self.resolve(target.host, default_port(target)))
        except OSError as exc:
            raise _unreachable(url, f"its host {target.host} does not resolve ({exc})") from exc
        if not found:
            raise _unreachable(url, f"its host {target.host} has no address")
        return found

    def send(self, url: str, body: bytes, headers: Mapping[str, str], *, guard: Guard) -> SendResult:
        started = time.perf_counter()
        try:
            target = httpx.URL(url)
            addresses = self.addresses(url)
        except (InvalidInput, httpx.InvalidURL) as exc:
            return SendResult(None, _ms(started), str(getattr(exc, "message", exc)))
        guard(url, addresses)
        request = pinned_request(self.client, "POST", target, addresses[0], headers=headers, content=body)
        try:
            response = self.client.send(request, stream=True)
        except httpx.TimeoutException:
            return SendResult(None, _ms(started), f"no answer within {self.timeout:g} s")
        except httpx.ConnectError as exc:
            return SendResult(None, _ms(started), f"could not connect to {target.host} ({exc})")
        except httpx.HTTPError as exc:
            return SendResult(None, _ms(started), f"{type(exc).__name__}: {exc}")
        try:
            excerpt = _excerpt(response)
        except httpx.HTTPError as exc:  # the status counts; a body cut short only loses the excerpt
            excerpt = f"(answer cut short: {type(exc).__name__})"
        finally:
            response.close()
        latency = _ms(started)
        status = response.status_code
        if response.is_success:
            return SendResult(status, latency, None, excerpt)
        if response.is_redirect:
            location = response.headers.get("location", "")
            error = f"{status}: redirects are not followed (Location: {location}); give the final URL"
            return SendResult(status, latency, error, excerpt)
        return SendResult(status, latency, f"{status} {response.reason_phrase}".strip(), excerpt)


def _excerpt(response: httpx.Response) -> str | None:
    read = b""
    for chunk in response.iter_bytes():
        read += chunk
        if len(read) >= RESPONSE_EXCERPT_BYTES:
            break
    return read[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace") or None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _unreachable(url: str, reason: str) -> InvalidInput:
    return WEBHOOK.unreachable(url, reason)
