"""wagate: a self-hosted, multi-tenant WhatsApp gateway for CRMs."""

__version__ = "0.1.0"
