"""The `web` engine: WhatsApp Web multi-device spoken natively in asyncio Python.

    engine.WebEngine     the Engine: one connection per run(), pairing or login, returns an Exit
    settings, version    configuration (WAGATE_WA_*), the WhatsApp Web version (fetched at connect, cached)
    creds                the device's credentials, stored through the KeyStore
    payloads             ClientPayload for registration and login
    pairing              QR texts and the pair-success checks and answer (sans-I/O)
    pairing_code         linking by phone number: the code, key wrapping, companion_finish (sans-I/O)
    prekeys              one-time and signed prekeys on the edge
    linking              pair-device → QR codes (or a pairing code), pair-success → signed answer, Paired
    connection           send, query, receive stanzas on one socket (iq answers, message acks)
    stream_end           how the edge ends a connection → Exit
    messaging            Messaging: the pieces below wired for one connection
      lid                phone number ↔ LID (KeyStore lid-map), the Signal address of a device
      usync              device lists (KeyStore device-list, TTL, device notifications)
      bundles            prekey bundles → Signal sessions
      groups             w:g2 group list and metadata, who has our sender key
      content            Message protobufs out (text, quotes, DeviceSentMessage, sender keys) and in
      privacy_tokens     tctokens: kept from privacy_token notifications, attached to 1:1 sends, issued
      sending            Outbox: fan-out to every device, the edge's ack, answers to retry receipts
      receiving          Inbox: decrypt → IncomingMessage, receipts in and out, acks, retry receipts
    binary/, noise/, crypto/, proto/, protos   wire format, transport (noise/tls: the TLS context),
                         curve crypto, protobufs
    signal/              the Signal protocol (sessions, sender keys) behind SignalRepository, sans-I/O

Not yet: sending media (upload to the media hosts) and downloading it (MediaRef carries what is needed).
"""
