"""JIDs, WhatsApp's addresses, as a frozen value: parse and format `user[_agent][:device]@server`.

Text forms (Baileys' spelling, so logs and stored ids read the same on both sides):

    123456789@s.whatsapp.net        a phone-number account           Jid("123456789", "s.whatsapp.net")
    123456789:3@s.whatsapp.net      device 3 of that account ("AD")  device=3
    98765432109876@lid              the same person by LID           server "lid" (also with :device)
    123:3@hosted, 987:3@hosted.lid  hosted (business API) devices
    1203630123456789@g.us           a group; old ids read "creator-timestamp@g.us"
    status@broadcast, 12345@newsletter, 13135550002@bot, 0@c.us
    @s.whatsapp.net                 a server itself (empty user): where iq queries go
    123_5:3@s.whatsapp.net          an AD JID with a raw agent byte nobody maps to a server
    7-123:3@interop                 integrator 7's user 123, device 3

A device of 0 is kept (`123:0@s.whatsapp.net`): on the wire it is an AD JID, not a plain pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

USER_SERVER: Final = "s.whatsapp.net"
LID_SERVER: Final = "lid"
HOSTED_SERVER: Final = "hosted"
HOSTED_LID_SERVER: Final = "hosted.lid"
LEGACY_USER_SERVER: Final = "c.us"
GROUP_SERVER: Final = "g.us"
BROADCAST_SERVER: Final = "broadcast"
NEWSLETTER_SERVER: Final = "newsletter"
BOT_SERVER: Final = "bot"
MESSENGER_SERVER: Final = "msgr"
INTEROP_SERVER: Final = "interop"

# An AD JID names its server by a one-byte "domain type" instead of a string.
DOMAIN_BY_SERVER: Final[dict[str, int]] = {
    USER_SERVER: 0,
    LID_SERVER: 1,
    HOSTED_SERVER: 128,
    HOSTED_LID_SERVER: 129,
}
SERVER_BY_DOMAIN: Final[dict[int, str]] = {domain: server for server, domain in DOMAIN_BY_SERVER.items()}

_DIGITS = re.compile(r"[0-9]+")
_MAX_AD_DEVICE = 0xFF  # an AD JID carries the device in one byte
_MAX_DEVICE = 0xFFFF  # FB and interop JIDs carry it in two


@dataclass(frozen=True, slots=True)
class Jid:
    """One WhatsApp address. Build with `Jid.parse(text)` or the fields; `str()` gives the text form.

    `device` is None for an account, a group or a server; a number for one device of an account.
    `agent` is the raw AD domain byte when it names no known server (rare; kept so nothing is lost).
    `integrator` is set only for `@interop` JIDs.
    """

    user: str
    server: str
    device: int | None = None
    agent: int | None = None
    integrator: int | None = None

    def __post_init__(self) -> None:
        # Every rule here keeps `Jid.parse(str(jid)) == jid` and the wire form unambiguous.
        if not self.server or "@" in self.server:
            raise ValueError(f"invalid JID server {self.server!r}")
        if "@" in self.user or ":" in self.user:
            raise ValueError(f"invalid JID user {self.user!r}")
        if self.device is None:
            if self.agent is not None or self.integrator is not None:
                raise ValueError("a JID agent or integrator needs a device")
            return
        ad = self.server in DOMAIN_BY_SERVER
        if not 0 <= self.device <= (_MAX_AD_DEVICE if ad else _MAX_DEVICE):
            raise ValueError(f"JID device out of range: {self.device}")
        if self.server == USER_SERVER and "_" in self.user:
            raise ValueError(f"invalid JID user {self.user!r}")
        if self.agent is not None:
            # Only the plain user server leaves the domain byte free; 0 is simply "no agent".
            if self.server != USER_SERVER or not 0 < self.agent <= 0xFF or self.agent in SERVER_BY_DOMAIN:
                raise ValueError(f"invalid JID agent {self.agent} for {self.server!r}")
        if self.server == INTEROP_SERVER and self.integrator is None and "-" in self.user:
            raise ValueError(f"invalid JID user {self.user!r}")
        if self.integrator is not None:
            if self.server != INTEROP_SERVER or not 0 <= self.integrator <= _MAX_DEVICE:
                raise ValueError(f"invalid JID integrator {self.integrator} for {self.server!r}")

    @classmethod
    def parse(cls, text: str) -> Jid:
        """The JID written as `text` (see the module docstring for the forms).

        Raises:
            ValueError: `text` is not a JID.
        """
        user, at, server = text.partition("@")
        if not at:
            raise ValueError(f"invalid JID {text!r}: no '@'")
        integrator: int | None = None
        if server == INTEROP_SERVER and ":" in user and "-" in user:
            prefix, _, user = user.partition("-")
            integrator = _number(prefix, text)
        device: int | None = None
        if ":" in user:
            user, _, suffix = user.partition(":")
            device = _number(suffix, text)
        agent: int | None = None
        if server == USER_SERVER and device is not None and "_" in user:
            user, _, suffix = user.partition("_")
            agent = _number(suffix, text)
        return cls(user, server, device, agent, integrator)

    def __str__(self) -> str:
        if self.integrator is not None:
            return f"{self.integrator}-{self.user}:{self.device}@{self.server}"
        if self.device is None:
            return f"{self.user}@{self.server}"
        agent = f"_{self.agent}" if self.agent is not None else ""
        return f"{self.user}{agent}:{self.device}@{self.server}"

    def __repr__(self) -> str:
        return f"Jid({str(self)!r})"

    @property
    def is_server(self) -> bool:
        """A bare server (`@s.whatsapp.net`, `@g.us`), the address of iq queries and the like."""
        return not self.user

    @property
    def is_pn_user(self) -> bool:
        """An account (or one of its devices) addressed by phone number."""
        return self.server in (USER_SERVER, HOSTED_SERVER, LEGACY_USER_SERVER) and bool(self.user)

    @property
    def is_lid_user(self) -> bool:
        """An account (or one of its devices) addressed by its LID, the number-hiding id."""
        return self.server in (LID_SERVER, HOSTED_LID_SERVER) and bool(self.user)

    @property
    def is_group(self) -> bool:
        return self.server == GROUP_SERVER and bool(self.user)

    @property
    def is_broadcast(self) -> bool:
        """A broadcast list or the status broadcast."""
        return self.server == BROADCAST_SERVER and bool(self.user)

    @property
    def is_status_broadcast(self) -> bool:
        return self.server == BROADCAST_SERVER and self.user == "status"

    @property
    def is_newsletter(self) -> bool:
        return self.server == NEWSLETTER_SERVER

    @property
    def is_hosted(self) -> bool:
        return self.server in (HOSTED_SERVER, HOSTED_LID_SERVER)

    def to_account(self) -> Jid:
        """The account behind a device JID (device, agent and integrator dropped), e.g. to compare users."""
        if self.device is None and self.agent is None and self.integrator is None:
            return self
        return Jid(self.user, self.server)

    def with_device(self, device: int) -> Jid:
        """Device `device` of this account.

        Raises:
            ValueError: the device number does not fit this server's wire form.
        """
        return Jid(self.user, self.server, device, self.agent, self.integrator)


def _number(digits: str, text: str) -> int:
    if not _DIGITS.fullmatch(digits):
        raise ValueError(f"invalid JID {text!r}")
    return int(digits)


SERVER_JID: Final = Jid("", USER_SERVER)
"""`@s.whatsapp.net`: the `to` of iq stanzas addressed to WhatsApp itself."""

STATUS_BROADCAST_JID: Final = Jid("status", BROADCAST_SERVER)
