"""Locations: a dataset path or URL, or an object store's URL, parsed once; the one redactor."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import attrs

from dfsession.profile.values import describe_value

__all__ = ["Location", "is_url", "redact_url"]

#: A URL starts with a scheme (RFC 3986: a letter, then letters, digits, ``+``, ``-``, ``.``)
#: and ``://``; anything else is a plain file path.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
#: The separator between a URL's scheme and its host.
_SEPARATOR = "://"

_CREDENTIALS = (
    "a URL with user credentials (user:password@host); remove them and put them in the object "
    'store\'s secrets as { env = "VARIABLE" } references'
)


def is_url(text: str) -> bool:
    """Whether ``text`` is a URL (``scheme://...``) rather than a plain file path."""
    return _URL.match(text) is not None


def redact_url(text: str) -> str:
    """``text`` safe to record and log: URL user info and query values become ``***``.

    A fragment is dropped; a plain path (no ``scheme://``) is returned as it is.
    """
    if _URL.match(text) is None:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:  # a malformed host ("[::1"): nothing of it is worth showing
        return f"{text.split(_SEPARATOR, 1)[0]}{_SEPARATOR}***"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{key}=***" for key, _value in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@attrs.frozen(repr=False)
class Location:
    """Where data lives: a plain file path, or a URL such as ``s3://lake/trips/``.

    ``text`` is the location as written (``str()`` returns it); ``scheme`` is lower case, or
    ``None`` for a plain path (``file`` for ``file://``); ``host`` is the URL's host (the
    bucket or container) and ``path`` the rest (the whole text for a plain path). A URL with
    user credentials is refused: they belong in an object store's secrets.
    """

    #: How a profile writes one (JSON Schema).
    input_schema: ClassVar[Mapping[str, Any]] = {
        "type": "string",
        "minLength": 1,
        "examples": ["s3://lake/trips/", "data/trips/"],
    }

    text: str
    scheme: str | None
    host: str
    path: str

    @classmethod
    def parse(cls, value: object) -> Location:
        """Parse a path or URL; ``ValueError`` for an empty one, a bad URL or credentials."""
        if isinstance(value, Location):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a path or a URL (got {describe_value(value)})")
        match = _URL.match(value)
        if match is None:
            return cls(value, None, "", value)
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc}): {redact_url(value)!r}") from None
        if "@" in parts.netloc:
            raise ValueError(_CREDENTIALS)
        return cls(value, match.group(1).lower(), parts.netloc, parts.path)

    def unstructure(self) -> str:
        """The location as written."""
        return self.text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Location({self.redacted()!r})"

    @property
    def is_local(self) -> bool:
        """Whether it is a plain file path or a ``file://`` URL."""
        return self.scheme is None or self.scheme == "file"

    @property
    def file_path(self) -> str | None:
        """The file path of a local location (``file://`` removed); ``None`` for a remote one."""
        if self.scheme is None:
            return self.text
        if self.scheme == "file":
            return self.text.split(_SEPARATOR, 1)[1]
        return None

    @property
    def store_key(self) -> tuple[str | None, str]:
        """``(scheme, host)``: the engine keeps one object store per pair."""
        return self.scheme, self.host

    @property
    def prefix(self) -> str:
        """The scheme with its separator (``s3://``), as the engine registers stores under."""
        return f"{self.scheme}{_SEPARATOR}" if self.scheme is not None else ""

    @property
    def root(self) -> str:
        """``scheme://host`` of a URL (``s3://lake``), the store it lies in; ``""`` for a path."""
        return f"{self.prefix}{self.host}" if self.scheme is not None else ""

    @property
    def inner_path(self) -> str:
        """The path under the host, without its leading ``/`` (``trips/2024`` of s3://lake/trips/2024)."""
        return self.path.removeprefix("/")

    def on_host(self, host: str) -> str:
        """The URL with ``host`` in place of its own (a store's real bucket of another name)."""
        return f"{self.prefix}{host}/{self.inner_path}"

    def redacted(self) -> str:
        """The location safe to record and log (query values masked; see ``redact_url``)."""
        return redact_url(self.text)
