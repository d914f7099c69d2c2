"""Evolution API v2 compatibility: its routes, DTOs, records and events over wagate's services."""
