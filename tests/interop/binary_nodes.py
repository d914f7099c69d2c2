"""Binary nodes for the Baileys interop tests: JSON in Baileys' view, and a seeded random node maker.

Baileys holds every attribute as a string and decides on the wire form by sniffing it (token, packable,
'@' = JID). Our `Node` says what a value is (`str` or `Jid`). `node_from_baileys` applies Baileys'
sniffing to lift its strings into our types; `baileys_view` predicts what Baileys' decoder hands back for
a node we encode.
"""

from __future__ import annotations

import random
import re
from typing import Any

from connector.engines.web.binary.jid import DOMAIN_BY_SERVER, Jid
from connector.engines.web.binary.node import Content, Node
from connector.engines.web.binary.tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS

TOKENS = frozenset(SINGLE_BYTE_TOKENS[1:]) | frozenset(t for table in DOUBLE_BYTE_TOKENS for t in table)
_PACKABLE = re.compile(r"[0-9.\-]{1,127}|[0-9A-F]{1,127}")


def stays_text(text: str) -> bool:
    """True when text travels as a token or packed digits, so Baileys decodes it back as a string."""
    return text in TOKENS or bool(_PACKABLE.fullmatch(text))


def _lift(text: str) -> str | Jid:
    if stays_text(text) or not text or "@" not in text:
        return text
    return Jid.parse(text)


def node_from_baileys(obj: dict[str, Any]) -> Node:
    """Our node for a JSON node printed by binary_json.mjs."""
    attrs = {key: _lift(value) for key, value in obj["attrs"].items()}
    raw = obj["content"]
    content: Content
    if raw is None:
        content = None
    elif isinstance(raw, list):
        content = [node_from_baileys(child) for child in raw]
    elif "text" in raw:
        content = _lift(raw["text"])
    else:
        content = bytes.fromhex(raw["bytes"])
    return Node(obj["tag"], attrs, content)


def baileys_text(jid: Jid) -> str:
    """How Baileys' decoder spells this JID after reading our bytes (our spelling, minus what it drops)."""
    if jid.integrator is not None:
        return f"{jid.integrator}-{jid.user}:{jid.device}@{jid.server}"
    if jid.device is None:
        return f"{jid.user}@{jid.server}"
    if jid.server not in DOMAIN_BY_SERVER:
        return f"{jid.user}:{jid.device}@{jid.server}"  # FB JID: the device is always spelled out
    # AD JID: Baileys drops an unknown agent and a device of 0.
    return f"{jid.user}{f':{jid.device}' if jid.device else ''}@{jid.server}"


def baileys_view(node: Node) -> dict[str, Any]:
    """The JSON binary_json.mjs prints for the node Baileys decodes from `encode(node)`."""
    content = node.content
    view: Any
    if content is None:
        view = None
    elif isinstance(content, list):
        view = [baileys_view(child) for child in content]
    elif isinstance(content, Jid):
        view = {"text": baileys_text(content)}
    elif isinstance(content, str) and stays_text(content):
        view = {"text": content}
    else:
        view = {"bytes": (content.encode() if isinstance(content, str) else content).hex()}
    attrs = {key: baileys_text(v) if isinstance(v, Jid) else v for key, v in node.attrs.items()}
    return {"tag": node.tag, "attrs": attrs, "content": view}


class NodeMaker:
    """Seeded random nodes. `canonical=True` keeps to what Baileys re-encodes to the same bytes."""

    _ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:/+=" + "éßñ日本Ж€🙂\n\"'"

    def __init__(self, seed: int, *, canonical: bool) -> None:
        self.rng = random.Random(seed)
        self.canonical = canonical
        self.tokens = sorted(TOKENS)
        # Baileys puts integer-like keys first (JS object order) when it re-encodes: keep them out.
        self.words = [t for t in self.tokens if re.fullmatch(r"[a-z][a-z0-9_.:-]*", t)]

    def digits(self, n: int) -> str:
        return str(self.rng.randint(1, 9)) + "".join(self.rng.choice("0123456789") for _ in range(n - 1))

    def text(self, n: int | None = None) -> str:
        n = self.rng.randint(1, 30) if n is None else n
        out = "".join(self.rng.choice(self._ALPHABET) for _ in range(n))
        if not self.canonical and self.rng.random() < 0.1:
            out += "@x"  # we send this as a plain string; Baileys would have made it a JID
        return out

    def jid(self) -> Jid:
        r, d = self.rng, self.digits
        kinds = [
            lambda: Jid(d(12), "s.whatsapp.net"),
            lambda: Jid(d(12), "s.whatsapp.net", r.randint(1, 255)),
            lambda: Jid(d(15), "lid"),
            lambda: Jid(d(15), "lid", r.randint(1, 99)),
            lambda: Jid(d(12), "hosted", r.randint(1, 99)),
            lambda: Jid(d(15), "hosted.lid", r.randint(1, 99)),
            lambda: Jid("120363" + d(12), "g.us"),
            lambda: Jid(f"{d(11)}-{d(10)}", "g.us"),
            lambda: Jid("status", "broadcast"),
            lambda: Jid(d(18), "newsletter"),
            lambda: Jid("", r.choice(["s.whatsapp.net", "g.us", "lid", "c.us"])),
            lambda: Jid("".join(r.choice("abcdef") for _ in range(8)), "example.com"),
        ]
        if not self.canonical:  # forms only we round-trip; Baileys reads them but re-encodes otherwise
            kinds += [
                lambda: Jid(d(12), r.choice(["s.whatsapp.net", "lid", "hosted", "hosted.lid"]), 0),
                lambda: Jid(d(12), "s.whatsapp.net", r.randint(0, 99), agent=r.choice([2, 5, 77, 130])),
                lambda: Jid(d(12), "msgr", r.randint(0, 65535)),
                lambda: Jid(d(8), "interop", r.randint(0, 65535), integrator=r.randint(0, 65535)),
            ]
        return r.choice(kinds)()

    def value(self) -> str | Jid:
        r = self.rng
        roll = r.random()
        if roll < 0.3:
            return r.choice(self.tokens)
        if roll < 0.45:
            return "".join(r.choice("0123456789-.") for _ in range(r.randint(1, 140)))
        if roll < 0.55:
            return "".join(r.choice("0123456789ABCDEF") for _ in range(r.randint(1, 140)))
        if roll < 0.8:
            return self.jid()
        if roll < 0.82:
            return ""
        return self.text()

    def node(self, depth: int = 0) -> Node:
        r = self.rng
        tag = r.choice(self.words) if r.random() < 0.7 else self.text(r.randint(1, 10)).replace("@", "")
        attrs: dict[str, str | Jid] = {}
        for _ in range(r.randint(0, 6) if r.random() < 0.97 else r.randint(128, 140)):
            key = r.choice(self.words) if r.random() < 0.7 else "k" + self.text(r.randint(1, 8))
            attrs[key.replace("@", "")] = self.value()
        roll = r.random()
        content: Content = None
        if roll < 0.35 and depth < 4:
            if depth == 0 and r.random() < 0.03:  # a LIST_16 of leaves, kept small in bytes
                content = [Node("i", {"n": str(i)}) for i in range(r.randint(256, 400))]
            else:
                content = [self.node(depth + 1) for _ in range(r.randint(0, 5))]
        elif roll < 0.6:
            content = r.randbytes(r.randint(0, 300) if r.random() < 0.98 else r.randint(256, 70000))
        elif roll < 0.75:
            content = self.value()
        return Node(tag, attrs, content)
