"""Typed values of a profile: sizes, secret references, import references, timestamps, maps.

Each value type has ONE ``parse(value)`` classmethod (it returns an instance unchanged) and an
``unstructure()`` method giving its canonical plain form; the profile's converter learns every
such class through those two, and sections use the same ``parse`` as attrs converters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from datetime import UTC, datetime
from difflib import get_close_matches
from fractions import Fraction
from typing import Any, ClassVar, TypeVar

import attrs

__all__ = [
    "INT64_MAX",
    "ByteSize",
    "FieldError",
    "FieldsError",
    "FrozenMap",
    "ImportRef",
    "SPILL_MODES",
    "SecretRef",
    "TextMap",
    "Timestamp",
    "describe_value",
    "did_you_mean",
    "doc",
    "frozen_map",
    "frozen_tuple",
    "given_fields",
    "identifier",
    "import_refs",
    "non_negative",
    "OneOf",
    "one_of",
    "optional_field",
    "parsed_field",
    "positive",
    "raise_all",
    "settings_map",
    "spill",
]

K = TypeVar("K")
V = TypeVar("V")


class FieldError(ValueError):
    """A value that failed validation; ``field`` is its path relative to the owning section."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class FieldsError(ValueError):
    """Several ``FieldError`` found together by one check (rules between fields)."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


def raise_all(problems: Iterable[FieldError]) -> None:
    """Raise every problem at once: the one ``FieldError``, or ``FieldsError`` of several."""
    found = list(problems)
    if len(found) == 1:
        raise found[0]
    if found:
        raise FieldsError(found)


class FrozenMap(Mapping[K, V]):
    """An immutable, hashable mapping that keeps insertion order."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # The Mapping mixins go through __getitem__ and __iter__; the dict's own methods are faster.
    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: K, default: Any = None) -> Any:
        """The value for ``key``, else ``default``."""
        return self._data.get(key, default)

    def keys(self) -> KeysView[K]:
        """A view of the keys."""
        return self._data.keys()

    def items(self) -> ItemsView[K, V]:
        """A view of the (key, value) pairs."""
        return self._data.items()

    def values(self) -> ValuesView[V]:
        """A view of the values."""
        return self._data.values()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return len(self._data) == len(other) and self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def frozen_map(value: Mapping[Any, Any] | None) -> FrozenMap[Any, Any]:
    """attrs converter: any mapping (or ``None``) to a ``FrozenMap``."""
    if value is None:
        return FrozenMap()
    if isinstance(value, FrozenMap):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a table of names to values (got {value!r})")
    return FrozenMap(value)


def frozen_tuple(value: Iterable[Any] | None) -> tuple[Any, ...]:
    """attrs converter: any iterable but a string (or ``None``) to a tuple."""
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list (got {value!r})")
    return tuple(value)


def settings_map(value: Mapping[str, Any] | None) -> FrozenMap[str, str]:
    """Raw engine settings: names to strings (numbers and booleans as DataFusion reads them)."""
    out: dict[str, str] = {}
    for key, raw in frozen_map(value).items():
        if not isinstance(key, str) or "." not in key:
            raise FieldError(
                str(key), "expected a dotted DataFusion setting name such as 'datafusion.x.y'"
            )
        if isinstance(raw, bool):
            out[key] = "true" if raw else "false"
        elif isinstance(raw, int | float | str):
            out[key] = str(raw)
        else:
            raise FieldError(key, f"expected a string, number or boolean (got {raw!r})")
    return FrozenMap(out)


class TextMap(FrozenMap[str, str]):
    """Names to text values, numbers and booleans written as their text (catalog properties)."""

    __slots__ = ()

    #: How a profile writes one (JSON Schema).
    input_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"]},
        "examples": [{"type": "sql", "uri": "sqlite:///catalog.db"}],
    }

    @classmethod
    def parse(cls, value: object) -> TextMap:
        """A table of names to strings, numbers or booleans; ``ValueError`` naming the culprit."""
        if isinstance(value, TextMap):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table of names to values (got {describe_value(value)})")
        out: dict[str, str] = {}
        for key, raw in value.items():
            if isinstance(raw, bool):
                out[key] = "true" if raw else "false"
            elif isinstance(raw, int | float | str):
                out[key] = str(raw)
            else:
                raise FieldError(
                    key, f"expected a string, number or boolean (got {describe_value(raw)})"
                )
        return cls(out)

    def unstructure(self) -> dict[str, str]:
        """The names and their text."""
        return dict(self.items())


def describe_value(value: object) -> str:
    """A value as error messages show it: ``'x' that is a string``, ``[1] that is a list``."""
    kinds = {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}
    kind = next(
        (word for cls, word in kinds.items() if isinstance(value, cls)), type(value).__name__
    )
    return f"{value!r} that is {kind}" if kind[0] == "a" else f"{value!r}"


def doc(text: str, example: Any = None) -> dict[str, Any]:
    """attrs field metadata describing a profile field (for its JSON Schema and docs).

    ``example``: a value as a profile writes it, for fields whose type gives no good one.
    """
    return {"doc": text} if example is None else {"doc": text, "example": example}


def parsed_field(
    parse: Callable[[Any], Any], text: str, *, example: Any = None, **kwargs: Any
) -> Any:
    """An attrs field whose value ``parse`` reads (a raw value or one parsed already)."""
    return attrs.field(converter=parse, metadata=doc(text, example), **kwargs)


def optional_field(
    parse: Callable[[Any], Any], text: str, *, example: Any = None, **kwargs: Any
) -> Any:
    """An optional attrs field (``None``: not given) whose given value ``parse`` reads."""
    return attrs.field(
        default=None,
        converter=attrs.converters.optional(parse),
        metadata=doc(text, example),
        **kwargs,
    )


def given_fields(section: Any) -> dict[str, Any]:
    """The fields of an attrs ``section`` that were given (not ``None``), by name, in order."""
    values = ((field.name, getattr(section, field.name)) for field in attrs.fields(type(section)))
    return {name: value for name, value in values if value is not None}


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""`` when none is close."""
    close = get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# --- sizes -------------------------------------------------------------------------------------

_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
#: The largest integer a profile holds: TOML integers are 64-bit, and so are the engine's sizes.
INT64_MAX = 2**63 - 1
#: More digits than any size up to ``INT64_MAX`` needs, even with a fraction.
_SIZE_MAX_DIGITS = 40


class ByteSize(int):
    """A number of bytes, written in a profile as ``2GiB``, ``512MB``, ``64M`` or an integer."""

    #: How a profile writes one (JSON Schema).
    input_schema: ClassVar[Mapping[str, Any]] = {
        "anyOf": [
            {"type": "integer", "minimum": 1},
            {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[A-Za-z]*\s*$"},
        ],
        "examples": ["2GiB", "512MB"],
    }

    @classmethod
    def parse(cls, value: object) -> ByteSize:
        """Parse an integer or a size string; raise ``ValueError`` saying what is accepted."""
        if isinstance(value, ByteSize):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            number = _parse_size_text(value)
        else:
            raise ValueError(
                f"expected a size such as 512MiB, 2GiB or a number of bytes (got {value!r})"
            )
        if number <= 0:
            raise ValueError(f"expected a positive size (got {value!r})")
        if number > INT64_MAX:
            got = repr(value) if isinstance(value, str) else f"{number.bit_length()} bits"
            raise ValueError(
                f"expected a size below 8EiB: the engine counts bytes in 64-bit integers "
                f"(got {got})"
            )
        return cls(number)

    def unstructure(self) -> str:
        """The canonical text: the largest binary unit that divides it (``2GiB``)."""
        return str(self)

    def __str__(self) -> str:
        for suffix, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if self % factor == 0:
                return f"{int(self) // factor}{suffix}"
        return str(int(self))

    def __repr__(self) -> str:
        return f"ByteSize({str(self)!r})"


def _parse_size_text(text: str) -> int:
    """The exact number of bytes ``text`` names (no float rounding: ``2**53 + 1`` stays itself)."""
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"expected a size such as 512MiB, 2GiB or a number of bytes (got {text!r})"
        )
    if len(match.group(1)) > _SIZE_MAX_DIGITS:  # refused before Python reads the digits
        raise ValueError(f"expected a size written in at most {_SIZE_MAX_DIGITS} digits")
    exact = Fraction(match.group(1)) * _UNITS[unit]
    if exact.denominator != 1:
        raise ValueError(f"expected a whole number of bytes (got {text!r}: {float(exact)} bytes)")
    return int(exact)


# --- secrets -----------------------------------------------------------------------------------

_SECRET_FORMS = (
    'expected a secret reference: { env = "VARIABLE" } to read an environment variable, '
    'or { literal = "..." } to embed the value in the profile'
)


@attrs.frozen(repr=False)
class SecretRef:
    """A credential: the name of an environment variable, or a literal the user marked as one.

    The value is read only by :meth:`resolve`, when a step needs it; ``repr`` never shows it.
    """

    #: How a profile writes one (JSON Schema).
    input_schema: ClassVar[Mapping[str, Any]] = {
        "oneOf": [
            {
                "type": "object",
                "properties": {"env": {"type": "string", "minLength": 1}},
                "required": ["env"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"literal": {"type": "string"}},
                "required": ["literal"],
                "additionalProperties": False,
            },
        ],
        "examples": [{"env": "LAKE_SECRET"}],
    }

    env: str | None = attrs.field(default=None, metadata=doc("the environment variable to read"))
    literal: str | None = attrs.field(
        default=None, metadata=doc("the value itself, embedded in the profile")
    )

    def __attrs_post_init__(self) -> None:
        if (self.env is None) == (self.literal is None):
            raise ValueError(_SECRET_FORMS)
        if self.env is not None and not self.env:
            raise ValueError("the environment variable name of a secret is empty")

    @classmethod
    def parse(cls, value: object) -> SecretRef:
        """A reference from ``{ env = "NAME" }`` or ``{ literal = "..." }``; never echoes one."""
        if isinstance(value, SecretRef):
            return value
        if (
            not isinstance(value, Mapping)
            or len(value) != 1
            or not set(value) <= {"env", "literal"}
        ):
            raise ValueError(_SECRET_FORMS)
        ((key, text),) = value.items()
        if not isinstance(text, str):
            # Never echo the value: it may be the credential itself, written without quotes.
            raise ValueError(
                f"expected a string for the secret's {key} "
                f"(got a value of type {type(text).__name__})"
            )
        return cls(**{key: text})

    def unstructure(self) -> dict[str, str]:
        """``{"env": NAME}`` or ``{"literal": VALUE}``, as the profile writes it."""
        return {"env": self.env} if self.env is not None else {"literal": self.literal or ""}

    def resolve(self, environ: Mapping[str, str]) -> str:
        """Return the secret's value; a missing variable is a ``ValueError`` naming it."""
        if self.literal is not None:
            return self.literal
        assert self.env is not None
        try:
            return environ[self.env]
        except KeyError:
            raise ValueError(
                f"environment variable {self.env!r} is not set; "
                "export it before building the session"
            ) from None

    def describe(self) -> str:
        """Text safe to log: where the value comes from, never the value."""
        return f"env:{self.env}" if self.env is not None else "literal:***"

    def __repr__(self) -> str:
        return f"SecretRef({self.describe()})"


# --- import references -------------------------------------------------------------------------


def resolve_secrets(
    secrets: Mapping[str, SecretRef], where: str, environ: Mapping[str, str]
) -> dict[str, str]:
    """Every secret of one section (``where``: its dotted path), read now.

    All missing variables are reported at once, each at ``<where>.secrets.<key>``.
    """
    from dfsession.errors import ProfileError  # noqa: PLC0415 - errors imports no profile module

    values: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for key, secret in secrets.items():
        try:
            values[key] = secret.resolve(environ)
        except ValueError as exc:
            problems.append((f"{where}.secrets.{key}", str(exc)))
    if problems:
        raise ProfileError(problems)
    return values


_IMPORT_REF_RE = re.compile(
    r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$"
)


class ImportRef(str):
    """A checked ``package.module:attribute`` reference (a ``str``, as the profile writes it)."""

    __slots__ = ()
    #: How a profile writes one (JSON Schema).
    input_schema: ClassVar[Mapping[str, Any]] = {
        "type": "string",
        "pattern": _IMPORT_REF_RE.pattern,
        "examples": ["mypkg.functions:haversine"],
    }

    @classmethod
    def parse(cls, value: object) -> ImportRef:
        """Check the ``package.module:attribute`` form; raise ``ValueError`` showing it."""
        if isinstance(value, ImportRef):
            return value
        if not isinstance(value, str) or not _IMPORT_REF_RE.match(value):
            raise ValueError(
                f"expected an import reference 'package.module:attribute' (got {value!r})"
            )
        return cls(value)

    def unstructure(self) -> str:
        """The reference as written."""
        return str(self)

    @property
    def module(self) -> str:
        """The dotted module name, before the ``:``."""
        return self.partition(":")[0]

    @property
    def attribute(self) -> str:
        """The (dotted) attribute path inside the module, after the ``:``."""
        return self.partition(":")[2]


def import_refs(value: Iterable[Any] | None) -> tuple[ImportRef, ...]:
    """attrs converter: a list of import references."""
    return tuple(ImportRef.parse(item) for item in frozen_tuple(value))


# --- timestamps --------------------------------------------------------------------------------


@attrs.frozen
class Timestamp:
    """An RFC 3339 moment, parsed when the profile loads; ``text`` is kept as written.

    A timestamp without a zone is read as UTC. The profile (and its fingerprint) keeps the text.
    """

    #: How a profile writes one (JSON Schema).
    input_schema: ClassVar[Mapping[str, Any]] = {
        "type": "string",
        "examples": ["2024-05-01T12:00:00Z"],
    }

    text: str
    moment: datetime = attrs.field(eq=False, repr=False)

    @classmethod
    def parse(cls, value: object) -> Timestamp:
        """Parse RFC 3339 text such as ``2024-05-01T12:00:00Z``; ``ValueError`` saying so."""
        if isinstance(value, Timestamp):
            return value
        example = "such as '2024-05-01T12:00:00Z'"
        if not isinstance(value, str):
            raise ValueError(
                f"expected an RFC 3339 timestamp string {example} (got {describe_value(value)})"
            )
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected an RFC 3339 timestamp {example} (got {value!r})") from None
        return cls(value, moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))

    def unstructure(self) -> str:
        """The text as written."""
        return self.text

    def __str__(self) -> str:
        return self.text


# --- spill -------------------------------------------------------------------------------------

SPILL_MODES = ("disabled", "os")


def spill(value: object) -> str | tuple[str, ...] | None:
    """Where the engine spills: ``"disabled"``, ``"os"`` or a non-empty list of directories."""
    if value is None:
        return None
    if isinstance(value, str) and value in SPILL_MODES:
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(p, str) and p for p in value):
        return tuple(value)
    raise ValueError(
        f'expected "disabled", "os" or a non-empty list of directories '
        f"(got {describe_value(value)})"
    )


# --- validators --------------------------------------------------------------------------------


@attrs.frozen
class OneOf:
    """attrs validator: one of ``choices`` (``None`` when that is the default)."""

    choices: tuple[str, ...]

    def __call__(self, _inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and attribute.default is None:
            return
        if value not in self.choices:
            raise FieldError(
                attribute.name, f"expected one of {', '.join(self.choices)} (got {value!r})"
            )


def one_of(*choices: str) -> OneOf:
    """attrs validator: one of ``choices`` (``None`` when that is the default)."""
    return OneOf(choices)


def positive(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: ``None`` or a positive integer."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FieldError(attribute.name, f"expected a positive integer (got {value!r})")


def non_negative(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: ``None`` or an integer ``>= 0`` (a count, a table version)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError(attribute.name, f"expected an int >= 0 (got {value!r})")


def identifier(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: a non-empty name."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError(attribute.name, f"expected a non-empty name (got {value!r})")
