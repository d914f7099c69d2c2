"""Serves the dashboard's static files for `wagate serve`: `/` (index.html), `/config.json`, `/assets/...`.

Only GET and HEAD of those paths are claimed; everything else (the template's HTTP API routes, the
WebSocket API) passes by untouched. On AWS the same directory is uploaded to S3 behind CloudFront.
"""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from local.asgi import Receive, Scope, Send, send_response
from local.http_events import HttpResponse

ASSETS_PREFIX = "/assets/"
INDEX = "index.html"
CONFIG = "config.json"  # optional: where the API and the socket are, when not at the page's own origin

# Explicit, so the answer does not depend on the host's mime.types (module scripts need a JS type).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

# The page talks to its own origin (or config.json's API) and to the socket; nothing inline, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' http: https: ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass(frozen=True)
class _File:
    path: Path
    content_type: str


class StaticFiles:
    """The files under `root`, as a dashboard needs them. Never serves dotfiles or anything outside root."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def claims(self, scope: Scope) -> bool:
        """True for the requests this branch answers (a 404 included, for a missing asset)."""
        if scope["method"] not in ("GET", "HEAD"):
            return False
        path: str = scope["path"]
        return path in ("/", "/" + INDEX, "/" + CONFIG) or path.startswith(ASSETS_PREFIX)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.resolve(scope["path"])
        if found is None:
            await send_response(send, _not_found())
            return
        try:
            body = await asyncio.to_thread(found.path.read_bytes)
            modified = found.path.stat().st_mtime
        except OSError:
            await send_response(send, _not_found())
            return
        headers = [
            ("content-type", found.content_type),
            # Unhashed names: always revalidate, so an upgraded dashboard is picked up at once.
            ("cache-control", "no-cache"),
            ("last-modified", email.utils.formatdate(modified, usegmt=True)),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ]
        if found.content_type.startswith("text/html"):
            headers.append(("content-security-policy", CONTENT_SECURITY_POLICY))
        response = HttpResponse(status=200, headers=headers, body=body)
        await send_response(send, response, head=scope["method"] == "HEAD")

    def resolve(self, url_path: str) -> _File | None:
        """The file a URL path names, or None (missing, hidden, outside the root, or not a regular file)."""
        if url_path == "/":
            url_path = "/" + INDEX
        relative = PurePosixPath(url_path.lstrip("/"))
        if "\x00" in url_path or any(part in ("..", "") or part.startswith(".") for part in relative.parts):
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        content_type = CONTENT_TYPES.get(candidate.suffix.lower())
        if content_type is None:
            return None  # only the kinds of files a dashboard is made of
        return _File(candidate, content_type)


def _not_found() -> HttpResponse:
    return HttpResponse(
        status=404,
        headers=[("content-type", "text/plain; charset=utf-8"), ("x-content-type-options", "nosniff")],
        body=b"Not Found",
    )
