"""Table catalogs: ``[catalogs.<name>]`` entries, Iceberg catalogs read through PyIceberg.

A catalog's ``properties`` go to PyIceberg as written; its credentials are secret references
(``secrets``), resolved only when a session is built, exactly like an object store's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import attrs

from dfsession.profile.locations import is_url
from dfsession.profile.values import (
    FieldError,
    FrozenMap,
    SecretRef,
    TextMap,
    doc,
    frozen_map,
    frozen_tuple,
    one_of,
    parsed_field,
    raise_all,
)

__all__ = ["CATALOG_KINDS", "CREDENTIAL_WORDS", "IcebergCatalog", "secret_map"]

CATALOG_KINDS = ("iceberg",)
#: Property names holding a credential (PyIceberg's ``s3.secret-access-key``, ``token``,
#: ``credential``, ``adls.account-key``...): refused in ``properties``, they go in ``secrets``.
CREDENTIAL_WORDS = (
    "secret",
    "password",
    "token",
    "credential",
    "access-key",
    "account-key",
    "sas",
)
_CREDENTIAL = re.compile("|".join(map(re.escape, CREDENTIAL_WORDS)), re.IGNORECASE)


def secret_map(value: Any) -> FrozenMap[str, SecretRef]:
    """attrs converter: property names to secret references."""
    items = {}
    for key, secret in frozen_map(value).items():
        try:
            items[key] = SecretRef.parse(secret)
        except ValueError as exc:
            raise FieldError(str(key), str(exc)) from None
    return FrozenMap(items)


def _globs(_inst: Any, _attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    raise_all(_bad_globs(value))


def _bad_globs(patterns: tuple[Any, ...]) -> Iterator[FieldError]:
    for index, pattern in enumerate(patterns):
        where = str(index)
        if not isinstance(pattern, str) or not pattern.strip():
            yield FieldError(where, f"expected a glob such as 'sales.*' (got {pattern!r})")
        elif "." not in pattern:
            yield FieldError(
                where,
                f"{pattern!r} matches no table: a table is named 'namespace.table'; "
                f"write {pattern + '.*'!r} for every table of namespace {pattern!r}",
            )
        elif pattern.count("[") != pattern.count("]"):
            yield FieldError(where, f"{pattern!r} has an unclosed '[' character class")


@attrs.frozen
class IcebergCatalog:
    """An Iceberg catalog, loaded with PyIceberg's ``load_catalog(name, **properties)``."""

    kind: str = attrs.field(
        validator=one_of(*CATALOG_KINDS), metadata=doc("the kind of catalog: iceberg")
    )
    properties: TextMap = parsed_field(
        TextMap.parse,
        "PyIceberg catalog properties (type, uri, warehouse, s3.endpoint...), passed as written",
        factory=TextMap,
    )
    secrets: FrozenMap[str, SecretRef] = attrs.field(
        factory=FrozenMap,
        converter=secret_map,
        metadata=doc("catalog properties that are credentials, as secret references"),
    )
    include: tuple[str, ...] = attrs.field(
        default=(),
        converter=frozen_tuple,
        validator=_globs,
        metadata=doc(
            "globs of 'namespace.table' names: every matching table is mounted under a schema "
            "named like the catalog"
        ),
    )

    def __attrs_post_init__(self) -> None:
        raise_all(self._broken_rules())

    def _broken_rules(self) -> Iterator[FieldError]:
        for key in self.properties:
            if key in self.secrets:
                yield FieldError(f"properties.{key}", "also given in secrets; keep one")
            elif _CREDENTIAL.search(key) or _has_password(self.properties[key]):
                yield FieldError(
                    f"properties.{key}",
                    "holds a credential: move it to secrets, as "
                    f'secrets = {{ "{key}" = {{ env = "VARIABLE" }} }}',
                )


def _has_password(value: str) -> bool:
    """Whether ``value`` is a URL with a password in it (``postgresql://user:pw@host/db``)."""
    try:
        return is_url(value) and urlsplit(value).password is not None
    except ValueError:  # a malformed URL: PyIceberg will say so
        return False
