"""The library's loggers: structlog's, silent until the application configures structlog.

dfsession never configures logging. structlog's unconfigured default prints every event to
standard output, which would corrupt the output of programs that print data there; so until the
application calls ``structlog.configure(...)``, dfsession's events are dropped. From then on
they go through ``structlog.get_logger(name)`` like the application's own.

dfsession does not import structlog itself: an application that configured it has imported it,
and importing it costs a process that never logs ~60 ms (it imports rich when installed).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__all__ = ["Logger", "get_logger"]


class _Silent:
    """A bound logger that drops everything and says so to ``is_enabled_for``."""

    __slots__ = ()

    def _drop(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    debug = info = warning = error = exception = _drop

    def bind(self, **_kwargs: Any) -> _Silent:
        """Itself: there is nothing to bind to."""
        return self

    def is_enabled_for(self, _level: int) -> bool:
        """Never enabled."""
        return False


_SILENT = _Silent()


def _configured_structlog() -> ModuleType | None:
    """structlog, if the application has imported and configured it."""
    structlog = sys.modules.get("structlog")
    if structlog is None or not structlog.is_configured():
        return None
    return structlog


class Logger:
    """``structlog.get_logger(name)`` once structlog is configured; silent before."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def bind(self, **values: Any) -> Any:
        """A bound logger for a unit of work (a build, a query)."""
        structlog = _configured_structlog()
        if structlog is None:
            return _SILENT
        return structlog.get_logger(self._name).bind(**values)

    def debug(self, event: str, **values: Any) -> None:
        """Log at debug level."""
        self.bind().debug(event, **values)

    def info(self, event: str, **values: Any) -> None:
        """Log at info level."""
        self.bind().info(event, **values)

    def warning(self, event: str, **values: Any) -> None:
        """Log at warning level."""
        self.bind().warning(event, **values)


def get_logger(name: str) -> Logger:
    """The logger of a dfsession module (pass ``__name__``)."""
    return Logger(name)
