"""WhatsApp engines behind one interface (`base.Engine`): web, sandbox."""
