"""Profiles: pure data, parsed and validated once."""
