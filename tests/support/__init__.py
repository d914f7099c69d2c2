"""Test support code shared by several suites (not fakes of ports: those live in tests/fakes)."""
