"""The pipeline: ordering, the builder loop, errors, records and the runtime hash."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from datafusion.object_store import LocalFileSystem
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from dfsession import (
    DfSessionError,
    SchemaMismatchError,
    SessionBuild,
    SessionCache,
    SessionContextBuilder,
    SessionProfile,
    StepFailedError,
    StepOrderError,
    StepRecord,
    default_steps,
    insert_after,
    insert_before,
    replace_step,
    without_step,
)
from dfsession.steps.session import ContextStep, SettingsStep, UrlTableStep
from dfsession.testing import profiles, step_orders


@attrs.frozen
class Probe:
    """A real step that registers a one-row table and counts its runs."""

    name: str
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset()
    runs: list[str] = attrs.field(factory=list, eq=False, hash=False)

    def install(self, build: SessionBuild) -> StepRecord:
        self.runs.append(self.name)
        build.ctx.from_pydict({"x": [1]}, name=self.name)
        return StepRecord(step=self.name, applied={"tables": [self.name]})


@attrs.frozen
class Raising:
    name: str = "raising"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset()
    error: Callable[[], Exception] = attrs.field(default=lambda: RuntimeError("boom"), eq=False)

    def install(self, build: SessionBuild) -> StepRecord:
        raise self.error()


PROFILE = SessionProfile.from_dict({"catalog": {"information_schema": True}})


def test_default_build_has_one_record_per_step_in_run_order() -> None:
    session = SessionContextBuilder(PROFILE).build()
    assert [r.step for r in session.records] == [s.name for s in default_steps()]
    assert all(r.duration_ms >= 0 for r in session.records)
    assert session.record("settings").status == "skipped"
    assert "reason" in session.record("settings").applied
    assert session.ctx.sql("SELECT 1 AS one").to_pydict() == {"one": [1]}


def test_plan_returns_the_ordered_steps_and_runs_nothing() -> None:
    probe = Probe("probe")
    steps = (ContextStep(), probe)
    assert SessionContextBuilder(PROFILE, steps=steps).plan() == steps
    assert probe.runs == []


def test_plan_rejects_step_whose_requirement_comes_later() -> None:
    steps = (Probe("probe"), ContextStep())
    with pytest.raises(StepOrderError) as info:
        SessionContextBuilder(PROFILE, steps=steps).plan()
    message = str(info.value)
    assert "'probe' requires 'context'" in message
    assert "provided by 'context', which comes later" in message


def test_plan_rejects_requirement_no_step_provides() -> None:
    steps = (ContextStep(), Probe("probe", requires=frozenset({"context", "warehouse"})))
    with pytest.raises(StepOrderError, match="'warehouse', provided by no step"):
        SessionContextBuilder(PROFILE, steps=steps).plan()


def test_plan_rejects_duplicate_names_naming_both_steps() -> None:
    steps = (ContextStep(), Probe("context", requires=frozenset()))
    with pytest.raises(StepOrderError) as info:
        SessionContextBuilder(PROFILE, steps=steps).plan()
    assert "ContextStep" in str(info.value) and "Probe" in str(info.value)


def test_plan_rejects_objects_that_are_not_steps() -> None:
    with pytest.raises(StepOrderError, match="not an InstallStep"):
        SessionContextBuilder(PROFILE, steps=(ContextStep(), object())).plan()  # type: ignore[arg-type]


def test_non_dfsession_error_is_wrapped_with_step_records_and_cause() -> None:
    steps = (ContextStep(), Probe("first"), Raising())
    with pytest.raises(StepFailedError) as info:
        SessionContextBuilder(PROFILE, steps=steps).build()
    assert info.value.step == "raising"
    assert [r.step for r in info.value.records] == ["context", "first"]
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "boom" in str(info.value)


def test_dfsession_error_from_a_step_goes_through_as_itself() -> None:
    steps = (ContextStep(), Raising(error=lambda: SchemaMismatchError("columns differ")))
    with pytest.raises(SchemaMismatchError) as info:
        SessionContextBuilder(PROFILE, steps=steps).build()
    assert info.value.step == "raising"
    assert [r.step for r in info.value.records] == ["context"]


def test_failed_build_runs_cleanup_callbacks(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"

    @attrs.frozen
    class MakesScratch:
        name: str = "scratch"
        requires: frozenset[str] = frozenset()
        provides: frozenset[str] = frozenset()

        def install(self, build: SessionBuild) -> StepRecord:
            scratch.mkdir()
            build.on_failure(scratch.rmdir)
            return StepRecord(step=self.name)

    with pytest.raises(StepFailedError):
        SessionContextBuilder(PROFILE, steps=(MakesScratch(), ContextStep(), Raising())).build()
    assert not scratch.exists()


@attrs.frozen
class FailsWithTheContextAtHand:
    """Raises once the context exists, with it and a DataFrame of it in its locals."""

    name: str = "fails"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset()
    error: Callable[[], Exception] = attrs.field(default=lambda: RuntimeError("boom"), eq=False)

    def install(self, build: SessionBuild) -> StepRecord:
        ctx = build.ctx
        frame = ctx.sql("SELECT 1 AS one")
        assert frame.to_pydict() == {"one": [1]}
        raise self.error()


@pytest.mark.parametrize(
    "error",
    [lambda: RuntimeError("boom"), lambda: SchemaMismatchError("columns differ")],
    ids=["wrapped", "passed-through"],
)
def test_a_failed_build_leaves_no_spill_folder_while_its_error_is_kept(
    tmp_path: Path, error: Callable[[], Exception]
) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    profile = SessionProfile.from_dict({"execution": {"spill": [str(spill)]}})
    steps = (ContextStep(), Probe("first"), FailsWithTheContextAtHand(error=error))
    with pytest.raises(DfSessionError) as info:
        SessionContextBuilder(profile, steps=steps).build()
    kept = info.value  # the caller keeps the error, its traceback and its cause
    assert kept.step == "fails"
    assert [r.step for r in kept.records] == ["context", "first"]
    assert list(spill.iterdir()) == []


def test_a_failed_cached_build_leaves_no_spill_folder_while_its_error_is_kept(
    tmp_path: Path,
) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    profile = SessionProfile.from_dict({"execution": {"spill": [str(spill)]}})
    cache = SessionCache()
    builder = SessionContextBuilder(
        profile, steps=(ContextStep(), FailsWithTheContextAtHand()), cache=cache
    )
    with pytest.raises(StepFailedError) as info:
        builder.build()
    assert info.value.step == "fails"
    assert list(spill.iterdir()) == []
    assert cache.stats.misses == 1


def test_a_successful_build_keeps_its_spill_folder_until_the_session_goes(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    profile = SessionProfile.from_dict({"execution": {"spill": [str(spill)]}})
    session = SessionContextBuilder(profile).build()
    assert len(list(spill.iterdir())) == 1  # DataFusion's own folder for this runtime
    del session
    assert list(spill.iterdir()) == []


@attrs.frozen
class Panics:
    """Makes the engine panic: a local file system over a folder that does not exist."""

    missing: str
    name: str = "panics"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset()

    def install(self, build: SessionBuild) -> StepRecord:
        build.ctx.register_object_store("file://", LocalFileSystem(prefix=self.missing), None)
        return StepRecord(step=self.name)


def test_an_engine_panic_inside_a_step_is_a_step_failed_error(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    profile = SessionProfile.from_dict({"execution": {"spill": [str(spill)]}})
    steps = (ContextStep(), Probe("first"), Panics(str(tmp_path / "missing")))
    with pytest.raises(StepFailedError) as info:
        SessionContextBuilder(profile, steps=steps).build()
    assert info.value.step == "panics"
    assert [r.step for r in info.value.records] == ["context", "first"]
    cause = info.value.__cause__
    assert type(cause).__name__ == "PanicException"
    assert not isinstance(cause, Exception)
    assert "step 'panics' failed: PanicException: Could not create local LocalFileSystem" in str(
        info.value
    )
    assert list(spill.iterdir()) == []


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_inside_a_step_stays_itself_and_cleans_up(
    tmp_path: Path, interrupt: type[BaseException]
) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    profile = SessionProfile.from_dict({"execution": {"spill": [str(spill)]}})
    steps = (ContextStep(), FailsWithTheContextAtHand(error=interrupt))  # type: ignore[arg-type]
    with pytest.raises(interrupt) as info:
        SessionContextBuilder(profile, steps=steps).build()
    assert info.value is not None  # kept
    assert list(spill.iterdir()) == []


def test_reading_ctx_before_a_context_step_is_a_clear_error() -> None:
    steps = (Probe("early", requires=frozenset()), ContextStep())
    with pytest.raises(DfSessionError, match="put the 'context' step"):
        SessionContextBuilder(PROFILE, steps=steps).build()


def test_step_returning_something_else_than_a_record_fails_naming_it() -> None:
    @attrs.frozen
    class Sloppy:
        name: str = "sloppy"
        requires: frozenset[str] = frozenset()
        provides: frozenset[str] = frozenset()

        def install(self, build: SessionBuild) -> StepRecord:
            return {"step": "sloppy"}  # type: ignore[return-value]

    with pytest.raises(StepFailedError, match="step 'sloppy' returned"):
        SessionContextBuilder(PROFILE, steps=(ContextStep(), Sloppy())).build()


def test_record_with_unserialisable_payload_fails_naming_the_step_when_hashed() -> None:
    @attrs.frozen
    class Opaque:
        name: str = "opaque"
        requires: frozenset[str] = frozenset()
        provides: frozenset[str] = frozenset()

        def install(self, build: SessionBuild) -> StepRecord:
            return StepRecord(step=self.name, applied={"thing": object()})

    session = SessionContextBuilder(PROFILE, steps=(ContextStep(), Opaque())).build()
    with pytest.raises(StepFailedError, match=r"'opaque'.*not JSON-able") as info:
        session.runtime_hash  # computed on first use: a build never pays for encoding
    assert info.value.step == "opaque"


def test_runtime_hash_is_computed_once() -> None:
    session = SessionContextBuilder(PROFILE).build()
    assert session.runtime_hash is session.runtime_hash
    assert len(session.runtime_hash) == 64


def test_build_without_a_context_step_fails() -> None:
    with pytest.raises(DfSessionError, match="no step created a SessionContext"):
        SessionContextBuilder(PROFILE, steps=()).build()


def test_compose_helpers_place_replace_and_drop_by_name() -> None:
    base = (ContextStep(), SettingsStep(), UrlTableStep())
    probe = Probe("probe")
    assert [s.name for s in insert_after(base, "context", probe)] == [
        "context",
        "probe",
        "settings",
        "url_table",
    ]
    assert [s.name for s in insert_before(base, "url_table", probe)] == [
        "context",
        "settings",
        "probe",
        "url_table",
    ]
    assert [s.name for s in without_step(base, "settings")] == ["context", "url_table"]
    replaced = replace_step(base, "settings", probe)
    assert [s.name for s in replaced] == ["context", "probe", "url_table"]
    with pytest.raises(StepOrderError, match=r"no step named 'nope'.*'context'"):
        insert_after(base, "nope", probe)


def test_records_and_report_are_json_able() -> None:
    session = SessionContextBuilder(PROFILE).build()
    report = session.report()
    assert json.loads(json.dumps(report)) == report
    assert report["fingerprint"] == PROFILE.fingerprint()
    assert report["settings"]["datafusion.catalog.information_schema"] == "true"


def test_report_settings_are_null_without_information_schema() -> None:
    session = SessionContextBuilder(SessionProfile()).build()
    assert session.report()["settings"] is None


def test_runtime_hash_is_stable_and_follows_the_applied_payload() -> None:
    a = SessionContextBuilder(PROFILE).build()
    b = SessionContextBuilder(PROFILE).build()
    assert a.runtime_hash == b.runtime_hash
    other = SessionProfile.from_dict(
        {"catalog": {"information_schema": True}, "execution": {"batch_size": 1024}}
    )
    assert SessionContextBuilder(other).build().runtime_hash != a.runtime_hash


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step_orders((ContextStep(), SettingsStep(), UrlTableStep(), Probe("a"), Probe("b"))))
def test_any_permutation_is_planned_in_a_valid_order_or_rejected(steps: tuple) -> None:
    builder = SessionContextBuilder(PROFILE, steps=steps)
    try:
        planned = builder.plan()
    except StepOrderError:
        assert steps[0].name != "context"
        return
    provided: set[str] = set()
    for step in planned:
        assert step.requires <= provided
        provided |= step.provides
    assert all(not getattr(s, "runs", []) for s in steps)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations([SettingsStep(), UrlTableStep(), Probe("a"), Probe("b")]))
def test_independent_steps_in_any_valid_order_give_the_same_runtime_hash(rest: list) -> None:
    profile = SessionProfile.from_dict({"settings": {"datafusion.optimizer.max_passes": "2"}})
    reference = SessionContextBuilder(
        profile, steps=(ContextStep(), SettingsStep(), UrlTableStep(), Probe("a"), Probe("b"))
    ).build()
    shuffled = SessionContextBuilder(profile, steps=(ContextStep(), *rest)).build()
    assert shuffled.runtime_hash == reference.runtime_hash


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles())
def test_every_drawn_profile_builds_with_the_default_steps(profile: SessionProfile) -> None:
    session = SessionContextBuilder(profile).build()
    assert session.fingerprint == profile.fingerprint()
    assert session.ctx.sql("SELECT 1 AS x").to_pydict() == {"x": [1]}


def test_library_prints_nothing_until_the_application_configures_logging() -> None:
    code = (
        "from dfsession import SessionContextBuilder, SessionProfile\n"
        "s = SessionContextBuilder(SessionProfile()).build()\n"
        "s.execute('SELECT 1')\n"
        "print('output')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == "output\n"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step_orders(default_steps(), valid=True))
def test_valid_orders_of_the_default_steps_build_the_same_session(steps: tuple) -> None:
    profile = SessionProfile.from_dict({"settings": {"datafusion.optimizer.max_passes": "2"}})
    reference = SessionContextBuilder(profile).build()
    shuffled = SessionContextBuilder(profile, steps=steps).build()
    assert shuffled.runtime_hash == reference.runtime_hash


def test_step_orders_draw_valid_orders_of_the_default_steps() -> None:
    order = find(
        step_orders(default_steps()),
        lambda steps: steps != default_steps() and _plans(steps),
    )
    assert _plans(order)


def _plans(steps: tuple) -> bool:
    try:
        SessionContextBuilder(PROFILE, steps=steps).plan()
    except StepOrderError:
        return False
    return True


def test_cached_sessions_have_records_read_only_all_the_way_down() -> None:
    session = SessionContextBuilder(PROFILE, cache=SessionCache()).build()
    applied = session.record("context").applied
    with pytest.raises(TypeError, match="read-only"):
        applied["batch_size"] = 99  # type: ignore[index]
    record = StepRecord(step="x", applied={"tables": ["a"], "nested": {"k": [1]}}).sealed()
    with pytest.raises(TypeError, match="read-only"):
        record.applied["tables"].append("b")
    with pytest.raises(TypeError, match="read-only"):
        record.applied["nested"]["k"].clear()
    assert record.applied == {"tables": ["a"], "nested": {"k": [1]}}
    assert json.loads(json.dumps(record.to_dict()))["applied"] == record.applied
    assert session.runtime_hash == SessionContextBuilder(PROFILE).build().runtime_hash


def test_a_step_cannot_swap_the_profile_being_built() -> None:
    @attrs.frozen
    class Swapper:
        name: str = "swapper"
        requires: frozenset[str] = frozenset()
        provides: frozenset[str] = frozenset()

        def install(self, build: SessionBuild) -> StepRecord:
            build.profile = SessionProfile()  # type: ignore[misc]
            return StepRecord(step=self.name)

    with pytest.raises(StepFailedError, match="swapper"):
        SessionContextBuilder(PROFILE, steps=(ContextStep(), Swapper())).build()


def test_each_step_logs_one_event_with_its_name_status_and_duration() -> None:
    with capture_logs() as events:
        session = SessionContextBuilder(PROFILE).build()
    logged = [e for e in events if e["event"] == "dfsession.step"]
    assert [e["step"] for e in logged] == [r.step for r in session.records]
    assert [e["status"] for e in logged] == [r.status for r in session.records]
    assert all(e["duration_ms"] >= 0 for e in logged)
