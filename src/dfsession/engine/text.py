"""Engine text as dfsession quotes it: errors on one line, values and names quoted for SQL."""

from __future__ import annotations

import inspect

__all__ = ["describe_object", "one_line", "sql_identifier", "sql_string"]


def one_line(exc: BaseException) -> str:
    """An exception's text on one line, as error messages quote the engine."""
    return str(exc).replace("\n", " ")


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal: in single quotes, each quote doubled."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """``name`` as a SQL identifier kept as it is: in double quotes, each quote doubled."""
    return '"' + name.replace('"', '""') + '"'


def describe_object(obj: object) -> str:
    """What a reference resolved to, in a few words: ``the class m.C``, ``int 42``..."""
    if inspect.isclass(obj):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, list | tuple) and not obj:
        return "an empty list"
    text = repr(obj)
    return f"{type(obj).__name__} {text if len(text) <= 60 else text[:57] + '...'}"
