"""Overrides: ``{"execution.target_partitions": 16}``, applied over everything else.

Each path is checked against the profile's shape as it is read, so a typo is named (with the
closest key) instead of quietly adding a key; the value's type is checked by the parser. The keys
of every ``[env.NAME]`` overlay are checked the same way, whether it is selected or not.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfsession.errors import ProfileError
from dfsession.profile.convert import MAX_DEPTH
from dfsession.profile.layers import Key, Origin, Origins, dotted, merge_into
from dfsession.profile.shape import entry_type, section_fields
from dfsession.profile.values import did_you_mean

__all__ = ["OVERRIDE", "apply_overrides", "check_environments", "parse_key"]

#: The origin of every overridden value.
OVERRIDE = "override"


def parse_key(text: str) -> Key:
    """A dotted key as TOML reads one: ``a.b``, ``settings."datafusion.x"``."""
    try:
        parsed: Any = tomllib.loads(f"{text} = 0")
    except tomllib.TOMLDecodeError:
        raise ProfileError.at(
            text, "not a dotted key such as execution.target_partitions; quote odd names"
        ) from None
    key: list[str] = []
    while isinstance(parsed, dict):
        ((name, parsed),) = parsed.items()
        key.append(name)
    return tuple(key)


def apply_overrides(
    data: dict[str, Any], overrides: Mapping[str, Any], origins: Origins, profile_type: type
) -> dict[str, Any]:
    """``data`` with each override set; their origin is ``override``.

    Relative paths in overrides lead from the working directory, as on any command line.
    """
    origin = Origin(OVERRIDE, str(Path.cwd()))
    problems: list[tuple[str, str]] = []
    for text, value in overrides.items():
        try:
            key = checked_key(parse_key(text), data, profile_type)
        except ProfileError as exc:
            problems.extend((path, f"{text_} (override {text!r})") for path, text_ in exc.problems)
            continue
        merge_into(data, _nest(key, value), key=(), origins=origins, origin_of=lambda _k: origin)
    if problems:
        raise ProfileError(problems)
    return data


def _nest(key: Key, value: Any) -> dict[str, Any]:
    """``{"a": {"b": value}}`` for the key ``("a", "b")``."""
    nested: dict[str, Any] = {key[-1]: value}
    for name in reversed(key[:-1]):
        nested = {name: nested}
    return nested


#: Keys read before overrides apply: what to do instead of overriding them.
_NOT_OVERRIDDEN = {
    "extends": "layers are read before overrides apply, so extends cannot be overridden; "
    "name the layer in the profile's extends",
    "env": "environments are laid over before overrides apply, so they cannot be overridden; "
    "select one with env= (--env), or override the key itself, such as {rest}",
}


def checked_key(key: Key, data: Mapping[str, Any], profile_type: type) -> Key:
    """``key`` checked against the profile's shape; keys of plain-value maps may hold dots.

    A key into a map of named entries (``datasets.trips...``) must name an existing entry,
    unless it sets the whole entry.
    """
    if key[0] in _NOT_OVERRIDDEN:
        rest = dotted(key[2:]) if len(key) > 2 else "execution.target_partitions"
        raise ProfileError.at(key[0], _NOT_OVERRIDDEN[key[0]].format(rest=rest))
    type_: Any = profile_type
    node: Any = data
    for position, name in enumerate(key):
        where = key[:position]
        fields = section_fields(type_)
        if fields is not None:
            if name not in fields:
                raise ProfileError.at(
                    dotted((*where, name)), "unknown key" + _hint(name, list(fields))
                )
            type_ = fields[name]
        else:
            value_type = entry_type(type_)
            if value_type is None:
                raise ProfileError.at(
                    dotted(where), "holds a value, not a table: override it as a whole"
                )
            if section_fields(value_type) is None and entry_type(value_type) is None:
                return (*where, ".".join(key[position:]))  # a plain-value map: the rest is one key
            last = position == len(key) - 1
            names = list(node) if isinstance(node, Mapping) else []
            if not last and name not in names:
                raise ProfileError.at(
                    dotted((*where, name)),
                    f"{dotted(where)} has no {name!r}"
                    + _hint(name, names)
                    + "; to add one, override it as a whole table",
                )
            type_ = value_type
        node = node.get(name) if isinstance(node, Mapping) else None
    return key


def _hint(name: str, choices: list[str]) -> str:
    return did_you_mean(name, choices) or (f" (known: {', '.join(choices)})" if choices else "")


def check_environments(environments: Any, origins: Origins, profile_type: type) -> None:
    """The keys of every ``[env.NAME]`` overlay, selected or not, checked against the shape.

    So a mistyped key in an environment a test run does not select is found all the same; the
    values are checked when the environment is selected. What is no table is left to the caller.
    """
    if not isinstance(environments, Mapping):
        return
    problems: list[tuple[str, str]] = []
    for name, overlay in environments.items():
        if isinstance(name, str) and isinstance(overlay, Mapping):
            _check_overlay(overlay, ("env", name), profile_type, origins, problems)
    if problems:
        raise ProfileError(problems)


def _check_overlay(
    table: Mapping[str, Any],
    key: Key,
    type_: Any,
    origins: Origins,
    problems: list[tuple[str, str]],
) -> None:
    """Name each key of ``table`` (at ``key``, of ``type_``) the profile has no place for."""
    fields = section_fields(type_)
    for name, value in table.items():
        if not isinstance(name, str):
            continue  # the parser names it when the environment is selected
        here = (*key, name)
        where = f" (in {origins.of(here).source})"
        if len(here) == 3 and name in ("extends", "env"):
            problems.append(
                (dotted(here), f"an environment cannot hold {name!r}; put it at the top{where}")
            )
            continue
        if fields is None:
            inner = entry_type(type_)
            if inner is None:
                return  # a plain value: the parser checks it
        elif name in fields:
            inner = fields[name]
        else:
            problems.append((dotted(here), "unknown key" + _hint(name, list(fields)) + where))
            continue
        if isinstance(value, Mapping) and len(here) < MAX_DEPTH:
            _check_overlay(value, here, inner, origins, problems)
