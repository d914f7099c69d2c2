"""A strict fake WhatsApp edge for tests and benchmarks: Noise responder with a TEST root, pairing with a
fake phone, login, pings, prekeys, and 401/440/515 on demand — checking what real clients must send.

    server.FakeEdge     the loopback WebSocket server, its state, controls and event log
    phone.FakePhone     scans a QR text: the phone-side ADV crypto (HMAC, account signature)
    session             one client connection (registration or login, then stanzas)
    handlers            answers to get/set iqs (ping, passive, prekeys, logout)
    checks              the strictness: ClientPayload and iq checks, `Refused`
    state               accounts, devices, provisioning records
"""

from tests.fakes.whatsapp_edge.phone import FakePhone, adv_identity, parse_qr
from tests.fakes.whatsapp_edge.server import EdgeConfig, EdgeEvent, FakeEdge
from tests.fakes.whatsapp_edge.session import PairingRefused

__all__ = ["EdgeConfig", "EdgeEvent", "FakeEdge", "FakePhone", "PairingRefused", "adv_identity", "parse_qr"]
