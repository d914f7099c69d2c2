"""Signal addresses of WhatsApp devices and sender key names, spelled as Baileys stores them.

    123456789@s.whatsapp.net       -> 123456789.0        (no device = device 0)
    123456789:3@s.whatsapp.net     -> 123456789.3
    98765432109876:3@lid           -> 98765432109876_1.3 (the JID's domain type follows an underscore:
    123:99@hosted, 987:2@hosted.lid   -> 123_128.99, 987_129.2    lid 1, hosted 128, hosted.lid 129)
    group 120363…@g.us, sender 123456789.3 -> 120363…@g.us::123456789::3

These strings are the KeyStore ids: `session/<address>`, `identity/<address>`,
`sender-key/<group>::<name>::<device>`. The same person by phone number and by LID has two addresses (and
two sessions); mapping one to the other is the engine's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.engines.web.binary.jid import DOMAIN_BY_SERVER, LEGACY_USER_SERVER, USER_SERVER, Jid

_HOSTED_DEVICE = 99  # only hosted (business API) accounts use device 99


@dataclass(frozen=True, slots=True, order=True)
class SignalAddress:
    name: str  # the JID user, with `_<domain type>` unless it is a phone-number JID
    device: int

    def __post_init__(self) -> None:
        if not self.name or any(char in self.name for char in ".:@") or not 0 <= self.device <= 0xFFFF:
            raise ValueError(f"invalid Signal address {self.name!r}.{self.device}")

    @classmethod
    def from_jid(cls, jid: Jid | str) -> SignalAddress:
        """The address of a user or device JID. Raises ValueError for groups, servers and the like."""
        if isinstance(jid, str):
            jid = Jid.parse(jid)
        if not jid.user or not (jid.is_pn_user or jid.is_lid_user):
            raise ValueError(f"{jid} is not a user or device JID")
        domain = DOMAIN_BY_SERVER.get(jid.server, 0) if jid.server != LEGACY_USER_SERVER else 0
        if jid.server == USER_SERVER and jid.agent:
            domain = jid.agent
        device = jid.device or 0
        if device == _HOSTED_DEVICE and not jid.is_hosted:
            raise ValueError(f"{jid}: device 99 is reserved for hosted accounts")
        return cls(f"{jid.user}_{domain}" if domain else jid.user, device)

    @classmethod
    def parse(cls, text: str) -> SignalAddress:
        """`name.device` back into an address. Raises ValueError."""
        name, dot, device = text.rpartition(".")
        if not dot or not device.isdigit():
            raise ValueError(f"invalid Signal address {text!r}")
        return cls(name, int(device))

    def __str__(self) -> str:
        return f"{self.name}.{self.device}"


def sender_key_name(group: Jid | str, sender: SignalAddress) -> str:
    """The KeyStore id of `sender`'s sender key in `group` (Baileys' SenderKeyName spelling)."""
    return f"{group}::{sender.name}::{sender.device}"
