"""Cryptographic building blocks of the web engine (curve keys and signatures)."""
