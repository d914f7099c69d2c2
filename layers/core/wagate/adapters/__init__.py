"""Adapters: the ports implemented for AWS (`aws/`) and for one machine (`local/`)."""
