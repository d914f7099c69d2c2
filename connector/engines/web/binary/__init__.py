"""WABinary, WhatsApp's binary XML: stanza values, JIDs, the token tables and the codec."""
