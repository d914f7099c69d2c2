"""The one pinned-DNS httpx transport for URLs a tenant gave us (media probes, CRM webhooks).

A host is resolved once, its addresses are shown to a guard (the outbound-URL rules), and the request goes
to one of those very addresses with the name kept in the Host header and TLS SNI, so DNS cannot answer
differently between the check and the connection. Connections are never kept alive (a pooled connection is
keyed by address and could carry another name), redirects are never followed (each hop is the caller's to
check), and proxies from the environment are ignored (we connect to the checked address, not through one).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence

import httpx

from wagate import __version__

Resolver = Callable[[str, int], Sequence[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses (an IP literal is its own). Raises OSError when it does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def pinned_client(*, timeout: float, purpose: str) -> httpx.Client:
    """An httpx client set up for pinned requests (`purpose` goes in the User-Agent)."""
    return httpx.Client(
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0, max_connections=None),
        timeout=timeout,
        headers={"User-Agent": f"wagate/{__version__} ({purpose})"},
    )


def default_port(target: httpx.URL) -> int:
    return target.port or (443 if target.scheme == "https" else 80)


def pinned_request(
    client: httpx.Client,
    method: str,
    target: httpx.URL,
    address: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float | None = None,
) -> httpx.Request:
    """A request for `target` that connects to `address` (checked), naming the host in Host and SNI."""
    options: dict[str, object] = {} if timeout is None else {"timeout": timeout}
    return client.build_request(
        method,
        target.copy_with(host=address),
        content=content,
        headers={**(headers or {}), "Host": target.netloc.decode("ascii")},
        extensions={"sni_hostname": target.host},
        **options,  # type: ignore[arg-type]
    )
