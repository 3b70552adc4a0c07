"""Engine text as dfsession quotes it: errors on one line, values and names quoted for SQL."""

from __future__ import annotations

__all__ = ["one_line", "sql_identifier", "sql_string"]


def one_line(exc: BaseException) -> str:
    """An exception's text on one line, as error messages quote the engine."""
    return str(exc).replace("\n", " ")


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal: in single quotes, each quote doubled."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """``name`` as a SQL identifier kept as it is: in double quotes, each quote doubled."""
    return '"' + name.replace('"', '""') + '"'
