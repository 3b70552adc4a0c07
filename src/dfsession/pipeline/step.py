"""The step protocol: what a step is, what it is handed, and what it returns."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from dfsession.errors import DfSessionError
from dfsession.profile.model import SessionProfile

if TYPE_CHECKING:
    from datafusion import SessionContext

Status = Literal["applied", "skipped"]
#: ``resources`` key of the context handles steps replaced, kept alive with the session.
REPLACED_CONTEXTS = "replaced_contexts"


@attrs.frozen
class StepRecord:
    """What one step applied, as it applied it; ``duration_ms`` is filled in by the builder."""

    step: str
    status: Status = attrs.field(
        default="applied", validator=attrs.validators.in_(("applied", "skipped"))
    )
    applied: Mapping[str, Any] = attrs.field(factory=dict)
    duration_ms: float = 0.0

    @classmethod
    def skipped(cls, step: str, reason: str) -> StepRecord:
        """A record for a step that had nothing to do, and why."""
        return cls(step=step, status="skipped", applied={"reason": reason})

    def with_duration(self, duration_ms: float) -> StepRecord:
        """A copy with ``duration_ms`` set (the builder's timing; fields already validated)."""
        copy = object.__new__(StepRecord)
        for field, value in (
            ("step", self.step),
            ("status", self.status),
            ("applied", self.applied),
            ("duration_ms", duration_ms),
        ):
            object.__setattr__(copy, field, value)
        return copy

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form used in reports."""
        return {
            "step": self.step,
            "status": self.status,
            "applied": dict(self.applied),
            "duration_ms": self.duration_ms,
        }


@runtime_checkable
class InstallStep(Protocol):
    """One small unit of session construction.

    ``requires`` names capabilities earlier steps must provide; ``provides`` names the ones
    this step adds. Steps are hashable values (frozen attrs classes).
    """

    @property
    def name(self) -> str: ...

    @property
    def requires(self) -> frozenset[str]: ...

    @property
    def provides(self) -> frozenset[str]: ...

    def install(self, build: SessionBuild) -> StepRecord: ...


class SessionBuild:
    """The one mutable object of a build, handed to each step in turn."""

    __slots__ = ("_ctx", "_on_failure", "profile", "resources")

    def __init__(self, profile: SessionProfile) -> None:
        self.profile = profile
        #: Live objects a step hands to the built session (a tracer, say), by name.
        self.resources: dict[str, Any] = {}
        self._ctx: SessionContext | None = None
        self._on_failure: list[Callable[[], None]] = []

    @property
    def ctx(self) -> SessionContext:
        """The context so far; reading it before a step created one is an error."""
        if self._ctx is None:
            raise DfSessionError(
                "no SessionContext exists yet: put the 'context' step (or another step that "
                "provides 'context') before the steps that use it"
            )
        return self._ctx

    @ctx.setter
    def ctx(self, ctx: SessionContext) -> None:
        # A handle a step replaces (enable_url_table, with_extensions) stays alive with the
        # session: tables registered through it, Delta's among them, are tied to it.
        if self._ctx is not None and self._ctx is not ctx:
            self.resources.setdefault(REPLACED_CONTEXTS, []).append(self._ctx)
        self._ctx = ctx

    @property
    def has_ctx(self) -> bool:
        """Whether a step has created the context yet."""
        return self._ctx is not None

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` if the build fails later (say, to remove a temp directory)."""
        self._on_failure.append(callback)

    def run_failure_callbacks(self) -> None:
        """Called by the builder when a build fails; newest first, errors suppressed."""
        while self._on_failure:
            callback = self._on_failure.pop()
            with contextlib.suppress(Exception):  # cleanup must not mask the build error
                callback()
