"""The stanza value: a tag, attributes and content (child nodes, bytes or a short string), immutable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from connector.engines.web.binary.jid import Jid

AttrValue: TypeAlias = str | Jid
"""An attribute is text or an address; pass a `Jid` wherever WhatsApp expects one (`to`, `from`, ...)."""

Content: TypeAlias = "list[Node] | bytes | str | Jid | None"
"""Children, opaque bytes, a short text (a token or a packed number such as a pairing `'0'`), a JID,
or nothing. Only tokens, packable digits/hex and JIDs come back as `str`/`Jid` from the wire: any other
text travels as plain bytes and decodes as `bytes`."""

_PREVIEW_BYTES = 16
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class Node:
    """One binary-XML element, e.g. `Node("iq", {"type": "get", "to": SERVER_JID}, [Node("ping")])`.

    `content=[]` (an empty child list) and `content=None` (no content) differ on the wire.
    """

    tag: str
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    content: Content = None

    @property
    def children(self) -> list[Node]:
        """The child nodes, or an empty list when the content is not a list."""
        return self.content if isinstance(self.content, list) else []

    def find(self, tag: str) -> Node | None:
        """The first child with this tag, if any."""
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def findall(self, tag: str) -> list[Node]:
        """Every child with this tag, in order."""
        return [child for child in self.children if child.tag == tag]

    def str_attr(self, key: str) -> str | None:
        """The attribute as text (a JID in its text form), or None when absent."""
        value = self.attrs.get(key)
        return None if value is None else str(value)

    def jid_attr(self, key: str) -> Jid | None:
        """The attribute as a JID, or None when absent.

        Raises:
            ValueError: the attribute is text that is not a JID.
        """
        value = self.attrs.get(key)
        if value is None or isinstance(value, Jid):
            return value
        return Jid.parse(value)

    def int_attr(self, key: str) -> int | None:
        """The attribute as a decimal integer (ids, counts, timestamps), or None when absent.

        Raises:
            ValueError: the attribute is not a decimal integer.
        """
        value = self.attrs.get(key)
        if value is None:
            return None
        text = str(value)
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"attribute {key!r} of <{self.tag}> is not an integer: {text!r}")
        return int(text)

    def content_bytes(self) -> bytes | None:
        """The content as bytes (text content UTF-8 encoded), or None for children, a JID or nothing."""
        if isinstance(self.content, bytes):
            return self.content
        if isinstance(self.content, str):
            return self.content.encode()
        return None

    def __str__(self) -> str:
        """An XML-like one-line rendering for logs; bytes are shortened to a hex preview."""
        attrs = "".join(f' {key}="{value}"' for key, value in self.attrs.items())
        content = self.content
        if content is None:
            return f"<{self.tag}{attrs}/>"
        if isinstance(content, list):
            inner = "".join(str(child) for child in content)
        elif isinstance(content, bytes):
            more = "…" if len(content) > _PREVIEW_BYTES else ""
            inner = f"[{len(content)} bytes {content[:_PREVIEW_BYTES].hex()}{more}]"
        else:
            inner = str(content)
        return f"<{self.tag}{attrs}>{inner}</{self.tag}>"
