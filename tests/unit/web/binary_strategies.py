"""Hypothesis strategies for binary nodes and JIDs, and the canonical form a node decodes back to."""

from __future__ import annotations

import re

from hypothesis import strategies as st

from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import AttrValue, Node
from connector.engines.web.binary.tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS

TOKENS = sorted(set(SINGLE_BYTE_TOKENS[1:]) | {t for table in DOUBLE_BYTE_TOKENS for t in table})
_PACKABLE = re.compile(r"[0-9.\-]{1,127}|[0-9A-F]{1,127}")


def stays_text(text: str) -> bool:
    """Tokens and packable strings decode as `str` in content; any other text comes back as bytes."""
    return text in TOKENS or bool(_PACKABLE.fullmatch(text))


def canonical(node: Node) -> Node:
    """What `decode(encode(node))` gives: raw text content turns into its UTF-8 bytes."""
    content = node.content
    if isinstance(content, list):
        content = [canonical(child) for child in content]
    elif isinstance(content, str) and not stays_text(content):
        content = content.encode()
    return Node(node.tag, dict(node.attrs), content)


numbers = st.integers(1, 10**16).map(str)
u16 = st.integers(0, 0xFFFF)

jids = st.one_of(
    st.builds(
        Jid,
        numbers,
        st.sampled_from(["s.whatsapp.net", "lid", "hosted", "hosted.lid"]),
        st.none() | st.integers(0, 255),
    ),
    st.builds(
        Jid,
        st.just("") | numbers,
        st.sampled_from(["s.whatsapp.net", "g.us", "broadcast", "c.us", "newsletter"]),
    ),
    st.builds(
        lambda user, device, agent: Jid(user, "s.whatsapp.net", device, agent),
        numbers,
        st.integers(0, 255),
        st.integers(2, 255).filter(lambda agent: agent not in (128, 129)),
    ),
    st.builds(lambda user, device: Jid(user, "msgr", device), numbers, u16),
    st.builds(
        lambda user, device, integrator: Jid(user, "interop", device, integrator=integrator),
        numbers,
        u16,
        u16,
    ),
    st.builds(
        Jid,
        st.text(st.characters(exclude_characters="@:_-", exclude_categories=["Cs"]), max_size=12),
        st.text("abcdefghijklmnopqrstuvwxyz.", min_size=1, max_size=12),
    ),
)

texts = st.one_of(
    st.sampled_from(TOKENS),
    st.text("0123456789.-", min_size=1, max_size=130),
    st.text("0123456789ABCDEFabcdef", min_size=1, max_size=130),
    st.text(max_size=300),
)
values: st.SearchStrategy[AttrValue] = texts | jids
tags = st.sampled_from(TOKENS) | st.text(min_size=1, max_size=16)
attrs = st.dictionaries(st.sampled_from(TOKENS) | st.text(max_size=8), values, max_size=6)

nodes: st.SearchStrategy[Node] = st.recursive(
    st.builds(Node, tags, attrs, st.none() | st.binary(max_size=600) | values),
    lambda children: st.builds(Node, tags, attrs, st.lists(children, max_size=5)),
    max_leaves=25,
)
