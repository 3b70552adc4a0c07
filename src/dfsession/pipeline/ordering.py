"""Validating a step order, and composing step lists without index arithmetic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dfsession.errors import StepOrderError
from dfsession.pipeline.step import InstallStep


def _describe(step: object) -> str:
    return f"{getattr(step, 'name', '?')!r} ({type(step).__module__}.{type(step).__qualname__})"


def validate_order(steps: Sequence[InstallStep]) -> tuple[InstallStep, ...]:
    """Return ``steps`` as a tuple if every requirement is provided by an earlier step.

    Raises ``StepOrderError`` naming the step, the missing capability and the steps that
    provide it (or that none does); a duplicate name names both steps. Runs no step.
    """
    ordered = tuple(steps)
    by_name: dict[str, InstallStep] = {}
    for step in ordered:
        try:  # the structural check isinstance(step, InstallStep) makes, at a tenth of its cost
            step.name, step.requires, step.provides, step.install  # noqa: B018
        except AttributeError:
            raise StepOrderError(
                f"{step!r} is not an InstallStep: a step needs name, requires, provides and "
                "install(build) -> StepRecord"
            ) from None
        if step.name in by_name:
            raise StepOrderError(
                f"two steps are named {step.name!r}: {_describe(by_name[step.name])} and "
                f"{_describe(step)}; step names must be unique"
            )
        by_name[step.name] = step
    provided: set[str] = set()
    for position, step in enumerate(ordered):
        for capability in sorted(step.requires - provided):
            providers = [s.name for s in ordered[position + 1 :] if capability in s.provides]
            if providers:
                where = f"provided by {', '.join(map(repr, providers))}, which comes later"
                fix = f"move step {step.name!r} after {providers[0]!r}"
            else:
                where = "provided by no step in the list"
                fix = f"add a step that provides {capability!r}, or remove {step.name!r}"
            raise StepOrderError(f"step {step.name!r} requires {capability!r}, {where}; {fix}")
        provided |= step.provides
    return ordered


def _index(steps: Sequence[InstallStep], name: str) -> int:
    for position, step in enumerate(steps):
        if step.name == name:
            return position
    known = ", ".join(repr(s.name) for s in steps)
    raise StepOrderError(f"no step named {name!r} in the list (steps: {known})")


def insert_before(
    steps: Iterable[InstallStep], name: str, *new: InstallStep
) -> tuple[InstallStep, ...]:
    """A new tuple with ``new`` placed just before the step called ``name``."""
    items = tuple(steps)
    at = _index(items, name)
    return (*items[:at], *new, *items[at:])


def insert_after(
    steps: Iterable[InstallStep], name: str, *new: InstallStep
) -> tuple[InstallStep, ...]:
    """A new tuple with ``new`` placed just after the step called ``name``."""
    items = tuple(steps)
    at = _index(items, name) + 1
    return (*items[:at], *new, *items[at:])


def replace_step(
    steps: Iterable[InstallStep], name: str, new: InstallStep
) -> tuple[InstallStep, ...]:
    """A new tuple with the step called ``name`` replaced by ``new``."""
    items = tuple(steps)
    at = _index(items, name)
    return (*items[:at], new, *items[at + 1 :])


def without_step(steps: Iterable[InstallStep], name: str) -> tuple[InstallStep, ...]:
    """A new tuple without the step called ``name``."""
    items = tuple(steps)
    at = _index(items, name)
    return (*items[:at], *items[at + 1 :])
