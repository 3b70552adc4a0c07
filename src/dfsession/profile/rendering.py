"""The effective profile as TOML for people to read, each value beside its origin if asked.

One table header per table that holds values (``[datasets.trips.schema]``), so every value has a
line of its own and a comment can say where it came from. Literal secrets are hidden.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import tomli_w

from dfsession.profile.layers import Key, dotted, leaves
from dfsession.profile.model import SessionProfile

__all__ = ["render_toml"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
#: What a hidden literal secret shows as.
HIDDEN = "***"


def render_toml(profile: SessionProfile, *, with_origins: bool = False) -> str:
    """The profile as TOML; with ``with_origins`` each value ends with ``# <origin>``.

    Read back, it gives the same profile (but for literal secrets, shown as ``***``).
    """
    origins = profile.provenance() if with_origins else {}
    tables: dict[Key, list[tuple[str, str]]] = {}
    for key, value, full_key in _entries(profile.to_dict()):
        entry = f"{_key(key[-1])} = {_value(value)}"
        tables.setdefault(key[:-1], []).append((entry, origins.get(dotted(full_key), "")))
    blocks = []
    for table, entries in sorted(tables.items(), key=lambda item: item[0] != ()):
        header = [f"[{'.'.join(map(_key, table))}]"] if table else []
        blocks.append("\n".join([*header, *_lines(entries)]))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _lines(entries: list[tuple[str, str]]) -> list[str]:
    width = max(len(entry) for entry, _origin in entries)
    return [f"{entry.ljust(width)}  # {origin}" if origin else entry for entry, origin in entries]


def _entries(data: Mapping[str, Any]) -> list[tuple[Key, Any, Key]]:
    """The values to print, each with its key in the profile; a secret reference is one value,
    ``{ env = "NAME" }``, a literal hidden."""
    entries: list[tuple[Key, Any, Key]] = []
    for key, value in leaves(data):
        if key[-3:-2] == ("secrets",):
            secret = {key[-1]: HIDDEN if key[-1] == "literal" else value}
            entries.append((key[:-1], secret, key))
        else:
            entries.append((key, value, key))
    return entries


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _value(name)


def _value(value: Any) -> str:
    """One value as inline TOML: tables as ``{ k = v }``, arrays as ``[a, b]``."""
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return tomli_w.dumps({"v": value}).removeprefix("v = ").rstrip("\n")
