"""A strict fake WhatsApp edge for tests and benchmarks: Noise responder with a TEST root, pairing with a
fake phone, login, pings, prekeys, usync, bundles, groups, a message and receipt relay with offline
queues, and 401/440/515 on demand — checking what real clients must send.

    server.FakeEdge     the loopback WebSocket server, its state, controls and event log
    phone.FakePhone     scans a QR text: the phone-side ADV crypto (HMAC, account signature)
    primary             each account's phone (device 0) as a Signal endpoint: decrypts what it is sent
    session             one client connection (registration or login, then stanzas; acks tracked)
    handlers            answers to get/set iqs (ping, passive, prekeys, logout, directory)
    directory           usync device lists and LIDs, prekey bundles, w:g2 groups, privacy
    relay               routes messages and receipts between devices, checks envelopes, queues
    checks              the strictness: ClientPayload and iq checks, `Refused`
    state               accounts, devices, groups, queues, provisioning records
    linked              pre-linked devices (keys for us and for Baileys) for benchmarks
    media_hosts         HTTPS upload/download of encrypted media (auth, token hash, signed links)
    history             the phone's HistorySync blob and LID migration for a companion
    limits              per-account budgets for lookups: 429 rate-overlimit beyond them

TLS only (tests/fakes/tls.py: a CA made per test run); policies: 405 after `release()`, 463 for
`restrict()`ed accounts without a privacy token (a tctoken, or a cstoken from the history's salt), `*_pn`
left out (EdgeConfig.omit_pn_every), a passkey challenge for `require_passkey()` accounts, linking by code
(`FakePhone.enter_code`), media hosts checking auth and hashes, lookups (usync, w:g2) over an account's
budget answered 429 rate-overlimit (`edge.limits`, limits.py); `unhandled` lists every request it did not
understand.
"""

from tests.fakes.whatsapp_edge.phone import FakePhone, PasskeyRequested, adv_identity, parse_qr
from tests.fakes.whatsapp_edge.server import EdgeConfig, EdgeEvent, FakeEdge
from tests.fakes.whatsapp_edge.session import PairingRefused

__all__ = [
    "EdgeConfig",
    "EdgeEvent",
    "FakeEdge",
    "FakePhone",
    "PairingRefused",
    "PasskeyRequested",
    "adv_identity",
    "parse_qr",
]
