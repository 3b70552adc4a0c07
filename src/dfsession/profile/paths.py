"""Local paths: dataset and discovery locations, spill folders and ``features.import_paths``.

A relative path leads from the folder of the file that declares it: the loader makes it
absolute, so the fingerprint of a profile covers the folders it means. A profile given as data
without a ``base_dir`` keeps its relative paths as written (they mean the working directory).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dfsession.profile.layers import Key, Origins
from dfsession.profile.locations import is_url

__all__ = ["has_relative_paths", "is_relative_path", "resolve_paths"]

#: Sections whose entries have a ``location``.
_LOCATION_SECTIONS = ("datasets", "discover")
#: Fields holding a list of folders: (section, field).
_FOLDER_LISTS = (("execution", "spill"), ("features", "import_paths"))


def is_relative_path(text: str) -> bool:
    """Whether ``text`` is a local path relative to some folder (not a URL, not absolute)."""
    return bool(text) and not is_url(text) and not Path(text).is_absolute()


def resolve_paths(data: Mapping[str, Any], origins: Origins) -> dict[str, Any]:
    """``data`` with each relative path joined to the folder of the source that declared it."""

    def resolve(key: Key, text: str) -> str:
        folder = origins.of(key).folder
        if folder is None or not is_relative_path(text):
            return text
        return _keep_trailing_slash(text, os.path.normpath(Path(folder, text)))

    return _map_paths(data, resolve)


def has_relative_paths(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` (a profile's plain form) holds a relative local path."""
    found = False

    def check(_key: Key, text: str) -> str:
        nonlocal found
        found = found or is_relative_path(text)
        return text

    _map_paths(data, check)
    return found


def _keep_trailing_slash(original: str, path: str) -> str:
    """A location written with a trailing ``/`` names a folder; keep saying so."""
    return path + "/" if original.endswith("/") and not path.endswith("/") else path


def _map_paths(data: Mapping[str, Any], change: Callable[[Key, str], str]) -> dict[str, Any]:
    """``data`` with ``change(key, path)`` applied to every local path; the rest shared."""
    out = dict(data)
    for section in _LOCATION_SECTIONS:
        entries = data.get(section)
        if isinstance(entries, Mapping):
            out[section] = _entry_locations(section, entries, change)
    for section, field in _FOLDER_LISTS:
        table = data.get(section)
        folders = table.get(field) if isinstance(table, Mapping) else None
        if isinstance(table, Mapping) and isinstance(folders, list | tuple):
            out[section] = {
                **table,
                field: [change((section, field), p) if isinstance(p, str) else p for p in folders],
            }
    return out


def _entry_locations(
    section: str, entries: Mapping[str, Any], change: Callable[[Key, str], str]
) -> Mapping[str, Any]:
    """``entries`` with ``change`` applied to each entry's ``location``; the rest shared."""
    changed = {}
    for name, spec in entries.items():
        location = spec.get("location") if isinstance(spec, Mapping) else None
        if isinstance(location, str):
            new = change((section, name, "location"), location)
            if new != location:
                changed[name] = {**spec, "location": new}
    return {**entries, **changed} if changed else entries
