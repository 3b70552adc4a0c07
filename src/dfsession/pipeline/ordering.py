"""Validating a step order, and composing step lists without index arithmetic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dfsession.errors import StepOrderError
from dfsession.pipeline.step import InstallStep

__all__ = ["insert_after", "insert_before", "replace_step", "validate_order", "without_step"]


_STEP_ATTRIBUTES = ("name", "requires", "provides", "install")


def _describe(step: object) -> str:
    return f"{type(step).__module__}.{type(step).__qualname__}"


def _check_step(step: object) -> None:
    """Raise ``StepOrderError`` unless ``step`` has what the ``InstallStep`` protocol needs."""
    missing = [attribute for attribute in _STEP_ATTRIBUTES if not hasattr(step, attribute)]
    if missing:
        raise StepOrderError(
            f"{step!r} is not an InstallStep: it lacks {', '.join(missing)}; a step needs "
            "name, requires, provides and install(build) -> StepRecord",
            step=getattr(step, "name", None),
        )


def _check_unique(steps: Sequence[InstallStep]) -> None:
    """Raise ``StepOrderError`` naming both steps when two share a name."""
    by_name: dict[str, InstallStep] = {}
    for step in steps:
        first = by_name.setdefault(step.name, step)
        if first is not step:
            raise StepOrderError(
                f"two steps are named {step.name!r}: {step.name!r} ({_describe(first)}) and "
                f"{step.name!r} ({_describe(step)}); step names must be unique",
                step=step.name,
                duplicate=(_describe(first), _describe(step)),
            )


def _missing_capability(
    steps: Sequence[InstallStep], position: int, capability: str
) -> StepOrderError:
    """The error for the step at ``position`` requiring what no earlier step provides."""
    step = steps[position]
    providers = [s.name for s in steps[position + 1 :] if capability in s.provides]
    if providers:
        where = f"provided by {', '.join(map(repr, providers))}, which comes later"
        fix = f"move step {step.name!r} after {providers[0]!r}"
    else:
        where = "provided by no step in the list"
        fix = f"add a step that provides {capability!r}, or remove {step.name!r}"
    return StepOrderError(
        f"step {step.name!r} requires {capability!r}, {where}; {fix}",
        step=step.name,
        capability=capability,
        providers=providers,
    )


def validate_order(steps: Iterable[InstallStep]) -> tuple[InstallStep, ...]:
    """Return ``steps`` as a tuple if every requirement is provided by an earlier step.

    Raises ``StepOrderError`` naming the step, the missing capability and the steps that
    provide it (or that none does); a duplicate name names both steps. Runs no step.
    """
    ordered = tuple(steps)
    for step in ordered:
        _check_step(step)
    _check_unique(ordered)
    provided: set[str] = set()
    for position, step in enumerate(ordered):
        missing = step.requires - provided
        if missing:
            raise _missing_capability(ordered, position, min(missing))
        provided |= step.provides
    return ordered


def _index(steps: Sequence[InstallStep], name: str) -> int:
    for position, step in enumerate(steps):
        if step.name == name:
            return position
    known = ", ".join(repr(s.name) for s in steps)
    raise StepOrderError(f"no step named {name!r} in the list (steps: {known})", step=name)


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
