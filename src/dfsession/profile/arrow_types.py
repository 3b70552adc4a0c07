"""Parse Arrow type names written in TOML profiles and format them back canonically."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pyarrow as pa

from dfsession.profile.values import describe_value

__all__ = ["format_arrow_type", "parse_arrow_type", "to_arrow_type"]

_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "null": pa.null(),
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float16": pa.float16(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
    "large_string": pa.large_string(),
    "string_view": pa.string_view(),
    "binary": pa.binary(),
    "large_binary": pa.large_binary(),
    "binary_view": pa.binary_view(),
    "date32": pa.date32(),
    "date64": pa.date64(),
    "month_day_nano_interval": pa.month_day_nano_interval(),
}

_SIMPLE_NAMES: dict[pa.DataType, str] = {t: name for name, t in _SIMPLE_TYPES.items()}

_ALIASES: dict[str, str] = {
    "boolean": "bool",
    "halffloat": "float16",
    "float": "float32",
    "double": "float64",
    "utf8": "string",
    "str": "string",
    "large_utf8": "large_string",
    "decimal": "decimal128",
}

# Unit that may follow date32/date64 in brackets (pyarrow spells them date32[day], date64[ms]).
_DATE_UNITS: dict[str, str] = {"date32": "day", "date64": "ms"}

_TIME_UNITS: dict[str, tuple[str, ...]] = {
    "timestamp": ("s", "ms", "us", "ns"),
    "time32": ("s", "ms"),
    "time64": ("us", "ns"),
    "duration": ("s", "ms", "us", "ns"),
}

_DECIMALS: dict[str, Callable[[int, int], pa.DataType]] = {
    "decimal32": pa.decimal32,
    "decimal64": pa.decimal64,
    "decimal128": pa.decimal128,
    "decimal256": pa.decimal256,
}

_PARAMETRIZED_NAMES: tuple[str, ...] = (
    *_TIME_UNITS,
    *_DECIMALS,
    "fixed_size_binary",
    "list",
    "large_list",
    "fixed_size_list",
    "struct",
    "map",
    "dictionary",
)

_CANONICAL_NAMES: tuple[str, ...] = tuple(sorted({*_SIMPLE_TYPES, *_PARAMETRIZED_NAMES}))

_MAX_DEPTH = 100

_ESCAPES: dict[str, str] = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_UNESCAPES: dict[str, str] = {v: "\\" + k for k, v in _ESCAPES.items()}

_DIGITS = "0123456789"
_TZ_PUNCTUATION = "/_+-:."
_TZ_STRIP = str.maketrans("", "", _TZ_PUNCTUATION)


def _is_word_char(ch: str) -> bool:
    """Return whether ``ch`` may appear in a type name or an unquoted field name."""
    return ch.isalnum() or ch == "_"


def _is_tz_char(ch: str) -> bool:
    """Return whether ``ch`` may appear in an unquoted time zone."""
    return ch.isascii() and (ch.isalnum() or ch in _TZ_PUNCTUATION)


def _quote(text: str) -> str:
    """Return ``text`` as a double-quoted string with backslash escapes."""
    return '"' + "".join(_UNESCAPES.get(ch, ch) for ch in text) + '"'


def _format_name(name: str) -> str:
    """Return a field name, quoted only when it is not a plain word."""
    if name and all(_is_word_char(ch) for ch in name):
        return name
    return _quote(name)


def _format_tz(tz: str) -> str:
    """Return a time zone, quoted only when it has unusual characters."""
    rest = tz.translate(_TZ_STRIP)  # what is left once the allowed punctuation is removed
    if tz and tz.isascii() and (not rest or rest.isalnum()):
        return tz
    return _quote(tz)


class _Parser:
    """Recursive-descent parser over one type text."""

    def __init__(self, text: str) -> None:
        """Start parsing ``text`` at its beginning."""
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- low-level scanning -------------------------------------------------

    def error(
        self, what: str, pos: int, expected: str | None = None, reason: str | None = None
    ) -> ValueError:
        """Build a ValueError quoting the input and the position."""
        message = f"{what} at position {pos} in {self.text!r}"
        if reason is not None:
            message += f": {reason}"
        if expected is not None:
            message += f"; expected {expected}"
        return ValueError(message)

    def found(self, pos: int) -> str:
        """Describe what the input holds at ``pos``."""
        if pos >= len(self.text):
            return "end of input"
        end = pos
        while end < len(self.text) and _is_word_char(self.text[end]):
            end += 1
        return repr(self.text[pos:end] if end > pos else self.text[pos])

    def skip_ws(self) -> None:
        """Move past whitespace."""
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        """Return the next non-blank character, or '' at the end."""
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def accept(self, ch: str) -> bool:
        """Consume ``ch`` if it is the next non-blank character."""
        if self.peek() == ch:
            self.pos += 1
            return True
        return False

    def expect(self, ch: str, context: str) -> None:
        """Consume ``ch`` or fail naming what was expected."""
        if not self.accept(ch):
            raise self.error(f"unexpected {self.found(self.pos)}", self.pos, f"{ch!r} {context}")

    def expect_close(self, ch: str, opener: str, open_pos: int, alternatives: str = "") -> None:
        """Consume the closing ``ch`` of a bracket opened at ``open_pos``."""
        if not self.accept(ch):
            expected = f"{alternatives}{ch!r} to close {opener!r} opened at position {open_pos}"
            raise self.error(f"unexpected {self.found(self.pos)}", self.pos, expected)

    def read_word(self) -> str:
        """Read a run of letters, digits and underscores (possibly empty)."""
        self.skip_ws()
        start = self.pos
        while self.pos < len(self.text) and _is_word_char(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def read_int(self, what: str, *, signed: bool = False) -> int:
        """Read a decimal integer described as ``what`` in errors."""
        self.skip_ws()
        start = self.pos
        if signed and self.text.startswith("-", self.pos):
            self.pos += 1
        digits_start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _DIGITS:
            self.pos += 1
        if self.pos == digits_start:
            self.pos = start
            raise self.error(f"unexpected {self.found(start)}", start, f"{what} (an integer)")
        return int(self.text[start : self.pos])

    def read_quoted(self) -> str:
        """Read a double-quoted string with backslash escapes."""
        start = self.pos
        self.pos += 1  # opening quote
        chars: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(chars)
            if ch == "\\":
                escaped = self.text[self.pos + 1 : self.pos + 2]
                if escaped not in _ESCAPES:
                    expected = 'one of the escapes \\\\, \\", \\n, \\t, \\r'
                    raise self.error(f"bad escape '\\{escaped}'", self.pos, expected)
                chars.append(_ESCAPES[escaped])
                self.pos += 2
                continue
            chars.append(ch)
            self.pos += 1
        raise self.error("unterminated quoted string", start, "a closing '\"'")

    def read_name(self, what: str) -> str:
        """Read a field name: a plain word or a double-quoted string."""
        if self.peek() == '"':
            return self.read_quoted()
        start = self.pos
        name = self.read_word()
        if not name:
            raise self.error(f"unexpected {self.found(start)}", start, what)
        return name

    def read_unit(self, type_name: str) -> str:
        """Read a time unit allowed for ``type_name``."""
        allowed = _TIME_UNITS[type_name]
        self.skip_ws()
        start = self.pos
        unit = self.read_word()
        if unit.lower() not in allowed:
            what = f"bad unit {unit!r}" if unit else f"unexpected {self.found(start)}"
            raise self.error(f"{what} for {type_name}", start, "one of: " + ", ".join(allowed))
        return unit.lower()

    # -- grammar --------------------------------------------------------------

    def parse(self) -> pa.DataType:
        """Parse the whole input as one type."""
        result = self.parse_type()
        self.skip_ws()
        if self.pos < len(self.text):
            rest = self.text[self.pos :]
            if len(rest) > 20:
                rest = rest[:20] + "..."
            raise self.error(f"unexpected trailing text {rest!r}", self.pos, "end of input")
        return result

    def parse_type(self) -> pa.DataType:
        """Parse one type at the current position."""
        self.skip_ws()
        start = self.pos
        if self.depth >= _MAX_DEPTH:
            raise self.error("type nested too deeply", start, f"at most {_MAX_DEPTH} levels")
        word = self.read_word()
        if not word:
            raise self.error(f"unexpected {self.found(start)}", start, "a type name")
        key = word.lower()
        key = _ALIASES.get(key, key)
        self.depth += 1
        try:
            return self.parse_named(key, word, start)
        finally:
            self.depth -= 1

    def parse_named(self, key: str, word: str, start: int) -> pa.DataType:
        """Parse the rest of a type whose canonical name is ``key``."""
        # One branch per family of type names (complexity 11): a flat table, read top down.
        if key in _SIMPLE_TYPES:
            if key in _DATE_UNITS and self.peek() == "[":
                self.parse_date_unit(key)
            return _SIMPLE_TYPES[key]
        if key in _TIME_UNITS:
            return self.parse_temporal(key)
        if key in _DECIMALS:
            return self.parse_decimal(key, start)
        if key == "fixed_size_binary":
            open_pos = self.pos
            self.expect("[", "after fixed_size_binary")
            width = self.read_int("byte width")
            self.expect_close("]", "[", open_pos)
            return pa.binary(width)
        if key in ("list", "large_list", "fixed_size_list"):
            return self.parse_list(key)
        if key == "struct":
            return self.parse_struct()
        if key == "map":
            return self.parse_map(start)
        if key == "dictionary":
            return self.parse_dictionary(start)
        what = f"unknown type name {word!r}"
        close = difflib.get_close_matches(word.lower(), [*_CANONICAL_NAMES, *_ALIASES], n=1)
        if close:
            what += f" (did you mean {close[0]!r}?)"
        raise self.error(what, start, "one of: " + ", ".join(_CANONICAL_NAMES))

    def parse_date_unit(self, key: str) -> None:
        """Consume the optional '[day]' or '[ms]' after date32 or date64."""
        open_pos = self.pos
        self.expect("[", f"after {key}")
        self.skip_ws()
        unit_pos = self.pos
        unit = self.read_word()
        if unit.lower() != _DATE_UNITS[key]:
            what = f"bad unit {unit!r}" if unit else f"unexpected {self.found(unit_pos)}"
            raise self.error(f"{what} for {key}", unit_pos, repr(_DATE_UNITS[key]))
        self.expect_close("]", "[", open_pos)

    def parse_temporal(self, key: str) -> pa.DataType:
        """Parse timestamp, time32, time64 or duration after its name."""
        open_pos = self.pos
        self.expect("[", f"after {key}")
        unit = self.read_unit(key)
        if key == "timestamp":
            tz = self.parse_tz() if self.accept(",") else None
            self.expect_close("]", "[", open_pos, "',' and a time zone or " if tz is None else "")
            return pa.timestamp(unit, tz)
        self.expect_close("]", "[", open_pos)
        if key == "time32":
            return pa.time32(unit)
        if key == "time64":
            return pa.time64(unit)
        return pa.duration(unit)

    def parse_tz(self) -> str:
        """Parse a time zone, optionally written as pyarrow's 'tz=...'."""
        self.skip_ws()
        saved = self.pos
        if self.read_word().lower() != "tz" or not self.accept("="):
            self.pos = saved
        if self.peek() == '"':
            return self.read_quoted()
        start = self.pos
        while self.pos < len(self.text) and _is_tz_char(self.text[self.pos]):
            self.pos += 1
        if self.pos == start:
            expected = "a time zone such as UTC, Europe/Paris or +01:00"
            raise self.error(f"unexpected {self.found(start)}", start, expected)
        return self.text[start : self.pos]

    def parse_decimal(self, key: str, start: int) -> pa.DataType:
        """Parse '(precision, scale)' after a decimal type name."""
        open_pos = self.pos
        self.expect("(", f"after {key}, as in {key}(10, 2)")
        precision = self.read_int("precision")
        if not self.accept(","):
            expected = f"',' and a scale, as in {key}({precision}, 2)"
            raise self.error(
                f"missing scale: unexpected {self.found(self.pos)}", self.pos, expected
            )
        scale = self.read_int("scale", signed=True)
        self.expect_close(")", "(", open_pos)
        try:
            return _DECIMALS[key](precision, scale)
        except (TypeError, ValueError) as exc:
            raise self.error(
                f"invalid {key}({precision}, {scale})", start, None, str(exc)
            ) from None

    def parse_item(self) -> pa.Field | pa.DataType:
        """Parse a list item: a type, optionally preceded by 'name:'."""
        self.skip_ws()
        saved = self.pos
        if self.peek() == '"' or _is_word_char(self.peek()):
            name = self.read_name("a type")
            if self.accept(":"):
                return pa.field(name, self.parse_type())
        self.pos = saved
        return self.parse_type()

    def parse_list(self, key: str) -> pa.DataType:
        """Parse the '<...>' part of list, large_list or fixed_size_list."""
        open_pos = self.pos
        self.expect("<", f"after {key}")
        item = self.parse_item()
        if key == "list":
            self.expect_close(">", "<", open_pos)
            return pa.list_(item)
        if key == "large_list":
            self.expect_close(">", "<", open_pos)
            return pa.large_list(item)
        if self.accept(","):
            size = self.read_int("list size")
            self.expect_close(">", "<", open_pos)
        else:
            self.expect_close(">", "<", open_pos, "',' and a list size or ")
            size_open = self.pos
            self.expect("[", "with the list size, as in fixed_size_list<int32, 3>")
            size = self.read_int("list size")
            self.expect_close("]", "[", size_open)
        return pa.list_(item, size)

    def parse_struct(self) -> pa.DataType:
        """Parse the '<name: type, ...>' part of a struct."""
        open_pos = self.pos
        self.expect("<", "after struct")
        fields: list[pa.Field] = []
        if self.accept(">"):
            return pa.struct(fields)
        while True:
            name = self.read_name("a field name")
            self.expect(":", f"after field name {name!r}")
            fields.append(pa.field(name, self.parse_type()))
            if not self.accept(","):
                self.expect_close(">", "<", open_pos, "',' or ")
                return pa.struct(fields)

    def parse_map(self, start: int) -> pa.DataType:
        """Parse the '<key, value>' part of a map."""
        open_pos = self.pos
        self.expect("<", "after map")
        key_type = self.parse_type()
        self.expect(",", "between the map key and value types")
        item_type = self.parse_type()
        keys_sorted = False
        if self.accept(","):
            self.skip_ws()
            flag_pos = self.pos
            flag = self.read_word()
            if flag.lower() != "keys_sorted":
                what = f"unexpected {self.found(flag_pos)}"
                raise self.error(what, flag_pos, "'keys_sorted' or '>'")
            keys_sorted = True
        self.expect_close(">", "<", open_pos)
        try:
            return pa.map_(key_type, item_type, keys_sorted=keys_sorted)
        except (TypeError, ValueError) as exc:
            raise self.error("invalid map", start, None, str(exc)) from None

    def parse_dictionary(self, start: int) -> pa.DataType:
        """Parse the '<values=T, indices=I[, ordered=B]>' part of a dictionary."""
        open_pos = self.pos
        self.expect("<", "after dictionary")
        values: pa.DataType | None = None
        indices: pa.DataType | None = None
        ordered = False
        seen: set[str] = set()
        while True:
            self.skip_ws()
            key_pos = self.pos
            key = self.read_word().lower()
            if key not in ("values", "indices", "ordered") or key in seen:
                what = f"duplicate {key!r}" if key in seen else f"unexpected {self.found(key_pos)}"
                raise self.error(what, key_pos, "one of: values=, indices=, ordered=")
            seen.add(key)
            self.expect("=", f"after {key!r}")
            if key == "values":
                values = self.parse_type()
            elif key == "indices":
                indices = self.parse_type()
            else:
                self.skip_ws()
                flag_pos = self.pos
                flag = self.read_word().lower()
                if flag not in ("0", "1", "false", "true"):
                    raise self.error(
                        f"unexpected {self.found(flag_pos)}", flag_pos, "true or false"
                    )
                ordered = flag in ("1", "true")
            if not self.accept(","):
                break
        self.expect_close(">", "<", open_pos, "',' or ")
        if values is None or indices is None:
            missing = "values" if values is None else "indices"
            raise self.error(
                f"dictionary without {missing}=", start, f"'{missing}=' inside '<...>'"
            )
        try:
            return pa.dictionary(indices, values, ordered)
        except (TypeError, ValueError) as exc:
            raise self.error("invalid dictionary", start, None, str(exc)) from None


def parse_arrow_type(text: str) -> pa.DataType:
    """Parse an Arrow type name such as 'list<struct<a: int64>>' into a pyarrow DataType."""
    if not isinstance(text, str):
        raise TypeError(f"expected an Arrow type name as str, got {type(text).__name__}")
    return _Parser(text).parse()


def to_arrow_type(value: object) -> pa.DataType:
    """How a profile reads an Arrow type: a name (parsed) or a ``pa.DataType`` (kept)."""
    if isinstance(value, pa.DataType):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"expected an Arrow type name such as 'int64' (got {describe_value(value)})"
        )
    return parse_arrow_type(value)


def format_arrow_type(t: pa.DataType) -> str:
    """Format a pyarrow DataType as canonical text that parse_arrow_type reads back."""
    if not isinstance(t, pa.DataType):
        raise TypeError(f"expected a pyarrow DataType, got {type(t).__name__}")
    return _format(t, t)


def _format_child(field: pa.Field, parent: pa.DataType, root: pa.DataType) -> str:
    """Format the type of a nested field, which must be nullable."""
    if not field.nullable:
        raise ValueError(
            f"cannot express Arrow type {parent} (in {root}): field {field.name!r} is not "
            "nullable, and nested fields are always nullable in this syntax"
        )
    return _format(field.type, root)


def _format(t: pa.DataType, root: pa.DataType) -> str:
    """Format ``t``, naming ``root`` in errors."""
    # One branch per Arrow type family (complexity 16): the inverse of the parser's table,
    # kept as one flat list so that a type's text form is found in one place.
    if not isinstance(t, pa.BaseExtensionType):
        name = _SIMPLE_NAMES.get(t)
        if name is not None:
            return name
    types = pa.types
    if types.is_timestamp(t):
        return f"timestamp[{t.unit}, {_format_tz(t.tz)}]" if t.tz else f"timestamp[{t.unit}]"
    if types.is_time32(t):
        return f"time32[{t.unit}]"
    if types.is_time64(t):
        return f"time64[{t.unit}]"
    if types.is_duration(t):
        return f"duration[{t.unit}]"
    for key in _DECIMALS:
        if getattr(types, f"is_{key}")(t):
            return f"{key}({t.precision}, {t.scale})"
    if types.is_fixed_size_binary(t):
        return f"fixed_size_binary[{t.byte_width}]"
    if types.is_list(t):
        return f"list<{_format_child(t.value_field, t, root)}>"
    if types.is_large_list(t):
        return f"large_list<{_format_child(t.value_field, t, root)}>"
    if types.is_fixed_size_list(t):
        return f"fixed_size_list<{_format_child(t.value_field, t, root)}, {t.list_size}>"
    if types.is_struct(t):
        fields = (f"{_format_name(f.name)}: {_format_child(f, t, root)}" for f in t)
        return "struct<" + ", ".join(fields) + ">"
    if types.is_map(t):
        key = _format(t.key_type, root)
        item = _format_child(t.item_field, t, root)
        return f"map<{key}, {item}, keys_sorted>" if t.keys_sorted else f"map<{key}, {item}>"
    if types.is_dictionary(t):
        text = f"dictionary<values={_format(t.value_type, root)}"
        text += f", indices={_format(t.index_type, root)}"
        return text + (", ordered=true>" if t.ordered else ">")
    where = "" if t is root or t == root else f" (in {root})"
    raise ValueError(f"cannot express Arrow type {t}{where}: no text form for this type")
