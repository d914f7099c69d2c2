"""The Meta WhatsApp Cloud API provider, in one package.

Pure (no I/O):
    payloads.py       request bodies of POST /{phone-number-id}/messages
    inbound.py        one webhook message → the `incoming_message` data the `web` engine produces
    notifications.py  a webhook payload → session events per business phone number id
    signatures.py     the subscription handshake and X-Hub-Signature-256
    errors.py         Graph errors by meaning (`classify` picks the class from Meta's codes)
Graph I/O (the only HTTP to Meta):
    graph.py          `GraphApi` over httpx
Use cases over the Table and the queues:
    sessions.py       cloud sessions: encrypted credentials, routes by phone number id, token checks
    commands.py       the `CloudSendQueue` of cloud sessions' commands
    pacing.py         per-number token bucket shared by every Lambda
    sends.py          commands done by `functions/cloud_send` where a connector would
    webhooks.py       Meta's webhooks in: signature, routing, events applied as a connector's
"""
