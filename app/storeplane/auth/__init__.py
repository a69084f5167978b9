"""Callers: who is calling, resolved from a bearer token."""
