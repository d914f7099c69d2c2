"""Benchmark: WABinary encode + decode of a typical message stanza, ours and Baileys' in the same run.

    .venv/bin/python bench/binary_codec.py [--seconds 2]

A "node" is one encode plus one decode of the whole stanza (a 1:1 text message fanned out to five
devices, with a device identity): what the engine does per message sent and received. Baileys runs in
node (tests/interop/binary_bench.mjs) on the same stanza; both sides must produce the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connector.engines.web.binary.codec import decode, encode
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import Node

INTEROP_DIR = Path(__file__).resolve().parents[1] / "tests" / "interop"


def typical_stanza() -> Node:
    rand = os.urandom
    peer, me = "4915112345678", "4917612345678"

    def to(jid: str, kind: str, size: int) -> Node:
        return Node("to", {"jid": Jid.parse(jid)}, [Node("enc", {"v": "2", "type": kind}, rand(size))])

    devices = [
        to(f"{peer}@s.whatsapp.net", "msg", 180),
        to(f"{peer}:7@s.whatsapp.net", "pkmsg", 420),
        to(f"{peer}:12@s.whatsapp.net", "msg", 180),
        to(f"{me}:3@s.whatsapp.net", "msg", 260),
        to(f"{me}:9@s.whatsapp.net", "pkmsg", 500),
    ]
    attrs: dict[str, str | Jid] = {
        "id": "3EB0C4F1A2B3C4D5E6F708",
        "to": Jid.parse(f"{peer}@s.whatsapp.net"),
        "type": "text",
    }
    return Node("message", attrs, [Node("participants", {}, devices), Node("device-identity", {}, rand(160))])


def _to_json(node: Node) -> dict[str, Any]:
    content = node.content
    view: Any = None
    if isinstance(content, list):
        view = [_to_json(child) for child in content]
    elif isinstance(content, bytes):
        view = {"bytes": content.hex()}
    elif content is not None:
        view = {"text": str(content)}
    return {"tag": node.tag, "attrs": {k: str(v) for k, v in node.attrs.items()}, "content": view}


def _rate(step: Callable[[], object], seconds: float) -> float:
    for _ in range(500):
        step()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            step()
        count += 100
    return count / elapsed


def _baileys(node: Node, seconds: float) -> dict[str, Any] | None:
    node_bin = shutil.which("node")
    if node_bin is None or not (INTEROP_DIR / "node_modules" / "@whiskeysockets" / "baileys").is_dir():
        return None
    done = subprocess.run(
        [node_bin, str(INTEROP_DIR / "binary_bench.mjs")],
        input=json.dumps({"node": _to_json(node), "seconds": seconds}).encode(),
        capture_output=True,
        cwd=INTEROP_DIR,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()

    node = typical_stanza()
    wire = encode(node)
    assert decode(wire) == node
    ours = {
        "encode": _rate(lambda: encode(node), args.seconds),
        "decode": _rate(lambda: decode(wire), args.seconds),
        "roundtrip": _rate(lambda: decode(encode(node)), args.seconds),
    }
    theirs = _baileys(node, args.seconds)
    if theirs is not None and bytes.fromhex(theirs["hex"]) != b"\x00" + wire:
        raise SystemExit("Baileys encodes the stanza differently: run the interop tests")

    print(f"stanza: {len(wire)} bytes, {sum(1 for _ in _walk(node))} nodes")
    print(f"{'':10}{'ours/s':>12}{'Baileys/s':>12}{'ratio':>8}")
    for kind in ("encode", "decode", "roundtrip"):
        base = theirs[f"{kind}_per_s"] if theirs else None
        cells = f"{base:12.0f}{ours[kind] / base:8.2f}" if base else f"{'n/a':>12}{'':>8}"
        print(f"{kind:10}{ours[kind]:12.0f}{cells}")
    if theirs:
        base = theirs["roundtrip_per_s"]
        summary = f"Baileys: {base:.0f} nodes/s, ratio {ours['roundtrip'] / base:.2f}"
    else:
        summary = "Baileys: n/a, node or tests/interop/node_modules missing"
    print(f"binary_codec: {ours['roundtrip']:.0f} nodes/s ({summary}; target: for the record)")


def _walk(node: Node) -> list[Node]:
    return [node, *(n for child in node.children for n in _walk(child))]


if __name__ == "__main__":
    main()
