"""The runner: run validated steps in order, time them, call the monitors, return the result."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from dfsession.errors import DfSessionError, StepFailedError, chained
from dfsession.pipeline.monitor import BuildMonitor
from dfsession.pipeline.ordering import validate_order
from dfsession.pipeline.portability import check_portability
from dfsession.pipeline.step import InstallStep, Provided, SessionBuild
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord

if TYPE_CHECKING:
    from datafusion import SessionContext

__all__ = ["BuildResult", "plan_steps", "run_build"]


@attrs.frozen
class BuildResult:
    """What a build made: the context, one record per step, what the steps provided.

    ``retained`` holds the context handles steps replaced: tables registered through them are
    tied to them, so they must live as long as ``ctx``.
    """

    ctx: SessionContext = attrs.field(eq=False, repr=False)
    records: tuple[StepRecord, ...]
    provided: Provided = attrs.field(eq=False)
    retained: tuple[object, ...] = attrs.field(default=(), eq=False, repr=False)


def plan_steps(steps: Iterable[InstallStep], profile: SessionProfile) -> tuple[InstallStep, ...]:
    """``steps`` in run order, validated, and runnable on the profile's engine; runs nothing.

    ``StepOrderError`` for an order that cannot run; ``NotPortableError`` listing every item
    a remote engine (``[engine] kind``) cannot run.
    """
    ordered = validate_order(steps)
    check_portability(ordered, profile)
    return ordered


def run_build(
    steps: Iterable[InstallStep],
    profile: SessionProfile,
    monitors: Sequence[BuildMonitor] = (),
    *,
    given: Iterable[object] = (),
) -> BuildResult:
    """Plan ``steps`` (``plan_steps``), run them against ``profile`` and return the result.

    ``given`` objects are readable by the steps (``build.get``/``build.need``) by type. A step
    raising a ``DfSessionError`` fails the build with it; any other exception (an engine panic
    too) is wrapped in ``StepFailedError``; either carries ``.step`` and ``.records`` (the steps
    that ran before). A failed build runs the failure callbacks steps registered and drops what
    it made (see ``_release``), then raises.
    """
    ordered = plan_steps(steps, profile)
    build = SessionBuild(profile, given)
    for monitor in monitors:
        monitor.build_started(build, ordered)
    records: list[StepRecord] = []
    try:
        for step in ordered:
            records.append(_run_step(step, build, records, monitors))
        if not build.has_ctx:
            raise DfSessionError("no step created a SessionContext; include the 'context' step")
    except BaseException as exc:
        for monitor in monitors:
            monitor.build_finished(exc)
        build.run_failure_callbacks()
        _release(build, exc)
        raise
    for monitor in monitors:
        monitor.build_finished(None)
    return BuildResult(build.ctx, tuple(records), build.provided, build.replaced_contexts)


def _run_step(
    step: InstallStep,
    build: SessionBuild,
    done: Sequence[StepRecord],
    monitors: Sequence[BuildMonitor],
) -> StepRecord:
    """Run one step between its monitor calls; the record gets its duration."""
    for monitor in monitors:
        monitor.step_started(step)
    build.current_step = step.name
    started = time.perf_counter()
    try:
        record = _checked(step, step.install(build))
    except BaseException as exc:
        error = _step_error(step, exc, done)
        for monitor in monitors:
            monitor.step_failed(step, error)
        if error is exc:
            raise
        raise error from exc
    finally:
        build.current_step = None
    record = record.with_duration(round((time.perf_counter() - started) * 1000.0, 3))
    for monitor in monitors:
        monitor.step_finished(step, record)
    return record


def _checked(step: InstallStep, record: object) -> StepRecord:
    """``record`` if it is this step's ``StepRecord``; else a ``StepFailedError`` naming it."""
    if (
        isinstance(record, StepRecord)
        and record.step == step.name
        and isinstance(record.applied, Mapping)
    ):
        return record
    raise StepFailedError(
        f"step {step.name!r} returned {record!r}; expected "
        f"StepRecord(step={step.name!r}, applied={{...}})"
    )


def _step_error(step: InstallStep, exc: BaseException, done: Sequence[StepRecord]) -> BaseException:
    """The error a failing step fails the build with, carrying the step and earlier records.

    A ``DfSessionError`` goes through as itself; ``KeyboardInterrupt`` and ``SystemExit`` too;
    anything else, engine panics included (pyo3's ``PanicException`` is a ``BaseException``),
    is wrapped in ``StepFailedError`` (``exc`` its cause).
    """
    if isinstance(exc, DfSessionError):
        error: DfSessionError = exc
    elif not isinstance(exc, KeyboardInterrupt | SystemExit):
        error = StepFailedError(f"step {step.name!r} failed: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
    else:
        return exc
    error.step, error.records = step.name, tuple(done)
    return error


def _release(build: SessionBuild, error: BaseException) -> None:
    """Drop what a failed build made, so that a caller keeping ``error`` keeps none of it.

    The build lets go of the context and the objects steps provided; the finished frames the
    error's traceback (and its chained errors') hold lose their locals, as a step's frame holds
    the context (``ctx = build.ctx``) and what it made of it. The runtime's spill folder then
    goes with the context.
    """
    build.release()
    for raised in chained(error):
        traceback.clear_frames(raised.__traceback__)
