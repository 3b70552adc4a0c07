"""Which engines a step can run on: each step names what of the profile it cannot run remotely.

A step that can run on an engine other than this process (an Apache Ballista cluster) says so
with ``unportable(profile)``: the items of the profile it would install that such an engine
cannot run, each with its dotted path and the reason (nothing when it runs anywhere). A step
without that method is taken to run only in this process. Nothing here knows a concrete step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import attrs

from dfsession.errors import NotPortableError
from dfsession.pipeline.step import InstallStep
from dfsession.profile.model import SessionProfile

__all__ = ["DeclaresPortability", "Unportable", "check_portability", "unportable_items"]


@attrs.frozen
class Unportable:
    """One item a remote engine cannot run: its dotted profile path (``udfs.2``) and why.

    ``path`` is empty for a step as a whole (a custom step that makes an in-memory table).
    """

    path: str
    reason: str


@runtime_checkable
class DeclaresPortability(Protocol):
    """A step that says which of the profile's items it cannot run on a remote engine."""

    def unportable(self, profile: SessionProfile) -> Iterable[Unportable]:
        """What of ``profile`` this step cannot run on ``profile.engine``; empty when it can."""
        ...


def _undeclared(step: InstallStep, engine: str) -> Unportable:
    where = f"{type(step).__module__}.{type(step).__qualname__}"
    return Unportable(
        "",
        f"step {step.name!r} ({where}) does not say whether it can run on a {engine!r} engine, "
        "so it is taken to make objects (in-memory tables, Python functions) that only this "
        "process holds; if it can, give it unportable(profile) returning what it cannot run "
        "(nothing: ())",
    )


def unportable_items(
    steps: Sequence[InstallStep], profile: SessionProfile
) -> tuple[Unportable, ...]:
    """Everything of ``steps`` and ``profile`` that ``profile.engine`` cannot run, in step order."""
    engine = profile.engine
    if engine.is_local:
        return ()
    found: list[Unportable] = []
    for step in steps:
        if isinstance(step, DeclaresPortability):
            found.extend(step.unportable(profile))
        else:
            found.append(_undeclared(step, engine.kind))
    return tuple(found)


def check_portability(steps: Sequence[InstallStep], profile: SessionProfile) -> None:
    """Raise one ``NotPortableError`` listing every item the engine cannot run; runs nothing."""
    found = unportable_items(steps, profile)
    if found:
        raise NotPortableError(profile.engine.kind, [(item.path, item.reason) for item in found])
