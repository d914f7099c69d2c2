"""Benchmark: WhatsApp media, encrypt + upload and download + decrypt, ours vs Baileys, 1 MB and 16 MB.

Both sides talk to the same media host: a plain-HTTP loopback server in its own process that stores what
is POSTed to /mms/<type>/<token> and serves it back (TLS and WhatsApp's auth are the fake edge's job in the
tests; here only our work is timed). Ours: the web engine's media hosts client (connector/engines/web/
media) with a transport that sends its https URLs over http, uploading from a file and downloading into a
file (every MAC and hash checked). Baileys: `encryptedStream` + a POST of its temporary file, then
`downloadContentFromMessage` (tests/interop/media_bench.mjs). MB/s = file size / wall time, median of
`rounds`.

Memory: peak RSS growth of this process (sampled every 2 ms) while one 16 MB file goes up and comes back
down, against the goal of less than twice the file.

    python bench/media_roundtrip.py [rounds]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "core"))

from connector.engines.web.binary.node import Node  # noqa: E402
from connector.engines.web.media import MediaHosts, MediaKind, MediaRef  # noqa: E402

MB = 1024 * 1024
INTEROP = ROOT / "tests" / "interop"


# ---- the media host (run as a child process: `media_roundtrip.py --serve`) ------------------------------


def serve() -> None:
    files: dict[str, bytes] = {}
    lock = threading.Lock()

    class Host(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                path = f"/d/{len(files)}"
                files[path] = body
            answer = json.dumps({"url": f"http://{self.headers['Host']}{path}", "direct_path": path}).encode()
            self._send(200, answer, "application/json")

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                body = files.get(self.path.split("?", 1)[0])
            self._send(200 if body is not None else 404, body or b"", "application/octet-stream")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Host)
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


# ---- ours ------------------------------------------------------------------------------------------


class _OverHttp(httpx.AsyncBaseTransport):
    """Sends the client's https:// requests as http:// to the loopback host."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http")
        return await self._inner.handle_async_request(request)


def _hosts(port: int) -> MediaHosts:
    async def query(_: Node) -> Node:
        conn = Node(
            "media_conn", {"auth": "bench", "ttl": "3600"}, [Node("host", {"hostname": f"127.0.0.1:{port}"})]
        )
        return Node("iq", {"type": "result"}, [conn])

    return MediaHosts(query, transport=_OverHttp())


async def ours(port: int, source: Path, rounds: int) -> tuple[list[float], list[float]]:
    hosts = _hosts(port)
    up: list[float] = []
    down: list[float] = []
    target = source.with_suffix(".back")
    for _ in range(rounds):
        start = time.perf_counter()
        uploaded = await hosts.upload(source, MediaKind.DOCUMENT)
        up.append(time.perf_counter() - start)
        enc = uploaded.encrypted
        ref = MediaRef(
            enc.media_key, uploaded.direct_path, "", enc.file_enc_sha256, enc.file_sha256, enc.file_length
        )
        start = time.perf_counter()
        await hosts.download_to_path(ref, MediaKind.DOCUMENT, target)
        down.append(time.perf_counter() - start)
        assert target.stat().st_size == source.stat().st_size
    target.unlink()
    return up, down


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def peak_growth(port: int, source: Path) -> int:
    """Peak RSS above the start while one file goes up and comes back down (sampled every 2 ms)."""
    base = _rss()
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    await ours(port, source, 1)
    done.set()
    sampler.join()
    return peak - base


# ---- Baileys -----------------------------------------------------------------------------------------


def baileys(port: int, source: Path, rounds: int) -> tuple[list[float], list[float]] | None:
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "@whiskeysockets").exists():
        return None
    result = subprocess.run(
        [node, str(INTEROP / "media_bench.mjs"), f"http://127.0.0.1:{port}", str(source), str(rounds)],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["ok"], "Baileys did not get the file back"
    return answer["upload_s"], answer["download_s"]


def rate(size: int, seconds: list[float]) -> float:
    return size / MB / statistics.median(seconds)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve()
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    host = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None
        port = int(host.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="wagate-media-bench-") as folder:
            growth = 0
            for size in (1 * MB, 16 * MB):
                source = Path(folder) / f"file-{size}"
                source.write_bytes(os.urandom(size))
                if size == 16 * MB:  # first, on a fresh heap
                    growth = asyncio.run(peak_growth(port, source))
                up, down = asyncio.run(ours(port, source, rounds))
                theirs = baileys(port, source, rounds)
                label = f"{size // MB} MB"
                line = f"{label:>6}  ours: up {rate(size, up):6.1f} MB/s  down {rate(size, down):6.1f} MB/s"
                if theirs is not None:
                    their_up, their_down = rate(size, theirs[0]), rate(size, theirs[1])
                    line += f"   Baileys: up {their_up:6.1f} MB/s  down {their_down:6.1f} MB/s"
                else:
                    line += "   Baileys: not installed (tests/interop: npm ci)"
                print(line)
            ratio = growth / (16 * MB)
            print(f"peak RSS growth, one 16 MB file up and down: {growth / MB:.1f} MB ({ratio:.2f}x)")
            print(f"media_roundtrip_rss_growth: {growth / MB:.1f} MB (target < 32 MB, 2x the 16 MB file)")
    finally:
        host.terminate()
        host.wait()


if __name__ == "__main__":
    main()
