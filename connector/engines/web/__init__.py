"""The `web` engine: WhatsApp Web multi-device spoken natively in asyncio Python."""
