"""Build monitors: observers the runner calls around a build and each step (logging, tracing).

Modelled on pluggy's hook-call monitoring: the runner knows only this protocol, and whoever
runs a build chooses the monitors. A monitor observes; it does not change the build.
"""

from __future__ import annotations

from typing import Any, Protocol

from dfsession.errors import StepFailedError
from dfsession.logs import get_logger
from dfsession.pipeline.step import InstallStep, SessionBuild
from dfsession.record import StepRecord

__all__ = ["BuildMonitor", "LoggingMonitor"]

log = get_logger(__name__)


class BuildMonitor(Protocol):
    """Called by the runner: around the build, and around each step in run order."""

    def build_started(self, build: SessionBuild, steps: tuple[InstallStep, ...]) -> None:
        """The steps are validated and about to run."""

    def step_started(self, step: InstallStep) -> None:
        """``step`` is about to run."""

    def step_finished(self, step: InstallStep, record: StepRecord) -> None:
        """``step`` returned ``record`` (its ``duration_ms`` filled in)."""

    def step_failed(self, step: InstallStep, error: BaseException) -> None:
        """``step`` failed with ``error`` (as the build will raise it)."""

    def build_finished(self, error: BaseException | None) -> None:
        """The build ended: ``error`` is what it raises, ``None`` when it succeeded."""


class LoggingMonitor:
    """One structlog event per step: ``dfsession.step`` (debug), ``dfsession.step.failed``."""

    __slots__ = ("_log",)

    def __init__(self) -> None:
        self._log: Any = log.bind()

    def build_started(self, build: SessionBuild, steps: tuple[InstallStep, ...]) -> None:
        """Nothing to log yet."""

    def step_started(self, step: InstallStep) -> None:
        """Nothing to log yet."""

    def step_finished(self, step: InstallStep, record: StepRecord) -> None:
        """Log the step's name, status and duration."""
        self._log.debug(
            "dfsession.step",
            step=step.name,
            status=record.status,
            duration_ms=record.duration_ms,
        )

    def step_failed(self, step: InstallStep, error: BaseException) -> None:
        """Log the failing step and the kind of error it raised (not its text: secrets)."""
        raised = error.__cause__ if isinstance(error, StepFailedError) else error
        self._log.warning(
            "dfsession.step.failed", step=step.name, error=type(raised or error).__name__
        )

    def build_finished(self, error: BaseException | None) -> None:
        """Nothing more to log."""
