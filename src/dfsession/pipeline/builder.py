"""``SessionContextBuilder``: validate the order, run the steps, return a ``BuiltSession``."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dfsession.engine import engine_versions
from dfsession.errors import DfSessionError, StepFailedError
from dfsession.logs import get_logger
from dfsession.pipeline.ordering import validate_order
from dfsession.pipeline.session import BuiltSession
from dfsession.pipeline.spans import BuildSpans, record_attributes
from dfsession.pipeline.step import InstallStep, SessionBuild, StepRecord
from dfsession.profile.model import SessionProfile

if TYPE_CHECKING:
    from dfsession.pipeline.cache import SessionCache

log = get_logger(__name__)


class SessionContextBuilder:
    """Runs an ordered list of ``InstallStep`` objects against a profile."""

    def __init__(
        self,
        profile: SessionProfile,
        steps: Iterable[InstallStep] | None = None,
        *,
        cache: SessionCache | None = None,
    ) -> None:
        if not isinstance(profile, SessionProfile):
            raise TypeError(
                f"SessionContextBuilder needs a SessionProfile (got {type(profile).__name__}); "
                "use load_profile(path) or SessionProfile.from_dict(data)"
            )
        if steps is None:
            from dfsession.steps import default_steps

            steps = default_steps()
        self.profile = profile
        self.steps: tuple[InstallStep, ...] = tuple(steps)
        self.cache = cache

    def plan(self) -> tuple[InstallStep, ...]:
        """The steps in run order, validated; runs nothing."""
        return validate_order(self.steps)

    def build(self) -> BuiltSession:
        """Run the steps (or take the session from the cache) and return the built session."""
        if self.cache is not None:
            return self.cache.get_or_build((self.profile.fingerprint(), self.steps), self._build)
        return self._build()

    def _build(self) -> BuiltSession:
        steps = self.plan()
        profile = self.profile
        build = SessionBuild(profile)
        records: list[StepRecord] = []
        logger = log.bind()
        spans = BuildSpans(profile)
        spans.attach(build)
        fingerprint = profile.fingerprint()
        started = time.perf_counter()
        try:
            with spans.span(
                "dfsession.build",
                {"dfsession.fingerprint": fingerprint, "dfsession.steps": len(steps)},
            ) as build_span:
                for step in steps:
                    with spans.step_span(step.name) as span:
                        record = self._run_step(step, build, records, logger)
                        records.append(record)
                        if span is not None:
                            span.set_attributes(record_attributes(record))
                if not build.has_ctx:
                    raise DfSessionError(
                        "no step created a SessionContext; include the 'context' step"
                    )
                if build_span is not None:
                    elapsed_ms = round((time.perf_counter() - started) * 1000.0, 3)
                    build_span.set_attribute("dfsession.duration_ms", elapsed_ms)
        except BaseException as exc:
            build.run_failure_callbacks()
            build.release()
            _clear_frames(exc)
            raise
        return BuiltSession(
            ctx=build.ctx,
            profile=profile,
            records=tuple(records),
            fingerprint=fingerprint,
            versions=engine_versions(),
            resources=dict(build.resources),
        )

    @staticmethod
    def _run_step(
        step: InstallStep, build: SessionBuild, done: list[StepRecord], logger: Any
    ) -> StepRecord:
        started = time.perf_counter()
        try:
            record = step.install(build)
        except DfSessionError as exc:
            exc.step, exc.records = step.name, tuple(done)
            logger.warning("dfsession.step.failed", step=step.name, error=type(exc).__name__)
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # engine panics (pyo3's PanicException) are BaseExceptions
            error = StepFailedError(f"step {step.name!r} failed: {type(exc).__name__}: {exc}")
            error.step, error.records = step.name, tuple(done)
            logger.warning("dfsession.step.failed", step=step.name, error=type(exc).__name__)
            raise error from exc
        if (
            not isinstance(record, StepRecord)
            or record.step != step.name
            or not isinstance(record.applied, Mapping)
        ):
            error = StepFailedError(
                f"step {step.name!r} returned {record!r}; expected "
                f"StepRecord(step={step.name!r}, applied={{...}})"
            )
            error.step, error.records = step.name, tuple(done)
            raise error
        duration_ms = round((time.perf_counter() - started) * 1000.0, 3)
        record = record.with_duration(duration_ms)
        logger.debug(
            "dfsession.step", step=step.name, status=record.status, duration_ms=duration_ms
        )
        return record


def _clear_frames(error: BaseException) -> None:
    """Drop the locals of the finished frames that a failed build's errors hold.

    A step's frame holds the context (``ctx = build.ctx``) and what it made of it; a caller that
    keeps the error would keep them alive, and the runtime's spill folder with them.
    """
    pending, seen = [error], set[int]()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
