"""The shape of the profile format, read from the spec classes' type hints.

Three kinds of table: a section (an attrs class, or a union of them: its keys are field names),
a map of named entries (``datasets``: each entry a section) and a map of plain values
(``settings``, ``options``, ``schema``: any key, each value a scalar). Everything else is a value:
a scalar, or an array, which layers and overrides replace as a whole.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

import attrs

from dfsession.profile.convert import VALUE_TYPES

__all__ = ["entry_type", "field_types", "is_section", "members", "section_fields"]


def members(type_: Any) -> tuple[Any, ...]:
    """The types a union (``X | Y | None``) allows, ``None`` left out; a plain type alone."""
    if typing.get_origin(type_) in (Union, types.UnionType):
        return tuple(t for t in typing.get_args(type_) if t is not type(None))
    return (type_,)


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of each field of the attrs class ``cls``."""
    return typing.get_type_hints(cls)


def is_section(type_: Any) -> bool:
    """Whether ``type_`` is a section: an attrs class that is not a value type (a secret)."""
    return isinstance(type_, type) and attrs.has(type_) and type_ not in VALUE_TYPES


def section_fields(type_: Any) -> dict[str, Any] | None:
    """The keys of a section and each one's type; ``None`` when ``type_`` is no section.

    A union of sections (one class per format) has the keys of them all; a key several of them
    have takes the type of any.
    """
    classes = [t for t in members(type_) if is_section(t)]
    if not classes:
        return None
    types: dict[str, list[Any]] = {}
    for cls in classes:
        hints = field_types(cls)
        for field in attrs.fields(cls):
            if not field.name.startswith("_"):  # a tag (format, kind) is set, not given
                types.setdefault(field.name, []).append(hints[field.name])
    # A key the classes type differently (each store kind's options) takes any of the types.
    return {name: Union[tuple(found)] for name, found in types.items()}  # noqa: UP007


def entry_type(type_: Any) -> Any | None:
    """The type of each value of a map (``FrozenMap[str, X]`` gives ``X``); ``None`` if no map."""
    for member in members(type_):
        origin = typing.get_origin(member)
        if isinstance(origin, type) and issubclass(origin, Mapping):
            return typing.get_args(member)[1]
        if isinstance(member, type) and issubclass(member, Mapping):  # a map value type
            for base in getattr(member, "__orig_bases__", ()):
                return entry_type(base)
    return None
