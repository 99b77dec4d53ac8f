"""Test-only helpers: the in-memory database adapter, servers the tests start."""
