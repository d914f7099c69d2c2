"""Local adapters: SQLite table and queues, file-key crypto."""
