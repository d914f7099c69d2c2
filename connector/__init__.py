"""The connector: one asyncio process holding WhatsApp sockets, one supervised task per session."""
