"""The one boundary where untrusted profile data is parsed: a cattrs converter and its errors."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
import pyarrow as pa
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from dfsession.errors import ProfileError
from dfsession.profile.arrow_types import format_arrow_type, parse_arrow_type
from dfsession.profile.values import (
    INT64_MAX,
    ByteSize,
    FieldError,
    FieldsError,
    FrozenMap,
    SecretRef,
    did_you_mean,
    settings_map,
)

T = TypeVar("T")

_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(value: object) -> str:
    kinds = {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}
    kind = next(
        (word for cls, word in kinds.items() if isinstance(value, cls)), type(value).__name__
    )
    return f"{value!r} that is {kind}" if kind[0] == "a" else f"{value!r}"


def _strict(cls: type) -> Any:
    def structure(value: object, _type: object) -> Any:
        if cls is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, cls) or (cls is not bool and isinstance(value, bool)):
            raise ValueError(f"expected {_TYPE_WORDS[cls]} (got {_describe(value)})")
        return value

    return structure


def _structure_scalar(value: object, _type: object) -> object:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"expected a string, number or boolean (got {_describe(value)})")


def _structure_spill(value: object, _type: object) -> object:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f'expected "disabled", "os" or a list of directories (got {_describe(value)})')


def _structure_type(value: object, _type: object) -> pa.DataType:
    if not isinstance(value, str):
        raise ValueError(f"expected an Arrow type name such as 'int64' (got {_describe(value)})")
    return parse_arrow_type(value)


def _structure_secret(value: object, _type: object) -> SecretRef:
    if not isinstance(value, Mapping) or not set(value) <= {"env", "literal"} or len(value) != 1:
        raise ValueError(
            'expected a secret reference { env = "VARIABLE" }, or { literal = "..." } to embed '
            "the value in the profile"
        )
    ((key, text),) = value.items()
    if not isinstance(text, str):
        # Never echo the value: it may be the credential itself, written without quotes.
        raise ValueError(
            f"expected a string for the secret's {key} (got a value of type {type(text).__name__})"
        )
    return SecretRef(**{key: text})


def _unstructure_secret(secret: SecretRef) -> dict[str, str]:
    return {"env": secret.env} if secret.env is not None else {"literal": secret.literal or ""}


def _is_spill_union(type_: Any) -> bool:
    args = typing.get_args(type_)
    return str in args and tuple[str, ...] in args


def _is_scalar_union(type_: Any) -> bool:
    return set(typing.get_args(type_)) == {str, int, float, bool}


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = typing.get_args(type_)
    return typing.get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_frozen_map(type_: Any) -> bool:
    return typing.get_origin(type_) is FrozenMap


def make_converter() -> cattrs.Converter:
    """A converter that structures profile data strictly and unstructures it to TOML-able data."""
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True, omit_if_default=True)
    for cls in (str, int, float, bool):
        conv.register_structure_hook(cls, _strict(cls))
    conv.register_structure_hook(ByteSize, lambda v, _t: ByteSize.parse(v))
    conv.register_unstructure_hook(ByteSize, str)
    conv.register_structure_hook(pa.DataType, _structure_type)
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, pa.DataType), format_arrow_type
    )
    conv.register_structure_hook(SecretRef, _structure_secret)
    conv.register_unstructure_hook(SecretRef, _unstructure_secret)
    conv.register_structure_hook_func(_is_spill_union, _structure_spill)
    conv.register_structure_hook_func(_is_scalar_union, _structure_scalar)

    def structure_tuple(value: object, type_: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list (got {_describe(value)})")
        item_type = typing.get_args(type_)[0]
        return tuple(conv.structure(list(value), list[item_type]))  # type: ignore[valid-type]

    conv.register_structure_hook_func(_is_homogeneous_tuple, structure_tuple)

    def structure_map(value: object, type_: Any) -> FrozenMap[Any, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table (got {_describe(value)})")
        key_type, value_type = typing.get_args(type_)
        return FrozenMap(conv.structure(dict(value), dict[key_type, value_type]))  # type: ignore[valid-type]

    conv.register_structure_hook_func(_is_frozen_map, structure_map)

    def section_hook(cls: Any) -> Any:
        generated = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
        )
        keys = ", ".join(a.name for a in attrs.fields(cls) if not a.name.startswith("_"))

        def structure_section(value: object, type_: Any) -> Any:
            if not isinstance(value, Mapping):
                raise ValueError(f"expected a table with keys {keys} (got {_describe(value)})")
            try:
                return generated(value, type_)
            except ClassValidationError as exc:
                raise _every_problem(conv, exc, cls, value) from None

        return structure_section

    conv.register_structure_hook_factory(
        lambda t: attrs.has(t) and t is not SecretRef, section_hook
    )
    conv.register_structure_hook_func(
        lambda t: t == FrozenMap[str, str], lambda v, _t: settings_map(v)
    )
    conv.register_unstructure_hook_func(
        _is_frozen_map, lambda m: {k: conv.unstructure(v) for k, v in m.items()}
    )
    conv.register_unstructure_hook(
        FrozenMap, lambda m: {k: conv.unstructure(v) for k, v in m.items()}
    )
    conv.register_unstructure_hook(tuple, lambda t: [conv.unstructure(v) for v in t])
    return conv


CONVERTER = make_converter()


def structure(data: object, cls: type[T]) -> T:
    """Structure ``data`` into ``cls``; every problem becomes one entry of a ``ProfileError``."""
    if not isinstance(data, Mapping):
        raise ProfileError([("", f"expected a table of profile sections (got {_describe(data)})")])
    unreadable = list(_unreadable(data, "", 0))
    if unreadable:
        raise ProfileError(unreadable)
    try:
        return CONVERTER.structure(data, cls)
    except ProfileError:
        raise
    except Exception as exc:
        raise ProfileError(list(_problems(exc, "", cls))) from None


def unstructure(value: object) -> dict[str, Any]:
    """The TOML-able form of a profile or section (defaults left out)."""
    result: dict[str, Any] = CONVERTER.unstructure(value)
    return result


def _every_problem(
    conv: cattrs.Converter, exc: ClassValidationError, cls: Any, value: Mapping[str, Any]
) -> ClassValidationError:
    """``exc`` with the problems of every field: each field structured and validated alone.

    cattrs runs no attrs converter or validator once one field fails to structure, and attrs
    stops at the first failing one; so check each field on its own, in field order.
    """
    failed: dict[str, Exception] = {}
    for sub in exc.exceptions:
        name = _attribute_name(sub)
        if name is not None:
            failed[name] = sub
    extra = [sub for sub in exc.exceptions if isinstance(sub, ForbiddenExtraKeysError)]
    found: list[Exception] = []
    for attribute in attrs.fields(cls):
        if attribute.name in failed:
            found.append(failed[attribute.name])
        elif attribute.init and attribute.name in value:
            found.extend(_field_problems(conv, attribute, value[attribute.name]))
    if not found:
        return exc  # the fields are fine: a rule between them failed, as ``exc`` says
    return ClassValidationError(exc.message, [*found, *extra], cls)


def _attribute_name(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return note.name
    return None


def _field_problems(
    conv: cattrs.Converter, attribute: attrs.Attribute[Any], raw: object
) -> list[Exception]:
    """The problems of one field alone: its structuring, its attrs converter, its validator."""
    note = AttributeValidationNote(f"Checking @ attribute {attribute.name}", attribute.name, None)
    field_type: Any = attribute.type
    try:
        value = conv.structure(raw, field_type)
        if attribute.converter is not None:
            value = attribute.converter(value)  # type: ignore[operator]
    except Exception as exc:
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]
        return [exc]
    try:
        if attribute.validator is not None:
            attribute.validator(None, attribute, value)
    except FieldError as exc:  # validators name their field themselves
        return [exc]
    except Exception as exc:
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]
        return [exc]
    return []


#: Deeper than any profile goes (``object_stores.NAME.secrets.KEY.env`` is 5 levels).
MAX_DEPTH = 32


def _unreadable(value: object, path: str, depth: int) -> Iterator[tuple[str, str]]:
    """What no profile can hold, found before anything else reads the data.

    Keys that are not strings, nesting deeper than ``MAX_DEPTH``, integers beyond TOML's
    64 bits (not printed: Python cannot print one of 4,300 digits) and text that is not
    Unicode (never echoed: it may be a secret).
    """
    if isinstance(value, str):
        if not _is_unicode(value):
            yield path, "not valid Unicode text (it holds a lone surrogate); a profile is UTF-8"
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            yield (
                path,
                (
                    "expected a 64-bit integer, -2^63 to 2^63-1, as in TOML "
                    f"(got an integer of {value.bit_length()} bits)"
                ),
            )
    elif isinstance(value, Mapping | list | tuple) and depth > MAX_DEPTH:
        yield path, f"nested deeper than {MAX_DEPTH} levels; no profile goes this deep"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _unreadable_item(key, item, path, depth)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _unreadable(item, _join(path, str(index)), depth + 1)


def _unreadable_item(key: object, item: object, path: str, depth: int) -> Iterator[tuple[str, str]]:
    if not isinstance(key, str):
        shown = _key_text(key)
        yield (
            _join(path, shown),
            (
                f"keys must be strings (got {shown} that is {type(key).__name__}); quote the key "
                "(YAML reads unquoted on, off, yes and no as booleans)"
            ),
        )
    elif not _is_unicode(key):
        shown = key.encode("utf-8", "backslashreplace").decode()
        yield _join(path, shown), "a key that is not valid Unicode text; a profile is UTF-8"
    else:
        yield from _unreadable(item, _join(path, key), depth + 1)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _key_text(key: object) -> str:
    """A key that is not a string, as text that is safe to print (no 4,300-digit integers)."""
    if isinstance(key, int) and not -INT64_MAX - 1 <= key <= INT64_MAX:
        return f"<an integer of {key.bit_length()} bits>"
    try:
        return str(key)[:60]
    except (ValueError, RecursionError):
        return f"<{type(key).__name__}>"


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _note_path(exc: BaseException, path: str) -> str:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return _join(path, note.name)
        if isinstance(note, IterableValidationNote):
            return _join(path, str(note.index))
    return path


def _problems(exc: BaseException, path: str, cls: Any) -> Iterator[tuple[str, str]]:
    if isinstance(exc, ForbiddenExtraKeysError):
        fields = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            hint = did_you_mean(key, fields) or f" (known keys: {', '.join(fields)})"
            yield _join(path, key), f"unknown key{hint}"
        return
    if isinstance(exc, ClassValidationError | IterableValidationError):
        for sub in exc.exceptions:
            yield from _problems(sub, _note_path(sub, path), cls)
        return
    if isinstance(exc, FieldError):
        yield _join(path, exc.field), exc.message
        return
    if isinstance(exc, FieldsError):
        for error in exc.errors:
            yield _join(path, error.field), error.message
        return
    if isinstance(exc, ProfileError):
        for sub_path, message in exc.problems:
            yield _join(path, sub_path), message
        return
    if isinstance(exc, KeyError):
        yield path, "required, but missing"
        return
    if isinstance(exc, TypeError) and "missing" in str(exc) and "required" in str(exc):
        yield path, _missing_message(str(exc))
        return
    yield path, str(exc)


def _missing_message(text: str) -> str:
    names = text.split("argument", 1)[-1].split(":", 1)[-1].strip()
    return f"required key(s) missing: {names}"
