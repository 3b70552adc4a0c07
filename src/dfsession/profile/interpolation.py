"""``${NAME}``, ``${NAME:-default}`` and ``$$`` in the string values of a profile.

Secrets stay references: nothing under a ``secrets`` table is read for variables, and a field
whose name says it holds a credential refuses them (the value would sit in the profile, its
reports and its fingerprint).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from dfsession.errors import ProfileError
from dfsession.profile.convert import MAX_DEPTH
from dfsession.profile.layers import Key, Origins, dotted

__all__ = ["escape", "interpolate"]

#: ``$$``, ``${...}``, or a ``${`` never closed.
_REFERENCE = re.compile(r"\$(?:(\$)|\{([^{}]*)\}|(\{))")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A ``$`` that reading would take for the start of ``$$`` or ``${``.
_SPECIAL_DOLLAR = re.compile(r"\$(?=[${])")
#: Field names that say the field holds a credential.
_CREDENTIAL = re.compile("key|token|password|secret", re.IGNORECASE)
#: Tables whose values are secret references, never text to fill in.
SECRETS = "secrets"


def interpolate(
    data: dict[str, Any], environ: Mapping[str, str], origins: Origins
) -> dict[str, Any]:
    """``data`` with every variable filled in; each filled key's origin names its variables.

    Every problem (an unset variable, a malformed reference, a credential-looking field) is
    reported in one ``ProfileError``.
    """
    filler = _Filler(environ, origins)
    filled: dict[str, Any] = filler.walk(data, (), 0)
    if filler.problems:
        raise ProfileError(filler.problems)
    return filled


class _Filler:
    __slots__ = ("environ", "origins", "problems")

    def __init__(self, environ: Mapping[str, str], origins: Origins) -> None:
        self.environ = environ
        self.origins = origins
        self.problems: list[tuple[str, str]] = []

    def walk(self, value: Any, key: Key, depth: int) -> Any:
        """``value`` filled in; the very object when nothing in it changes."""
        if isinstance(value, str):
            return self.fill(value, key) if "$" in value else value
        if depth > MAX_DEPTH:
            return value
        if isinstance(value, Mapping):
            items = {
                name: item if name == SECRETS else self.walk(item, (*key, name), depth + 1)
                for name, item in value.items()
            }
            changed = any(items[name] is not item for name, item in value.items())
            return items if changed else value
        if isinstance(value, list):
            filled = [self.walk(item, key, depth + 1) for item in value]
            return filled if any(a is not b for a, b in zip(filled, value, strict=True)) else value
        return value

    def fill(self, text: str, key: Key) -> str:
        used: list[str] = []
        referenced = False
        before = len(self.problems)

        def replace(match: re.Match[str]) -> str:
            nonlocal referenced
            dollar, body, unclosed = match.groups()
            if dollar is not None:
                return "$"
            referenced = True
            if unclosed is not None or not _is_reference(body):
                self._problem(key, _malformed(match.group(0)))
                return ""
            name, has_default, default = body.partition(":-")
            value = self.environ.get(name)
            if value is not None and (value or not has_default):
                used.append(name)
                return value
            if has_default:
                return default
            self._problem(
                key,
                f"${{{name}}} is not set: export {name}, or give a default such as "
                f"${{{name}:-value}}",
            )
            return ""

        filled = _REFERENCE.sub(replace, text)
        if referenced and _CREDENTIAL.search(_field_name(key)):
            del self.problems[before:]
            self._problem(key, _credential_message(key))
        if used:
            origin = self.origins.of(key)
            names = tuple(dict.fromkeys((*origin.variables, *used)))
            self.origins.set(key, attrs.evolve(origin, variables=names))
        return filled

    def _problem(self, key: Key, message: str) -> None:
        self.problems.append((dotted(key), f"{message} (in {self.origins.of(key).source})"))


def _is_reference(body: str) -> bool:
    name = body.partition(":-")[0]
    return _NAME.fullmatch(name) is not None and (":-" in body or name == body)


def _malformed(text: str) -> str:
    return (
        f"{text!r} is not a variable reference: write ${{NAME}} or ${{NAME:-default}} "
        "(NAME of letters, digits and _), and $$ for a literal $"
    )


def _field_name(key: Key) -> str:
    return str(key[-1]) if key else ""


def _credential_message(key: Key) -> str:
    store = key[1] if len(key) > 1 and key[0] == "object_stores" else "NAME"
    return (
        f"{_field_name(key)!r} looks like a credential, so it takes no ${{...}}: the value "
        "would sit in the profile, its reports and its fingerprint. Declare the credential as "
        f'a secret reference instead: [object_stores.{store}.secrets] with {{ env = "VARIABLE" }}'
    )


def escape(data: Any, depth: int = 0) -> Any:
    """``data`` with each ``$`` that reading would take as ``$$`` or ``${`` doubled.

    So that a profile's plain data reads back to the same values; secrets are left as they are.
    """
    if isinstance(data, str):
        return _SPECIAL_DOLLAR.sub("$$", data) if "$" in data else data
    if depth > MAX_DEPTH:
        return data
    if isinstance(data, dict):
        return {
            name: item if name == SECRETS else escape(item, depth + 1)
            for name, item in data.items()
        }
    if isinstance(data, list):
        return [escape(item, depth + 1) for item in data]
    return data
