"""TLS for the WebSocket to the edge: one verifying client context per trust source, shared by all sessions.

WhatsApp's edge (`wss://web.whatsapp.com`) presents a certificate from a public CA, so the default is the
system trust store exactly as OpenSSL finds it (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured; that is how a
TLS-intercepting proxy's CA or a test CA gets in). Where the machine has no store at all (a bare container),
certifi's bundle stands in. An operator may instead name one PEM bundle (`WAGATE_WA_CA_FILE`).

A context holds the parsed CA store (hundreds of kilobytes), so it is built once per process and reused by
every session, never per connection. For the same reason asyncio's per-connection TLS read buffer is
trimmed (see `_trim_tls_read_buffer`): thousands of mostly idle sockets are the connector's normal state.
"""

from __future__ import annotations

import asyncio.sslproto
import functools
import ssl

from connector.engines.web.errors import WebEngineError


class TrustStoreError(WebEngineError):
    """The configured CA bundle cannot be read: a configuration error, retrying will not help."""

    code = "web_trust_store_invalid"


@functools.lru_cache(maxsize=8)
def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A TLS client context that verifies the edge's certificate and host name (TLS 1.2+).

    Raises TrustStoreError when `ca_file` is given but is not a readable PEM bundle.
    """
    if ca_file:
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TrustStoreError(f"cannot load the CA bundle {ca_file!r}: {exc}") from exc
    else:
        context = ssl.create_default_context()
        paths = ssl.get_default_verify_paths()
        if paths.cafile is None and paths.capath is None:
            _load_certifi(context)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _trim_tls_read_buffer()
    return context


TLS_READ_BUFFER = 16 * 1024  # the most plaintext one TLS record carries


def _trim_tls_read_buffer() -> None:
    """asyncio gives every TLS connection a 256 KiB read buffer, zero-filled and so resident: 10,000 idle
    sessions would hold 2.5 GB for nothing. One SSL_read returns at most one TLS record (16 KiB of
    plaintext), so 16 KiB costs no extra reads (measured per connection end: 290 → 51 KiB). Process-wide
    (asyncio offers no per-connection knob); it only lowers the size, never raises one a host chose."""
    protocol = asyncio.sslproto.SSLProtocol
    if getattr(protocol, "max_size", 0) > TLS_READ_BUFFER:
        protocol.max_size = TLS_READ_BUFFER


def _load_certifi(context: ssl.SSLContext) -> None:
    try:
        import certifi  # an httpx dependency; only needed where the system has no trust store
    except ImportError:
        return  # connecting then fails with a clear certificate-verify error
    context.load_verify_locations(cafile=certifi.where())
