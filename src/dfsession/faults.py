"""Faults at query time: declared Python functions that misbehave, and engine panics.

The engine calls a Python function on its own threads and reports what the function raised
only as text, and it panics on a result of another type than declared. So the ``udfs`` step
wraps each plain callable the profile declares in a ``CheckedFunction``: it checks each result
against the declared type and the number of rows, and keeps a fault (a check that failed, or
the function's own exception) in the session's ``UdfFaults`` under a token that travels in the
engine's text. The query facade takes the fault back by its token (``fault_error``) and raises
a ``QueryError`` that names the function, with the function's exception as ``__cause__``.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import attrs
import pyarrow as pa

from dfsession.engine import one_line
from dfsession.errors import QueryError
from dfsession.profile.sections import UdfConfig
from dfsession.schemas import type_name

__all__ = [
    "CheckedFunction",
    "UdfFault",
    "UdfFaultError",
    "UdfFaults",
    "fault_error",
    "is_engine_failure",
    "is_panic",
]

_TOKEN = re.compile(r"\[dfsession fault [0-9a-f]{32}\]")
# The engine's own check of a Python function's row count (zero-argument functions, whose
# row count a wrapper cannot know), which asks the user to report a DataFusion bug.
_ENGINE_ROW_COUNT = re.compile(
    r"UDF (?P<name>\S+) returned a different number of rows than expected\. "
    r"Expected: (?P<expected>\d+), Got: (?P<got>\d+)"
)


@attrs.frozen
class UdfFault:
    """What went wrong in a checked function: the message for the user and the exception."""

    message: str
    cause: BaseException | None = None


class UdfFaults:
    """The faults of one session's checked functions, kept until the facade reports them.

    Thread-safe. Bounded: a fault no facade takes (a query run on ``ctx`` directly, or one of
    several partitions failing at once) is dropped once ``limit`` newer ones are kept.
    """

    __slots__ = ("_faults", "_limit", "_lock")

    def __init__(self, limit: int = 32) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._faults: OrderedDict[str, UdfFault] = OrderedDict()

    def keep(self, fault: UdfFault) -> str:
        """Keep ``fault``; return the token that finds it again in the engine's error text."""
        token = f"[dfsession fault {uuid.uuid4().hex}]"
        with self._lock:
            self._faults[token] = fault
            while len(self._faults) > self._limit:
                self._faults.popitem(last=False)
        return token

    def take(self, text: str) -> UdfFault | None:
        """The fault whose token ``text`` holds, removed from the store; ``None`` if none."""
        match = _TOKEN.search(text)
        if match is None:
            return None
        with self._lock:
            return self._faults.pop(match.group(0), None)


class UdfFaultError(Exception):
    """What a checked function raises to the engine: the fault's message and its token."""


class CheckedFunction:
    """A declared Python function as the engine calls it: each result checked against the profile.

    A result of the declared Arrow type passes as it is; any other result is converted with
    ``pyarrow.array(result, type=declared)``, which refuses a loss (overflow, truncation); what
    does not convert, or has another number of values than the arguments have rows, is a fault.
    """

    __slots__ = ("_config", "_faults", "_func", "_index", "_name", "_returns")

    def __init__(
        self, func: Callable[..., Any], name: str, index: int, config: UdfConfig, faults: UdfFaults
    ) -> None:
        # Positional and few: a profile may declare hundreds of functions, each built per build.
        self._func = func
        self._name = name
        #: The function's entry in the profile: ``udfs.<index>``.
        self._index = index
        self._config = config
        self._returns = config.returns
        self._faults = faults

    def __call__(self, *args: pa.Array) -> pa.Array:
        """Call the function; return its result as the declared type, or raise its fault."""
        try:
            result = self._func(*args)
        except Exception as exc:
            what = f"raised {type(exc).__name__}: {one_line(exc)}"
            raise self._fault(f"{self._culprit()} {what}", exc) from None
        if not (isinstance(result, pa.Array) and result.type == self._returns):
            result = self._convert(result)
        if args and len(result) != len(args[0]):
            raise self._fault(
                f"{self._culprit()} returned {len(result)} value(s) for {len(args[0])} row(s); "
                "a scalar function returns one value per row of its arguments"
            )
        return result

    def _convert(self, result: object) -> pa.Array:
        """``result`` as an array of the declared type, if pyarrow converts it without loss."""
        if isinstance(result, pa.Array | pa.ChunkedArray):
            actual = type_name(result.type)
        else:
            actual = f"a Python {type(result).__name__}"
        cause: Exception | None = None
        if not isinstance(result, str | bytes):  # pyarrow would take text for a sequence
            try:
                converted = pa.array(result, type=self._returns)
            except Exception as exc:
                cause = exc
            else:
                return converted
        declared = type_name(self._returns)
        path = f"udfs.{self._index}"
        reason = f": {one_line(cause)}" if cause is not None else ""
        raise self._fault(
            f"function {self._name!r} returned {actual}, expected {declared} "
            f"({path}.returns = {declared!r}){reason}; return a pyarrow array of "
            f"{declared}, or change {path}.returns",
            cause,
        )

    def _culprit(self) -> str:
        return f"function {self._name!r} (udfs.{self._index}.ref = {self._config.ref!r})"

    def _fault(self, message: str, cause: BaseException | None = None) -> UdfFaultError:
        token = self._faults.keep(UdfFault(message, cause))
        return UdfFaultError(f"{message} {token}")


def is_panic(exc: BaseException) -> bool:
    """Whether ``exc`` is a Rust panic raised through pyo3 (``pyo3_runtime.PanicException``).

    Each native extension has its own class of that name, a ``BaseException``.
    """
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime"


def is_engine_failure(exc: BaseException) -> bool:
    """Whether a query should report ``exc`` as a query error: any ``Exception``, or a panic.

    ``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit`` stay what they are.
    """
    return isinstance(exc, Exception) or is_panic(exc)


def fault_error(
    exc: BaseException, sql: str, shown: str, faults: UdfFaults | None
) -> QueryError | None:
    """The ``QueryError`` for a checked function's fault or an engine panic in ``exc``, else None.

    ``shown`` is the query as an error message may quote it. The error's ``__cause__`` is the
    function's own exception (or the panic, or none), set here; the facade keeps it.
    """
    text = str(exc)
    fault = faults.take(text) if faults is not None else None
    if fault is None:
        fault = _engine_fault(exc, text)
        if fault is None:
            return None
    message = fault.message
    error = QueryError(f"{message}\n  query: {shown}", query=sql, engine_message=message)
    error.__cause__ = fault.cause  # set even when None: the engine's text is no cause to show
    return error


def _engine_fault(exc: BaseException, text: str) -> UdfFault | None:
    """A fault the engine itself reports: a panic, or a function's wrong number of rows."""
    if is_panic(exc):
        return UdfFault(
            f"the engine panicked while running the query ({one_line(exc)}); a Python function "
            "that returns another type than it declares does this: check the function objects "
            "the session installs (dfsession checks only the plain callables declared with "
            "args and returns in [[udfs]])",
            exc,
        )
    rows = _ENGINE_ROW_COUNT.search(text)
    if rows is None:
        return None
    return UdfFault(
        f"function {rows.group('name')!r} returned {rows.group('got')} value(s) for "
        f"{rows.group('expected')} row(s); a scalar function returns one value per row (a "
        "function without arguments cannot know how many rows to return)"
    )
