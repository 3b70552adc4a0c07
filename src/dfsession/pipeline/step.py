"""The step protocol: what a step is, and the build it is handed, with typed handoffs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from dfsession.errors import DfSessionError
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord

if TYPE_CHECKING:
    from datafusion import SessionContext

__all__ = ["InstallStep", "Provided", "SessionBuild"]

T = TypeVar("T")


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


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


class Provided:
    """Objects handed on by type (one per type), read-only: ``provided.get(ObjectStores)``."""

    __slots__ = ("_objects",)

    def __init__(self, objects: Mapping[type, object] | None = None) -> None:
        self._objects: Mapping[type, object] = MappingProxyType(dict(objects or {}))

    def get(self, kind: type[T]) -> T | None:
        """The object of type ``kind``, or ``None`` when none was handed on."""
        found = self._objects.get(kind)
        return found if isinstance(found, kind) else None

    def __contains__(self, kind: object) -> bool:
        return kind in self._objects

    def __iter__(self) -> Iterator[type]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def __repr__(self) -> str:
        return f"Provided({', '.join(kind.__qualname__ for kind in self._objects)})"


class SessionBuild:
    """The one mutable object of a build, handed to each step in turn.

    Steps hand objects to later steps by type: ``build.provide(stores)`` in one step,
    ``build.need(ObjectStores)`` in a later one. ``given`` objects (handed in by whoever runs
    the build) can be read the same way, and a step may hand one on with ``provide``.
    """

    __slots__ = (
        "_ctx",
        "_given",
        "_on_failure",
        "_profile",
        "_provided",
        "_providers",
        "_replaced",
        "current_step",
    )

    def __init__(self, profile: SessionProfile, given: Iterable[object] = ()) -> None:
        self._profile = profile
        self._ctx: SessionContext | None = None
        self._on_failure: list[Callable[[], None]] = []
        self._given: dict[type, object] = {type(obj): obj for obj in given}
        self._provided: dict[type, object] = {}
        self._providers: dict[type, str] = {}
        self._replaced: list[SessionContext] = []
        #: The name of the step running now (set by the runner); errors name it.
        self.current_step: str | None = None

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
            self._replaced.append(self._ctx)
        self._ctx = ctx

    @property
    def has_ctx(self) -> bool:
        """Whether a step has created the context yet."""
        return self._ctx is not None

    def provide(self, obj: object) -> None:
        """Hand ``obj`` to later steps and to the built session, keyed by ``type(obj)``."""
        kind = type(obj)
        by = self.current_step or "the build's caller"
        if kind in self._provided:
            raise DfSessionError(
                f"{_type_name(kind)} is provided twice: by step {self._providers[kind]!r} and "
                f"by step {by!r}; one type is handed on by one step, so remove one of them"
            )
        self._provided[kind] = obj
        self._providers[kind] = by

    def get(self, kind: type[T]) -> T | None:
        """The object of type ``kind`` an earlier step provided (or that was given), or ``None``."""
        found = self._provided.get(kind, self._given.get(kind))
        return found if isinstance(found, kind) else None

    def need(self, kind: type[T]) -> T:
        """The object of type ``kind`` an earlier step provided; an error naming both if none."""
        found = self.get(kind)
        if found is None:
            raise DfSessionError(
                f"step {self.current_step!r} needs a {_type_name(kind)}, which no earlier step "
                f"provided; put the step that provides it before {self.current_step!r}"
            )
        return found

    @property
    def provided(self) -> Provided:
        """What the steps provided so far, read-only."""
        return Provided(self._provided)

    @property
    def replaced_contexts(self) -> tuple[SessionContext, ...]:
        """The context handles steps replaced; the session keeps them alive."""
        return tuple(self._replaced)

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` if the build fails later (say, to remove a temp directory)."""
        self._on_failure.append(callback)

    def release(self) -> None:
        """Drop the context and what steps provided (a failed build's), so nothing keeps them."""
        self._ctx = None
        self._provided.clear()
        self._given.clear()
        self._replaced.clear()

    def run_failure_callbacks(self) -> None:
        """Called by the runner when a build fails; newest first, errors suppressed."""
        while self._on_failure:
            callback = self._on_failure.pop()
            with contextlib.suppress(Exception):  # cleanup must not mask the build error
                callback()
