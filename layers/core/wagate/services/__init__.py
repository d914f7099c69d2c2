"""Use cases, one module per capability. They take ports as arguments and never import adapters."""
