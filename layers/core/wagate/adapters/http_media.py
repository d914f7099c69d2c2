"""The media probe over httpx: how big the file at a URL is (HEAD, else a one-byte ranged GET), and its bytes.

Each hop (the URL, then up to 3 redirects) is resolved once, shown to the guard with its addresses, and
fetched from those addresses through `pinned_http` (the one pinned-DNS transport). httpx errors become
InvalidInput `media_unreachable` naming what happened; the whole probe shares one deadline.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterator, Sequence

import httpx

from wagate.adapters.pinned_http import Resolver, default_port, pinned_client, pinned_request, resolve_host
from wagate.domain.errors import ItemTooLarge
from wagate.domain.outbound_urls import MEDIA
from wagate.ports import Guard

unreachable = MEDIA.unreachable
MAX_REDIRECTS = 3
DOWNLOAD_SECONDS = 20.0  # a whole download (16 MB at ~1 MB/s), within API Gateway's 30 s
_CONTENT_RANGE = re.compile(r"^bytes\s+(?:\d+-\d+|\*)/(\d+|\*)$", re.IGNORECASE)


class _Unconnectable(Exception):
    pass


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


class HttpMediaProbe:
    """Implements `wagate.ports.MediaProbe`."""

    def __init__(self, client: httpx.Client, *, timeout: float, resolve: Resolver = resolve_host) -> None:
        self.client = client
        self.timeout = timeout
        self.resolve = resolve

    @classmethod
    def create(cls, *, timeout: float) -> HttpMediaProbe:
        client = pinned_client(timeout=timeout, purpose="media check")
        return cls(client, timeout=timeout)

    def size(self, url: str, *, guard: Guard, limit: int) -> int:
        deadline = time.monotonic() + self.timeout
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                target = httpx.URL(current)
            except httpx.InvalidURL as exc:
                what = "it is not a valid URL" if current == url else f"it redirects to {current!r}"
                raise unreachable(url, f"{what} ({exc})") from exc
            addresses = self._addresses(url, target)
            guard(current, addresses)
            try:
                return self._size_from_any(url, target, addresses, deadline, limit)
            except _Redirect as hop:
                current = urllib.parse.urljoin(current, hop.location)
        raise unreachable(url, f"more than {MAX_REDIRECTS} redirects")

    def fetch(self, url: str, *, guard: Guard, limit: int) -> Iterator[bytes]:
        """Streams the file (the Evolution surface stores a URL's file for `web` sessions). Each hop is
        guarded and pinned as in `size`; the whole download shares one deadline of DOWNLOAD_SECONDS."""
        deadline = time.monotonic() + max(self.timeout, DOWNLOAD_SECONDS)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                target = httpx.URL(current)
            except httpx.InvalidURL as exc:
                what = "it is not a valid URL" if current == url else f"it redirects to {current!r}"
                raise unreachable(url, f"{what} ({exc})") from exc
            addresses = self._addresses(url, target)
            guard(current, addresses)
            response = self._get_from_any(url, target, addresses, deadline)
            if response.is_redirect:
                response.close()
                location = response.headers.get("location")
                if not location:
                    raise unreachable(url, f"it answered {response.status_code} without a Location")
                current = urllib.parse.urljoin(current, location)
                continue
            if not response.is_success:
                response.close()
                raise unreachable(url, f"it answered {response.status_code} {response.reason_phrase}".strip())
            return _body(url, response, limit, deadline)
        raise unreachable(url, f"more than {MAX_REDIRECTS} redirects")

    def _get_from_any(
        self, url: str, target: httpx.URL, addresses: Sequence[str], deadline: float
    ) -> httpx.Response:
        for n, address in enumerate(addresses):
            request = pinned_request(self.client, "GET", target, address, timeout=_left(url, deadline))
            try:
                return self.client.send(request, stream=True)
            except httpx.ConnectError as exc:
                if n == len(addresses) - 1:
                    raise unreachable(url, f"could not connect to {target.host} ({exc})") from exc
            except httpx.TimeoutException as exc:
                raise unreachable(url, f"no answer within {self.timeout:g} s") from exc
            except httpx.HTTPError as exc:
                raise unreachable(url, f"{type(exc).__name__}: {exc}") from exc
        raise unreachable(url, f"its host {target.host} has no address")

    def _size_from_any(
        self, url: str, target: httpx.URL, addresses: Sequence[str], deadline: float, limit: int
    ) -> int:
        """Tries the checked addresses in turn while they refuse the connection (IPv6 first, say)."""
        for address in addresses[:-1]:
            try:
                return self._size_at(url, target, address, deadline, limit)
            except _Unconnectable:
                continue
        try:
            return self._size_at(url, target, addresses[-1], deadline, limit)
        except _Unconnectable as exc:
            raise unreachable(url, f"could not connect to {target.host} ({exc.__cause__})") from exc

    def _addresses(self, url: str, target: httpx.URL) -> Sequence[str]:
        try:
            addresses = self.resolve(target.host, default_port(target))
        except OSError as exc:
            raise unreachable(url, f"its host {target.host} does not resolve ({exc})") from exc
        if not addresses:
            raise unreachable(url, f"its host {target.host} has no address")
        return addresses

    def _size_at(self, url: str, target: httpx.URL, address: str, deadline: float, limit: int) -> int:
        try:
            head = self.client.send(
                pinned_request(self.client, "HEAD", target, address, timeout=_left(url, deadline))
            )
            _raise_redirect(url, head)
            length = _int_header(head, "content-length")
            if head.is_success and length:  # 0 from HEAD is often a dynamic page's guess: ask GET
                return length
            # No size, or HEAD refused (some stores sign URLs for GET only): ask for the first byte.
            size = self._get(url, target, address, {"Range": "bytes=0-0"}, deadline, limit)
            if size is None:  # a partial answer that does not say the total: fetch it whole, counting
                size = self._get(url, target, address, {}, deadline, limit)
            return size if size is not None else 0
        except httpx.TimeoutException as exc:
            raise unreachable(url, f"no answer within {self.timeout:g} s") from exc
        except httpx.ConnectError as exc:
            raise _Unconnectable() from exc
        except httpx.HTTPError as exc:
            raise unreachable(url, f"{type(exc).__name__}: {exc}") from exc

    def _get(
        self,
        url: str,
        target: httpx.URL,
        address: str,
        headers: dict[str, str],
        deadline: float,
        limit: int,
    ) -> int | None:
        request = pinned_request(
            self.client, "GET", target, address, headers=headers, timeout=_left(url, deadline)
        )
        response = self.client.send(request, stream=True)
        try:
            _raise_redirect(url, response)
            if response.status_code == 416:
                return 0  # not even a first byte: the file is empty
            if not response.is_success:
                reason = f"it answered {response.status_code} {response.reason_phrase}".strip()
                raise unreachable(url, reason)
            if response.status_code == 206:
                match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
                return int(match.group(1)) if match and match.group(1) != "*" else None
            length = _int_header(response, "content-length")
            if length is not None:
                return length  # the server ignored the range: its length says it all; the body is not read
            # The server does not say how big it is: count, up to one byte past the limit.
            counted = 0
            for chunk in response.iter_bytes():
                counted += len(chunk)
                if counted > limit:
                    break
                _left(url, deadline)
            return counted
        finally:
            response.close()


def _body(url: str, response: httpx.Response, limit: int, deadline: float) -> Iterator[bytes]:
    """The answer's bytes, refused past `limit` (a Content-Length over it at once), closed in the end."""
    try:
        length = _int_header(response, "content-length")
        if length is not None and length > limit:
            raise _too_large(url, length, limit)
        counted = 0
        for chunk in response.iter_bytes():
            counted += len(chunk)
            if counted > limit:
                raise _too_large(url, counted, limit)
            _left(url, deadline)
            yield chunk
    except httpx.TimeoutException as exc:
        raise unreachable(url, "the download stalled") from exc
    except httpx.HTTPError as exc:
        raise unreachable(url, f"{type(exc).__name__}: {exc}") from exc
    finally:
        response.close()


def _too_large(url: str, size: int, limit: int) -> ItemTooLarge:
    return ItemTooLarge(
        f"media {url} is more than {limit} bytes",
        code="media_too_large",
        details={"field": "media", "url": url, "bytes": size, "limit": limit},
    )


def _raise_redirect(url: str, response: httpx.Response) -> None:
    if response.is_redirect:
        location = response.headers.get("location")
        if not location:
            raise unreachable(url, f"it answered {response.status_code} without a Location")
        raise _Redirect(location)


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name, "")
    return int(value) if value.isdigit() else None


def _left(url: str, deadline: float) -> float:
    """Seconds left for the probe; raises `media_unreachable` once the deadline has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise unreachable(url, "no complete answer in time")
    return left
