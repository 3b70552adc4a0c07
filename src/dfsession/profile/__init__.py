"""Profiles: pure data, parsed and validated once."""

__all__: list[str] = []
