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


def _refuse(self: object, *_args: Any, **_kwargs: Any) -> Any:
    raise TypeError(f"a step record is read-only; this {type(self).__name__} cannot change")


class _ReadOnlyDict(dict[str, Any]):
    """A dict that refuses changes: JSON, equality and ``isinstance(x, dict)`` as a dict."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse


class _ReadOnlyList(list[Any]):
    """A list that refuses changes: JSON, equality and ``isinstance(x, list)`` as a list."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse


_SCALARS = frozenset({str, int, float, bool, type(None)})


def read_only(value: Any) -> Any:
    """``value`` with every nested dict and list (tuples too) made read-only."""
    kind = type(value)
    if kind in _SCALARS or kind is _ReadOnlyDict or kind is _ReadOnlyList:
        return value
    if isinstance(value, Mapping):
        return _ReadOnlyDict(
            {
                k if type(k) is str else str(k): v if type(v) in _SCALARS else read_only(v)
                for k, v in value.items()
            }
        )
    if isinstance(value, list | tuple):
        return _ReadOnlyList([v if type(v) in _SCALARS else read_only(v) for v in value])
    return value


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

    def sealed(self) -> StepRecord:
        """A copy whose ``applied`` is read-only all the way down (for records others share)."""
        return StepRecord(self.step, self.status, read_only(self.applied), self.duration_ms)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form used in reports."""
        return {
            "step": self.step,
            "status": self.status,
            "applied": plain_copy(self.applied),
            "duration_ms": self.duration_ms,
        }


def plain_copy(value: Any) -> Any:
    """A deep copy in plain JSON types: mappings become dicts, lists and tuples lists."""
    if isinstance(value, Mapping):
        return {str(key): plain_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(item) for item in value]
    return value


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

    __slots__ = ("_ctx", "_on_failure", "_profile", "resources")

    def __init__(self, profile: SessionProfile) -> None:
        self._profile = profile
        #: Live objects a step hands to the built session (a tracer, say), by name.
        self.resources: dict[str, Any] = {}
        self._ctx: SessionContext | None = None
        self._on_failure: list[Callable[[], None]] = []

    @property
    def profile(self) -> SessionProfile:
        """The profile being built; read-only, as the session's record of it must stay true."""
        return self._profile

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

    def release(self) -> None:
        """Drop the context and resources of a failed build, so that nothing keeps them alive."""
        self._ctx = None
        self.resources.clear()

    def run_failure_callbacks(self) -> None:
        """Called by the builder when a build fails; newest first, errors suppressed."""
        while self._on_failure:
            callback = self._on_failure.pop()
            with contextlib.suppress(Exception):  # cleanup must not mask the build error
                callback()
