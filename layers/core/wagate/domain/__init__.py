"""Domain layer: models, typed ids, errors and state machines. No I/O imports here."""
