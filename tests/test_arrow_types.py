"""Tests for parsing and formatting Arrow type names."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfsession.profile.arrow_types import format_arrow_type, parse_arrow_type

# (text written by a user, expected type, canonical text)
CASES: list[tuple[str, Any, str | None]] = [
    # simple types and their aliases
    ("null", pa.null(), "null"),
    ("bool", pa.bool_(), "bool"),
    ("boolean", pa.bool_(), "bool"),
    ("int8", pa.int8(), "int8"),
    ("int16", pa.int16(), "int16"),
    ("int32", pa.int32(), "int32"),
    ("int64", pa.int64(), "int64"),
    ("uint8", pa.uint8(), "uint8"),
    ("uint16", pa.uint16(), "uint16"),
    ("uint32", pa.uint32(), "uint32"),
    ("uint64", pa.uint64(), "uint64"),
    ("float16", pa.float16(), "float16"),
    ("halffloat", pa.float16(), "float16"),
    ("float32", pa.float32(), "float32"),
    ("float", pa.float32(), "float32"),
    ("float64", pa.float64(), "float64"),
    ("double", pa.float64(), "float64"),
    ("string", pa.string(), "string"),
    ("utf8", pa.string(), "string"),
    ("str", pa.string(), "string"),
    ("large_string", pa.large_string(), "large_string"),
    ("large_utf8", pa.large_string(), "large_string"),
    ("string_view", pa.string_view(), "string_view"),
    ("binary", pa.binary(), "binary"),
    ("large_binary", pa.large_binary(), "large_binary"),
    ("binary_view", pa.binary_view(), "binary_view"),
    ("date32", pa.date32(), "date32"),
    ("date32[day]", pa.date32(), "date32"),
    ("date64", pa.date64(), "date64"),
    ("date64[ms]", pa.date64(), "date64"),
    ("month_day_nano_interval", pa.month_day_nano_interval(), "month_day_nano_interval"),
    ("fixed_size_binary[16]", pa.binary(16), "fixed_size_binary[16]"),
    # case and whitespace insensitivity
    ("INT32", pa.int32(), "int32"),
    ("Boolean", pa.bool_(), "bool"),
    ("  UTF8\t", pa.string(), "string"),
    ("Date32 [ DAY ]", pa.date32(), "date32"),
    # timestamps
    ("timestamp[s]", pa.timestamp("s"), "timestamp[s]"),
    ("timestamp[ms]", pa.timestamp("ms"), "timestamp[ms]"),
    ("timestamp[us]", pa.timestamp("us"), "timestamp[us]"),
    ("timestamp[ns]", pa.timestamp("ns"), "timestamp[ns]"),
    ("timestamp[us, UTC]", pa.timestamp("us", "UTC"), "timestamp[us, UTC]"),
    ("timestamp[us, tz=UTC]", pa.timestamp("us", "UTC"), "timestamp[us, UTC]"),
    ("timestamp[ ns ,tz = Europe/Paris ]", pa.timestamp("ns", "Europe/Paris"), None),
    ("timestamp[ms, +01:00]", pa.timestamp("ms", "+01:00"), "timestamp[ms, +01:00]"),
    ("timestamp[s, -05:30]", pa.timestamp("s", "-05:30"), "timestamp[s, -05:30]"),
    (
        "timestamp[us, America/Argentina/Buenos_Aires]",
        pa.timestamp("us", "America/Argentina/Buenos_Aires"),
        "timestamp[us, America/Argentina/Buenos_Aires]",
    ),
    ("timestamp[us, Etc/GMT+5]", pa.timestamp("us", "Etc/GMT+5"), "timestamp[us, Etc/GMT+5]"),
    ('timestamp[us, "UTC"]', pa.timestamp("us", "UTC"), "timestamp[us, UTC]"),
    ('timestamp[us, "Odd Zone"]', pa.timestamp("us", "Odd Zone"), 'timestamp[us, "Odd Zone"]'),
    ("TIMESTAMP[US, utc]", pa.timestamp("us", "utc"), "timestamp[us, utc]"),
    # times and durations
    ("time32[s]", pa.time32("s"), "time32[s]"),
    ("time32[ms]", pa.time32("ms"), "time32[ms]"),
    ("time64[us]", pa.time64("us"), "time64[us]"),
    ("time64[ns]", pa.time64("ns"), "time64[ns]"),
    ("duration[s]", pa.duration("s"), "duration[s]"),
    ("duration[ms]", pa.duration("ms"), "duration[ms]"),
    ("duration[us]", pa.duration("us"), "duration[us]"),
    ("Duration[ NS ]", pa.duration("ns"), "duration[ns]"),
    # decimals
    ("decimal128(10, 2)", pa.decimal128(10, 2), "decimal128(10, 2)"),
    ("decimal128(10,2)", pa.decimal128(10, 2), "decimal128(10, 2)"),
    ("decimal(10, 2)", pa.decimal128(10, 2), "decimal128(10, 2)"),
    ("decimal128(38, -3)", pa.decimal128(38, -3), "decimal128(38, -3)"),
    ("decimal256(40, 5)", pa.decimal256(40, 5), "decimal256(40, 5)"),
    ("decimal32(9, 2)", pa.decimal32(9, 2), "decimal32(9, 2)"),
    ("decimal64(18, 4)", pa.decimal64(18, 4), "decimal64(18, 4)"),
    # lists
    ("list<int32>", pa.list_(pa.int32()), "list<int32>"),
    ("list<item: int32>", pa.list_(pa.int32()), "list<int32>"),
    ("list < list < utf8 > >", pa.list_(pa.list_(pa.string())), "list<list<string>>"),
    ("large_list<int32>", pa.large_list(pa.int32()), "large_list<int32>"),
    ("large_list<item: double>", pa.large_list(pa.float64()), "large_list<float64>"),
    ("fixed_size_list<int32, 3>", pa.list_(pa.int32(), 3), "fixed_size_list<int32, 3>"),
    ("fixed_size_list<item: int32>[3]", pa.list_(pa.int32(), 3), "fixed_size_list<int32, 3>"),
    ("fixed_size_list<int32>[3]", pa.list_(pa.int32(), 3), "fixed_size_list<int32, 3>"),
    # structs
    ("struct<>", pa.struct([]), "struct<>"),
    (
        "struct<a: int64, b: list<string>>",
        pa.struct([("a", pa.int64()), ("b", pa.list_(pa.string()))]),
        "struct<a: int64, b: list<string>>",
    ),
    (
        'struct<"first name": string, "a,b": int8, "q\\"t": bool, "": null, Ünï_2: str>',
        pa.struct(
            [
                ("first name", pa.string()),
                ("a,b", pa.int8()),
                ('q"t', pa.bool_()),
                ("", pa.null()),
                ("Ünï_2", pa.string()),
            ]
        ),
        'struct<"first name": string, "a,b": int8, "q\\"t": bool, "": null, Ünï_2: string>',
    ),
    ('struct<"plain": int8>', pa.struct([("plain", pa.int8())]), "struct<plain: int8>"),
    (
        'struct<"tab\\there\\nnl\\\\": int8>',
        pa.struct([("tab\there\nnl\\", pa.int8())]),
        'struct<"tab\\there\\nnl\\\\": int8>',
    ),
    (
        "STRUCT<Int32: int32, list: LIST<struct<x: float, y: float>>>",
        pa.struct(
            [
                ("Int32", pa.int32()),
                ("list", pa.list_(pa.struct([("x", pa.float32()), ("y", pa.float32())]))),
            ]
        ),
        "struct<Int32: int32, list: list<struct<x: float32, y: float32>>>",
    ),
    # maps
    ("map<string, int64>", pa.map_(pa.string(), pa.int64()), "map<string, int64>"),
    (
        "map<utf8, list<struct<v: double>>>",
        pa.map_(pa.string(), pa.list_(pa.struct([("v", pa.float64())]))),
        "map<string, list<struct<v: float64>>>",
    ),
    (
        "map<string, int64, keys_sorted>",
        pa.map_(pa.string(), pa.int64(), keys_sorted=True),
        "map<string, int64, keys_sorted>",
    ),
    # dictionaries
    (
        "dictionary<values=string, indices=int32>",
        pa.dictionary(pa.int32(), pa.string()),
        "dictionary<values=string, indices=int32>",
    ),
    (
        "dictionary<indices = int8, values = utf8, ordered = 0>",
        pa.dictionary(pa.int8(), pa.string()),
        "dictionary<values=string, indices=int8>",
    ),
    (
        "dictionary<values=string, indices=uint16, ordered=1>",
        pa.dictionary(pa.uint16(), pa.string(), ordered=True),
        "dictionary<values=string, indices=uint16, ordered=true>",
    ),
    # whitespace everywhere, including newlines
    (
        "\n struct <\n  a : list < int32 > ,\n  b:map<string,timestamp[ us ,UTC ]>\n>\n",
        pa.struct(
            [("a", pa.list_(pa.int32())), ("b", pa.map_(pa.string(), pa.timestamp("us", "UTC")))]
        ),
        "struct<a: list<int32>, b: map<string, timestamp[us, UTC]>>",
    ),
]


def _canonical(expected: Any, canonical: str | None) -> str:
    """Return the canonical text of a case, defaulting to format of the expected type."""
    return canonical if canonical is not None else format_arrow_type(expected)


@pytest.mark.parametrize(("text", "expected", "canonical"), CASES, ids=[c[0] for c in CASES])
def test_parse(text: str, expected: Any, canonical: str | None) -> None:
    """Each supported spelling parses to the expected pyarrow type."""
    parsed = parse_arrow_type(text)
    assert parsed == expected
    assert isinstance(parsed, pa.DataType)


@pytest.mark.parametrize(("text", "expected", "canonical"), CASES, ids=[c[0] for c in CASES])
def test_round_trip_is_canonical(text: str, expected: Any, canonical: str | None) -> None:
    """Text -> type -> text gives the canonical text, which is itself stable."""
    canonical_text = _canonical(expected, canonical)
    assert format_arrow_type(parse_arrow_type(text)) == canonical_text
    assert format_arrow_type(expected) == canonical_text
    assert parse_arrow_type(canonical_text) == expected
    assert format_arrow_type(parse_arrow_type(canonical_text)) == canonical_text


def test_canonical_timestamp_with_zone_name() -> None:
    """A zone given with pyarrow's 'tz=' spelling formats without it."""
    assert format_arrow_type(pa.timestamp("ns", "Europe/Paris")) == "timestamp[ns, Europe/Paris]"


PYARROW_STR_TYPES: list[Any] = [
    pa.timestamp("s"),
    pa.timestamp("us", "UTC"),
    pa.timestamp("ns", "Europe/Paris"),
    pa.timestamp("ms", "+01:00"),
    pa.list_(pa.int32()),
    pa.list_(pa.list_(pa.timestamp("us", "UTC"))),
    pa.large_list(pa.string()),
    pa.list_(pa.int16(), 4),
    pa.struct([("a", pa.int64()), ("b", pa.list_(pa.string()))]),
    pa.struct([("s", pa.struct([("t", pa.timestamp("ns", "Asia/Tokyo"))])), ("d", pa.date32())]),
    pa.struct([]),
    pa.map_(pa.string(), pa.list_(pa.float64())),
    pa.map_(pa.int32(), pa.string(), keys_sorted=True),
    pa.dictionary(pa.int32(), pa.string()),
    pa.dictionary(pa.int8(), pa.large_string(), ordered=True),
    pa.decimal128(10, 2),
    pa.decimal256(40, 5),
    pa.float16(),
    pa.float32(),
    pa.float64(),
    pa.date32(),
    pa.date64(),
    pa.time32("ms"),
    pa.time64("ns"),
    pa.duration("us"),
    pa.binary(3),
]


@pytest.mark.parametrize("arrow_type", PYARROW_STR_TYPES, ids=str)
def test_pyarrow_str_parses_back(arrow_type: Any) -> None:
    """pyarrow's own str() of a type parses back to the same type."""
    assert parse_arrow_type(str(arrow_type)) == arrow_type


def test_list_item_name_is_kept() -> None:
    """A named list item keeps its name on the parsed field."""
    parsed = parse_arrow_type("list<element: int32>")
    assert parsed.value_field.name == "element"
    assert parse_arrow_type('large_list<"my item": int8>').value_field.name == "my item"


def test_deep_nesting() -> None:
    """Fifty nested lists parse and format back."""
    text = "list<" * 50 + "int8" + ">" * 50
    parsed = parse_arrow_type(text)
    assert format_arrow_type(parsed) == text


# -- property tests -----------------------------------------------------------

_SIMPLE = [
    pa.null(),
    pa.bool_(),
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint16(),
    pa.uint32(),
    pa.uint64(),
    pa.float16(),
    pa.float32(),
    pa.float64(),
    pa.string(),
    pa.large_string(),
    pa.string_view(),
    pa.binary(),
    pa.large_binary(),
    pa.binary_view(),
    pa.date32(),
    pa.date64(),
    pa.month_day_nano_interval(),
]
_INDEX_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32()]
_UNITS = ["s", "ms", "us", "ns"]
_ZONES = ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "+01:00", "-05:30", "Etc/GMT+5"]


def _decimals(factory: Any, max_precision: int) -> st.SearchStrategy[Any]:
    """Strategy for decimal types of one width."""
    return st.integers(1, max_precision).flatmap(
        lambda p: st.integers(-10, p).map(lambda s: factory(p, s))
    )


def arrow_types(names: st.SearchStrategy[str], zones: st.SearchStrategy[str]) -> Any:
    """Strategy for arbitrarily nested Arrow types with the given field names and zones."""
    leaves = st.one_of(
        st.sampled_from(_SIMPLE),
        st.builds(pa.timestamp, st.sampled_from(_UNITS), st.none() | zones),
        st.builds(pa.time32, st.sampled_from(["s", "ms"])),
        st.builds(pa.time64, st.sampled_from(["us", "ns"])),
        st.builds(pa.duration, st.sampled_from(_UNITS)),
        _decimals(pa.decimal32, 9),
        _decimals(pa.decimal64, 18),
        _decimals(pa.decimal128, 38),
        _decimals(pa.decimal256, 76),
        st.builds(pa.binary, st.integers(0, 64)),
    )

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        """Wrap child types in every nested type constructor."""
        return st.one_of(
            st.builds(pa.list_, children),
            st.builds(pa.large_list, children),
            st.builds(pa.list_, children, st.integers(0, 5)),
            st.lists(st.tuples(names, children), max_size=4).map(pa.struct),
            st.builds(
                lambda k, v, s: pa.map_(k, v, keys_sorted=s),
                children.filter(lambda t: t != pa.null()),
                children,
                st.booleans(),
            ),
            st.builds(pa.dictionary, st.sampled_from(_INDEX_TYPES), children, st.booleans()),
        )

    return st.recursive(leaves, extend, max_leaves=12)


_ANY_TYPES = arrow_types(
    names=st.text(max_size=8), zones=st.sampled_from(_ZONES) | st.text(min_size=1, max_size=6)
)
_PLAIN_TYPES = arrow_types(
    names=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True),
    zones=st.sampled_from(_ZONES),
)


@settings(max_examples=300, deadline=None)
@given(_ANY_TYPES)
def test_property_format_then_parse_is_identity(arrow_type: Any) -> None:
    """parse(format(t)) == t for any expressible type, and format is stable."""
    text = format_arrow_type(arrow_type)
    parsed = parse_arrow_type(text)
    assert parsed == arrow_type
    assert format_arrow_type(parsed) == text


@settings(max_examples=200, deadline=None)
@given(_PLAIN_TYPES)
def test_property_pyarrow_str_parses_back(arrow_type: Any) -> None:
    """pyarrow's str(t) parses back to t when field names are plain words."""
    assert parse_arrow_type(str(arrow_type)) == arrow_type


# -- errors ---------------------------------------------------------------------

ERROR_CASES: list[tuple[str, list[str]]] = [
    # unknown names
    ("list<int65>", ["unknown type name 'int65'", "position 5", "expected one of:", "binary, "]),
    ("int65", ["unknown type name 'int65'", "did you mean 'int64'?"]),
    ("struct<a: strng>", ["unknown type name 'strng'", "position 10", "did you mean 'string'"]),
    ("", ["end of input", "position 0", "expected a type name"]),
    ("<int32>", ["unexpected '<'", "position 0", "expected a type name"]),
    # unbalanced brackets
    ("list<int32", ["end of input", "position 10", "expected '>' to close '<'", "position 4"]),
    ("struct<a: list<int32>", ["end of input", "expected ',' or '>' to close '<'"]),
    ("list<int32>>", ["trailing text '>'", "position 11", "expected end of input"]),
    ("timestamp[us", ["end of input", "']' to close '['"]),
    ("timestamp[us, UTC", ["end of input", "']' to close '['"]),
    ("decimal128(10, 2", ["end of input", "')' to close '('"]),
    ("map<string, int64", ["end of input", "'>' to close '<'"]),
    ("list<>", ["unexpected '>'", "position 5", "expected a type name"]),
    ("list int32", ["unexpected 'int32'", "expected '<' after list"]),
    ("struct<a: int32,>", ["unexpected '>'", "expected a field name"]),
    ("struct<a int64>", ["unexpected 'int64'", "expected ':' after field name 'a'"]),
    ('struct<"abc: int8>', ["unterminated quoted string", "position 7", "closing '\"'"]),
    ('struct<"a\\q": int8>', ["bad escape '\\q'", "position 9"]),
    # bad units
    ("timestamp[xs]", ["bad unit 'xs' for timestamp", "position 10", "s, ms, us, ns"]),
    ("timestamp[]", ["unexpected ']'", "for timestamp", "s, ms, us, ns"]),
    ("time32[us]", ["bad unit 'us' for time32", "expected one of: s, ms"]),
    ("time64[s]", ["bad unit 's' for time64", "expected one of: us, ns"]),
    ("duration[day]", ["bad unit 'day' for duration"]),
    ("date32[ms]", ["bad unit 'ms' for date32", "expected 'day'"]),
    ("timestamp[us, ]", ["unexpected ']'", "expected a time zone"]),
    ("timestamp[us, UTC, x]", ["unexpected ','", "position 17", "expected ']'"]),
    # decimals
    ("decimal128(10)", ["missing scale", "unexpected ')'", "position 13", "decimal128(10, 2)"]),
    ("decimal(10)", ["missing scale", "position 10"]),
    ("decimal128(x, 2)", ["unexpected 'x'", "expected precision (an integer)"]),
    ("decimal128(39, 2)", ["invalid decimal128(39, 2)", "precision"]),
    ("decimal128", ["end of input", "expected '(' after decimal128"]),
    # trailing garbage
    ("int32 foo", ["trailing text 'foo'", "position 6", "expected end of input"]),
    ("timestamp[us] UTC", ["trailing text 'UTC'", "position 14"]),
    ("list<int32> not null", ["trailing text 'not null'"]),
    # other shapes
    ("fixed_size_list<int32>", ["end of input", "expected '[' with the list size"]),
    ("fixed_size_list<int32, -1>", ["unexpected '-'", "expected list size (an integer)"]),
    ("fixed_size_binary", ["expected '[' after fixed_size_binary"]),
    ("map<string>", ["unexpected '>'", "expected ',' between the map key and value types"]),
    ("map<string, int8, sorted>", ["unexpected 'sorted'", "'keys_sorted'"]),
    ("map<null, int8>", ["invalid map", "position 0", "null"]),
    ("dictionary<values=string>", ["dictionary without indices="]),
    ("dictionary<values=string, indices=string>", ["invalid dictionary", "integer"]),
    ("dictionary<values=int8, values=int8>", ["duplicate 'values'"]),
    ("dictionary<keys=int8>", ["unexpected 'keys'", "values=, indices=, ordered="]),
    ("dictionary<values=int8, indices=int8, ordered=maybe>", ["unexpected 'maybe'"]),
    ("list<" * 200 + "int8" + ">" * 200, ["nested too deeply"]),
]


@pytest.mark.parametrize(("text", "fragments"), ERROR_CASES, ids=[c[0][:40] for c in ERROR_CASES])
def test_parse_errors(text: str, fragments: list[str]) -> None:
    """Bad input raises ValueError quoting the input and naming the offending part."""
    with pytest.raises(ValueError) as excinfo:
        parse_arrow_type(text)
    message = str(excinfo.value)
    assert f"in {text!r}" in message
    for fragment in fragments:
        assert fragment in message


def test_parse_rejects_non_str() -> None:
    """Passing something other than a str is a TypeError."""
    with pytest.raises(TypeError, match="str"):
        parse_arrow_type(pa.int32())


@pytest.mark.parametrize(
    ("arrow_type", "fragments"),
    [
        (pa.list_view(pa.int8()), ["list_view<item: int8>", "no text form"]),
        (pa.large_list_view(pa.int8()), ["large_list_view"]),
        (pa.run_end_encoded(pa.int32(), pa.string()), ["run_end_encoded"]),
        (pa.union([pa.field("a", pa.int8())], mode="dense"), ["dense_union"]),
        (pa.uuid(), ["extension<arrow.uuid>"]),
        (
            pa.struct([("a", pa.list_view(pa.int8()))]),
            ["list_view<item: int8>", "(in struct<a: list_view<item: int8>>)"],
        ),
        (
            pa.struct([pa.field("a", pa.int8(), nullable=False)]),
            ["field 'a' is not nullable", "struct<a: int8 not null>"],
        ),
        (
            pa.list_(pa.field("item", pa.int8(), nullable=False)),
            ["field 'item' is not nullable"],
        ),
        (
            pa.map_(pa.string(), pa.field("value", pa.int8(), nullable=False)),
            ["field 'value' is not nullable"],
        ),
    ],
    ids=str,
)
def test_format_errors(arrow_type: Any, fragments: list[str]) -> None:
    """Types without a text form raise ValueError naming the type."""
    with pytest.raises(ValueError) as excinfo:
        format_arrow_type(arrow_type)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message


def test_format_rejects_non_type() -> None:
    """Passing something other than a DataType is a TypeError."""
    with pytest.raises(TypeError, match="DataType"):
        format_arrow_type("int32")
