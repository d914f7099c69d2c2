"""Our WABinary codec against Baileys' own encoder and decoder, byte for byte, in both directions."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from connector.engines.web.binary.codec import decode, encode
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.binary.payload import decode_payload, encode_payload
from connector.engines.web.binary.tokens import BAILEYS_VERSION
from tests.interop.binary_nodes import NodeMaker, baileys_view, node_from_baileys, stays_text

if TYPE_CHECKING:
    from tests.interop.conftest import RunNode

pytestmark = pytest.mark.interop

SEED = 20240601
RANDOM_NODES = 320  # plus ~25 realistic and boundary stanzas the script always adds


@pytest.fixture(scope="module")
def vectors(run_node: RunNode) -> list[dict[str, Any]]:
    answer = run_node("binary_vectors.mjs", None, str(SEED), str(RANDOM_NODES))
    assert answer["baileys"] == BAILEYS_VERSION, "tokens.py was generated from another Baileys"
    result: list[dict[str, Any]] = answer["vectors"]
    return result


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _length_bits(length: int) -> int:
    return 32 if length >= 1 << 20 else 20 if length > 255 else 8


def _mismatch(index: int, node: Node, ours: str, theirs: str) -> str:
    return f"#{index} {str(node)[:300]}\n  ours    {ours[:160]}\n  Baileys {theirs[:160]}"


def _first_failures(failures: list[str]) -> str:
    return f"{len(failures)} vectors differ; first ones:\n" + "\n".join(failures[:3])


def test_the_vectors_cover_every_wire_form(vectors: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for vector in vectors:
        for node in _walk(node_from_baileys(vector["node"])):
            if len(node.attrs) > 127:
                seen.add("list16-attrs")
            if isinstance(node.content, list) and len(node.content) > 255:
                seen.add("list16-children")
            if isinstance(node.content, bytes):
                seen.add(f"bytes-{_length_bits(len(node.content))}")
            values = [*node.attrs.values()] + ([node.content] if isinstance(node.content, str | Jid) else [])
            for value in values:
                if isinstance(value, Jid):
                    seen.add(f"jid-{value.server}-{'device' if value.device is not None else 'pair'}")
                elif stays_text(value):
                    seen.add("token-or-packed")
                else:
                    seen.add(f"string-{_length_bits(len(value.encode()))}")
    expected = {
        "list16-attrs", "list16-children", "bytes-8", "bytes-20", "bytes-32", "token-or-packed",
        "string-8", "string-20", "string-32", "jid-s.whatsapp.net-pair", "jid-s.whatsapp.net-device",
        "jid-lid-pair", "jid-lid-device", "jid-hosted-device", "jid-hosted.lid-device", "jid-g.us-pair",
        "jid-broadcast-pair",
    }  # fmt: skip
    assert len(vectors) >= 300
    assert expected <= seen, expected - seen


def test_our_bytes_equal_baileys_bytes(vectors: list[dict[str, Any]]) -> None:
    failures = []
    for index, vector in enumerate(vectors):
        node = node_from_baileys(vector["node"])
        ours = encode_payload(node).hex()
        if ours != vector["hex"]:
            failures.append(_mismatch(index, node, ours, vector["hex"]))
    assert not failures, _first_failures(failures)


def test_we_decode_baileys_bytes_to_the_same_node(vectors: list[dict[str, Any]]) -> None:
    failures = []
    for index, vector in enumerate(vectors):
        expected = node_from_baileys(vector["node"])
        raw = bytes.fromhex(vector["hex"])
        if decode_payload(raw) != expected or decode(raw[1:]) != expected:
            failures.append(f"#{index} {str(expected)[:300]}")
    assert not failures, _first_failures(failures)


def test_we_inflate_payloads_baileys_would_inflate(vectors: list[dict[str, Any]]) -> None:
    deflated = [v for v in vectors if "deflated" in v]
    assert len(deflated) >= 30
    for vector in deflated:
        assert decode_payload(bytes.fromhex(vector["deflated"])) == node_from_baileys(vector["node"])


def _ask_baileys(run_node: RunNode, payloads: list[bytes]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = run_node("binary_decode.mjs", {"payloads": [p.hex() for p in payloads]})
    assert len(answers) == len(payloads)
    errors = [f"#{i}: {a['error'][:300]}" for i, a in enumerate(answers) if "error" in a]
    assert not errors, _first_failures(errors)
    return answers


def test_baileys_decodes_and_reencodes_our_bytes_exactly(run_node: RunNode) -> None:
    maker = NodeMaker(SEED, canonical=True)
    nodes = [maker.node() for _ in range(300)]
    payloads = [encode_payload(node) for node in nodes]
    answers = _ask_baileys(run_node, payloads)
    failures = []
    for index, (node, payload, answer) in enumerate(zip(nodes, payloads, answers, strict=True)):
        if answer["node"] != baileys_view(node) or answer["hex"] != payload.hex():
            failures.append(_mismatch(index, node, payload.hex(), answer["hex"]))
    assert not failures, _first_failures(failures)


def test_baileys_reads_the_forms_only_we_round_trip(run_node: RunNode) -> None:
    # Device 0, agent bytes, Messenger and interop JIDs, '@' in plain strings: Baileys reads them all
    # as we predict, though its own encoder would choose other bytes when sending them back.
    maker = NodeMaker(SEED + 1, canonical=False)
    nodes = [maker.node() for _ in range(150)]
    answers = _ask_baileys(run_node, [encode_payload(node) for node in nodes])
    failures = [
        f"#{i} {str(node)[:300]}\n  Baileys read {str(answer['node'])[:300]}"
        for i, (node, answer) in enumerate(zip(nodes, answers, strict=True))
        if answer["node"] != baileys_view(node)
    ]
    assert not failures, _first_failures(failures)


def test_baileys_inflates_our_compressed_payloads(run_node: RunNode) -> None:
    maker = NodeMaker(SEED + 2, canonical=True)
    nodes = [maker.node() for _ in range(20)]
    answers = _ask_baileys(run_node, [b"\x02" + zlib.compress(encode(node)) for node in nodes])
    assert [a["node"] for a in answers] == [baileys_view(node) for node in nodes]
