"""Benchmark: CPU time of one Noise handshake, client side: ours in-process vs Baileys' in node.

Both initiators run the same transcript: fixed client keys, and the ServerHello our test responder
produced for them once (test root, intermediate and leaf certificates), so each iteration is exactly the
work a connecting session pays: ClientHello, ServerHello processing with two certificate signature
checks, and the encrypted ClientFinish. The responder's own cost is printed for the record.

    python bench/noise_handshake.py [iterations]   (Baileys runs a tenth of them: ~20 ms each)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from connector.engines.web.crypto.curve import KeyPair
from connector.engines.web.noise.certificates import ServerTrust
from connector.engines.web.noise.handshake import NoiseClient
from connector.engines.web.noise.responder import NoiseResponder, issue_chain

INTEROP = Path(__file__).resolve().parents[1] / "tests" / "interop"
NOW = 1_750_000_000


def _key(label: str) -> KeyPair:
    return KeyPair.from_private(hashlib.sha256(f"wagate noise bench/{label}".encode()).digest())


ROOT, INTERMEDIATE, SERVER, CLIENT_STATIC, CLIENT_EPHEMERAL = map(
    _key, ["root", "intermediate", "server", "client static", "client ephemeral"]
)
CHAIN = issue_chain(
    root=ROOT, intermediate=INTERMEDIATE, leaf_key=SERVER.public, not_before=NOW - 3600, not_after=NOW + 3600
)
TRUST = ServerTrust(root_public_key=ROOT.public, clock=lambda: NOW)
CLIENT_PAYLOAD = bytes(300)  # about the size of a login ClientPayload


def _client() -> NoiseClient:
    return NoiseClient(
        noise_key=CLIENT_STATIC, client_payload=CLIENT_PAYLOAD, trust=TRUST, ephemeral=CLIENT_EPHEMERAL
    )


def _server_hello() -> bytes:
    responder = NoiseResponder(static=SERVER, certificate_chain=CHAIN)
    responder.receive_data(_client().initiate())
    return responder.data_to_send()


def ours(server_hello: bytes, iterations: int) -> float:
    """CPU ms per client handshake."""
    for _ in range(min(100, iterations)):
        _one_handshake(server_hello)
    start = time.process_time()
    for _ in range(iterations):
        _one_handshake(server_hello)
    return (time.process_time() - start) * 1000 / iterations


def _one_handshake(server_hello: bytes) -> None:
    client = _client()
    client.initiate()
    client.receive_data(server_hello)
    if not client.data_to_send():
        raise RuntimeError("no ClientFinish: the transcript is broken")


def responder_cost(iterations: int) -> float:
    """CPU ms per responder handshake (fresh client keys each time; the client's share excluded)."""
    total = 0.0
    for _ in range(iterations):
        client = NoiseClient(noise_key=CLIENT_STATIC, client_payload=CLIENT_PAYLOAD, trust=TRUST)
        hello = client.initiate()
        responder = NoiseResponder(static=SERVER, certificate_chain=CHAIN)
        start = time.process_time()
        responder.receive_data(hello)
        server_hello = responder.data_to_send()
        total += time.process_time() - start
        client.receive_data(server_hello)
        finish = client.data_to_send()
        start = time.process_time()
        responder.receive_data(finish)
        total += time.process_time() - start
    return total * 1000 / iterations


def baileys(server_hello: bytes, iterations: int) -> float | None:
    """Baileys' CPU ms per client handshake on the same transcript, or None without node/Baileys."""
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "@whiskeysockets" / "baileys").is_dir():
        return None
    request: dict[str, Any] = {
        "root": ROOT.public.hex(),
        "ephemeral": {"private": CLIENT_EPHEMERAL.private.hex(), "public": CLIENT_EPHEMERAL.public.hex()},
        "noiseKey": {"private": CLIENT_STATIC.private.hex(), "public": CLIENT_STATIC.public.hex()},
        "routingInfo": None,
        "serverHello": server_hello.hex(),
        "clientPayload": CLIENT_PAYLOAD.hex(),
        "clientFrames": [],
        "serverStream": "",
    }
    done = subprocess.run(
        [node, "noise_vectors.mjs", "bench", str(iterations)],
        input=json.dumps(request).encode(),
        capture_output=True,
        cwd=INTEROP,
        timeout=600,
        check=True,
    )
    result: float = json.loads(done.stdout)["cpuMsPerHandshake"]
    return result


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    server_hello = _server_hello()
    ours_ms = ours(server_hello, iterations)
    theirs_iterations = max(20, iterations // 10)
    theirs_ms = baileys(server_hello, theirs_iterations)
    print(f"responder (fake edge side): {responder_cost(min(iterations, 500)):.3f} ms CPU/handshake")
    print(f"ours:    {ours_ms:.3f} ms CPU/handshake over {iterations} handshakes")
    if theirs_ms is None:
        print("Baileys: skipped (node or tests/interop/node_modules missing)")
        print(
            f"noise_handshake: {ours_ms:.3f} ms/handshake (Baileys: n/a, ratio n/a; target: for the record)"
        )
        return
    print(f"Baileys: {theirs_ms:.3f} ms CPU/handshake over {theirs_iterations} handshakes")
    print(
        f"noise_handshake: {ours_ms:.3f} ms/handshake "
        f"(Baileys: {theirs_ms:.3f} ms, ratio {ours_ms / theirs_ms:.2f}; target: for the record)"
    )


if __name__ == "__main__":
    main()
