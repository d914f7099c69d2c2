"""The `web` engine: WhatsApp Web multi-device spoken natively in asyncio Python.

    engine.WebEngine     the Engine: one connection per run(), pairing or login, returns an Exit
    settings, version    configuration (WAGATE_WA_*), the WhatsApp Web version and how to fetch it
    creds                the device's credentials, stored through the KeyStore
    payloads             ClientPayload for registration and login
    pairing              QR texts and the pair-success checks and answer (sans-I/O)
    prekeys              one-time and signed prekeys on the edge
    connection           send, query, receive stanzas on one socket
    stream_end           how the edge ends a connection → Exit
    binary/, noise/, crypto/, proto/, protos   wire format, transport, curve crypto, protobufs
    signal/              the Signal protocol (sessions, sender keys) behind SignalRepository, sans-I/O

Sending and receiving messages build on these next.
"""
