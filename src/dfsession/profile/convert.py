"""The one boundary where untrusted profile data is parsed: a cattrs converter and its errors.

The converter learns each kind of value once: value types (``VALUE_TYPES``) by their
``parse`` / ``unstructure`` pair, Arrow types by ``to_arrow_type`` / ``format_arrow_type``,
sections (attrs classes) by their fields, and unions of specs (object stores, datasets) by
their tag (``kind`` / ``format``).
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypeVar

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
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from dfsession.errors import ProfileError
from dfsession.profile.arrow_types import format_arrow_type, to_arrow_type
from dfsession.profile.engine import SchedulerUrl
from dfsession.profile.locations import Location
from dfsession.profile.values import (
    INT64_MAX,
    ByteSize,
    FieldError,
    FieldsError,
    FrozenMap,
    ImportRef,
    SecretRef,
    TextMap,
    Timestamp,
    describe_value,
    did_you_mean,
    settings_map,
    spill,
)

__all__ = ["CONVERTER", "MAX_DEPTH", "VALUE_TYPES", "make_converter", "structure", "unstructure"]

T = TypeVar("T")

_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _strict(cls: type) -> Any:
    def structure(value: object, _type: object) -> Any:
        if cls is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, cls) or (cls is not bool and isinstance(value, bool)):
            raise ValueError(f"expected {_TYPE_WORDS[cls]} (got {describe_value(value)})")
        return value

    return structure


#: The value types: each parses itself (``parse(value)`` in, ``unstructure()`` out) and the
#: converter learns every one by that pair alone. Registered by class, as ``ByteSize`` (an
#: ``int``) and ``ImportRef`` (a ``str``) must win over the converter's own ``int`` and ``str``.
VALUE_TYPES: tuple[type[Any], ...] = (
    ByteSize,
    ImportRef,
    SecretRef,
    Timestamp,
    Location,
    TextMap,
    SchedulerUrl,
)


def _parse(value: object, type_: Any) -> Any:
    return type_.parse(value)


def _unstructure_value(value: Any) -> Any:
    return value.unstructure()


def _is_arrow_type(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, pa.DataType)


def _is_spill(type_: Any) -> bool:
    args = typing.get_args(type_)
    return str in args and tuple[str, ...] in args


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = typing.get_args(type_)
    return typing.get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_frozen_map(type_: Any) -> bool:
    return typing.get_origin(type_) is FrozenMap


def tag_field(cls: Any) -> str | None:
    """The name of a spec class's tag: the field it sets itself to one ``Literal`` value."""
    if not (isinstance(cls, type) and attrs.has(cls)):
        return None
    for attribute in attrs.fields(attrs.resolve_types(cls)):
        if not attribute.init and typing.get_origin(attribute.type) is Literal:
            name: str = attribute.name
            return name
    return None


def _union_tag(type_: Any) -> str | None:
    """The tag shared by every member of a union of spec classes (``kind``, ``format``)."""
    members = typing.get_args(type_)
    if typing.get_origin(type_) not in (typing.Union, type(int | str)) or not members:
        return None
    tags = {tag_field(member) for member in members}
    return tags.pop() if len(tags) == 1 else None


def _is_tagged_union(type_: Any) -> bool:
    return _union_tag(type_) is not None


def _is_tagged(cls: Any) -> bool:
    return tag_field(cls) is not None


def _tag_value(cls: Any, tag: str) -> str:
    return str(attrs.fields_dict(cls)[tag].default)


def make_converter() -> cattrs.Converter:
    """A converter that structures profile data strictly and unstructures it to TOML-able data."""
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True, omit_if_default=True)
    for cls in (str, int, float, bool):
        conv.register_structure_hook(cls, _strict(cls))
    conv.register_structure_hook_func(_is_arrow_type, lambda v, _t: to_arrow_type(v))
    conv.register_unstructure_hook_func(_is_arrow_type, format_arrow_type)
    conv.register_structure_hook_func(_is_spill, lambda v, _t: spill(v))

    def structure_tuple(value: object, type_: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list (got {describe_value(value)})")
        item_type = typing.get_args(type_)[0]
        return tuple(conv.structure(list(value), list[item_type]))  # type: ignore[valid-type]

    conv.register_structure_hook_func(_is_homogeneous_tuple, structure_tuple)

    def structure_map(value: object, type_: Any) -> FrozenMap[Any, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table (got {describe_value(value)})")
        key_type, value_type = typing.get_args(type_)
        return FrozenMap(conv.structure(dict(value), dict[key_type, value_type]))  # type: ignore[valid-type]

    conv.register_structure_hook_func(_is_frozen_map, structure_map)
    conv.register_structure_hook_factory(attrs.has, lambda cls: _section_hook(conv, cls))
    conv.register_structure_hook_factory(_is_tagged_union, lambda union: _tagged_hook(conv, union))
    conv.register_unstructure_hook_factory(_is_tagged, lambda cls: _tagged_unstructure(conv, cls))
    for value_type in VALUE_TYPES:  # by class: they win over the attrs-class hook above
        conv.register_structure_hook(value_type, _parse)
        conv.register_unstructure_hook(value_type, _unstructure_value)
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


def _section_hook(conv: cattrs.Converter, cls: Any) -> Any:
    """Structure a section from a table, reporting the problems of every field at once."""
    generated = make_dict_structure_fn(
        cls, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
    )
    keys = ", ".join(a.name for a in attrs.fields(cls) if a.init)

    def structure_section(value: object, type_: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table with keys {keys} (got {describe_value(value)})")
        try:
            return generated(value, type_)
        except ClassValidationError as exc:
            raise _every_problem(conv, exc, cls, value) from None

    return structure_section


def _tagged_hook(conv: cattrs.Converter, union: Any) -> Any:
    """Structure one of a union of spec classes, picked by the value of its tag key."""
    members = typing.get_args(union)
    tag = _union_tag(union)
    assert tag is not None
    by_tag = {_tag_value(cls, tag): cls for cls in members}
    choices = ", ".join(by_tag)

    def structure_tagged(value: object, _type: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a table with a {tag} key, one of {choices} (got {describe_value(value)})"
            )
        given = value.get(tag)
        cls = by_tag.get(given) if isinstance(given, str) else None
        rest = {key: item for key, item in value.items() if key != tag}
        if cls is not None:
            return conv.structure(rest, cls)
        raise ClassValidationError(
            f"While structuring {tag}", _untagged_problems(conv, members, tag, given, rest), union
        )

    return structure_tagged


def _untagged_problems(
    conv: cattrs.Converter,
    members: tuple[Any, ...],
    tag: str,
    given: object,
    rest: Mapping[str, Any],
) -> list[Exception]:
    """A missing or unknown tag, and what can be checked without it: the shared fields, the keys.

    A field is shared when every member that has it reads it alike (same type and converter).
    """
    choices = [_tag_value(cls, tag) for cls in members]
    if given is None:
        message = f"required, but missing (one of {', '.join(choices)})"
    else:
        hint = did_you_mean(given, choices) if isinstance(given, str) else ""
        message = f"expected one of {', '.join(choices)} (got {given!r}){hint}"
    found: list[Exception] = [FieldError(tag, message)]
    fields = [attrs.fields_dict(cls) for cls in members]
    known = {name for names in fields for name in names}
    for key, raw in rest.items():
        if key not in known:
            found.append(FieldError(key, "unknown key" + did_you_mean(key, sorted(known))))
        else:
            holders = [names[key] for names in fields if key in names]
            if all(_alike(holder, holders[0]) for holder in holders):
                found.extend(_field_value(conv, holders[0], raw)[1])
    return found


def _alike(one: attrs.Attribute[Any], other: attrs.Attribute[Any]) -> bool:
    """Whether two spec classes read a field alike: the same type and converter."""
    return one.type == other.type and one.converter == other.converter


def _tagged_unstructure(conv: cattrs.Converter, cls: Any) -> Any:
    """A spec's plain form: defaults left out, but its tag always written, first."""
    tag = tag_field(cls)
    assert tag is not None
    always: dict[str, Any] = {tag: override(omit_if_default=False)}
    generated = make_dict_unstructure_fn(
        cls, conv, _cattrs_omit_if_default=True, _cattrs_include_init_false=True, **always
    )

    def unstructure_tagged(spec: Any) -> dict[str, Any]:
        fields: dict[str, Any] = generated(spec)
        return {tag: fields.pop(tag), **fields}  # the tag first, as a profile writes it

    return unstructure_tagged


CONVERTER = make_converter()


def structure(data: object, cls: type[T]) -> T:
    """Structure ``data`` into ``cls``; every problem becomes one entry of a ``ProfileError``."""
    if not isinstance(data, Mapping):
        raise ProfileError.at(
            "", f"expected a table of profile sections (got {describe_value(data)})"
        )
    unreadable = list(_unreadable(data, "", 0))
    if unreadable:
        raise ProfileError(unreadable)
    try:
        return CONVERTER.structure(data, cls)
    except ProfileError:
        raise
    except Exception as exc:
        raise ProfileError(list(_problems(exc, ""))) from None


def unstructure(value: object) -> dict[str, Any]:
    """The TOML-able form of a profile or section (defaults left out)."""
    result: dict[str, Any] = CONVERTER.unstructure(value)
    return result


def _every_problem(
    conv: cattrs.Converter, exc: ClassValidationError, cls: Any, value: Mapping[str, Any]
) -> ClassValidationError:
    """``exc`` with the problems of every field: each field structured and validated alone.

    cattrs runs no attrs converter or validator once one field fails to structure, and attrs
    stops at the first failing one; so check each field on its own, in field order. The rules
    between fields are checked too when only sub-sections (options, secrets) failed: no rule
    reads them, so the rules see every value they read.
    """
    failed: dict[str, Exception] = {}
    for sub in exc.exceptions:
        name = _attribute_name(sub)
        if name is not None:
            failed[name] = sub
    extra = [sub for sub in exc.exceptions if isinstance(sub, ForbiddenExtraKeysError)]
    found: list[Exception] = []
    good: dict[str, Any] = {}
    for attribute in attrs.fields(cls):
        if attribute.name in failed:
            found.append(failed[attribute.name])
        elif attribute.init and attribute.name in value:
            structured, problems = _field_value(conv, attribute, value[attribute.name])
            found.extend(problems)
            if problems:
                failed[attribute.name] = problems[0]
            else:
                good[attribute.alias] = structured
    if not found and not extra:
        return exc  # the fields are fine: a rule between them failed, as ``exc`` says
    return ClassValidationError(
        exc.message, [*found, *_rule_problems(cls, good, failed), *extra], cls
    )


def _rule_problems(
    cls: Any, good: Mapping[str, Any], failed: Mapping[str, Exception]
) -> list[Exception]:
    """The broken rules between the fields of ``cls``, when only its sub-sections failed."""
    fields = attrs.fields_dict(cls)
    if any(not _is_section(fields[name].type) for name in failed):
        return []
    try:
        cls(**good)
    except (FieldError, FieldsError) as exc:
        return [exc]
    except Exception:  # a rule that needs a field that failed: its own problem says enough
        return []
    return []


def _is_section(type_: Any) -> bool:
    return isinstance(type_, type) and attrs.has(type_)


def _attribute_name(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return note.name
    return None


def _field_value(
    conv: cattrs.Converter, attribute: attrs.Attribute[Any], raw: object
) -> tuple[Any, list[Exception]]:
    """One field alone, structured, converted and validated; its value, or its problems."""
    note = AttributeValidationNote(f"Checking @ attribute {attribute.name}", attribute.name, None)
    field_type: Any = attribute.type
    try:
        value = conv.structure(raw, field_type)
        if attribute.converter is not None:
            value = attribute.converter(value)  # type: ignore[operator]
    except Exception as exc:
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]
        return None, [exc]
    try:
        if attribute.validator is not None:
            attribute.validator(None, attribute, value)
    except FieldError as exc:  # validators name their field themselves
        return None, [exc]
    except Exception as exc:
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]
        return None, [exc]
    return value, []


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


def _problems(exc: BaseException, path: str) -> Iterator[tuple[str, str]]:
    """Every ``(dotted.path, message)`` that ``exc`` (and what it groups) reports."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        for sub in exc.exceptions:
            yield from _problems(sub, _note_path(sub, path))
    elif isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            yield _join(path, key), _unknown_key(exc.cl, key)
    else:
        for sub_path, message in _found(exc):
            yield (_join(path, sub_path) if sub_path else path), message


def _found(exc: BaseException) -> list[tuple[str, str]]:
    """The problems one exception names, each with its path below the field that raised it."""
    if isinstance(exc, FieldError):
        return [(exc.field, exc.message)]
    if isinstance(exc, FieldsError):
        return [(error.field, error.message) for error in exc.errors]
    if isinstance(exc, ProfileError):
        return list(exc.problems)
    if isinstance(exc, KeyError):
        return [("", "required, but missing")]
    text = str(exc)
    if isinstance(exc, TypeError) and "missing" in text and "required" in text:
        return [("", _missing_message(text))]
    return [("", text)]


def _unknown_key(cls: Any, key: str) -> str:
    """Why ``key`` is not a key of ``cls``: a key of another kind, or a typo (with a hint).

    A spec class may name keys it refuses (``refused_keys``: Delta's ``version`` on a Parquet
    dataset) and what its keys are (``unknown_key``: ``option for format 'csv'``).
    """
    refused: Mapping[str, str] = getattr(cls, "refused_keys", {})
    if key in refused:
        return refused[key]
    fields = [a.name for a in attrs.fields(cls) if a.init] if attrs.has(cls) else []
    noun = getattr(cls, "unknown_key", None)
    if noun is not None:
        return f"unknown {noun} (accepted: {', '.join(fields) or 'none'})" + did_you_mean(
            key, fields
        )
    return "unknown key" + (did_you_mean(key, fields) or f" (known keys: {', '.join(fields)})")


def _missing_message(text: str) -> str:
    names = text.split("argument", 1)[-1].split(":", 1)[-1].strip()
    return f"required key(s) missing: {names}"
