"""The runner, its monitors, and the typed handoffs between steps (``provide`` / ``need``)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from structlog.testing import capture_logs

from dfsession import (
    DfSessionError,
    InstallStep,
    SessionBuild,
    SessionCache,
    SessionContextBuilder,
    SessionProfile,
    StepFailedError,
    StepOrderError,
    StepRecord,
)
from dfsession.locations import ObjectStores
from dfsession.pipeline.runner import run_build
from dfsession.pipeline.step import Provided
from dfsession.steps.session import ContextStep, UrlTableStep

PROFILE = SessionProfile()


@attrs.frozen
class Warehouse:
    """A value one step hands to the next."""

    table: str


@attrs.frozen
class Provides:
    """Provides a ``Warehouse`` (or whatever ``make`` returns)."""

    name: str = "provider"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"warehouse"})
    table: str = "sales"

    def install(self, build: SessionBuild) -> StepRecord:
        build.provide(Warehouse(self.table))
        return StepRecord(step=self.name, applied={"provided": self.table})


@attrs.frozen
class Needs:
    """Registers a table named by the ``Warehouse`` an earlier step provided."""

    name: str = "consumer"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset()

    def install(self, build: SessionBuild) -> StepRecord:
        warehouse = build.need(Warehouse)
        build.ctx.from_pydict({"x": [1]}, name=warehouse.table)
        return StepRecord(step=self.name, applied={"tables": [warehouse.table]})


@attrs.frozen
class MaybeNeeds:
    """Records whether a ``Warehouse`` was provided: its absence is normal here."""

    name: str = "optional"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset()

    def install(self, build: SessionBuild) -> StepRecord:
        warehouse = build.get(Warehouse)
        return StepRecord(step=self.name, applied={"found": warehouse is not None})


@attrs.frozen
class Raising:
    name: str = "raising"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset()

    def install(self, build: SessionBuild) -> StepRecord:
        build.on_failure(lambda: CALLS.append(("cleanup", self.name)))
        raise RuntimeError("disk on fire")


CALLS: list[tuple[str, Any]] = []


class Recorder:
    """A build monitor that writes down every call it gets, in order."""

    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    def build_started(self, build: SessionBuild, steps: tuple[InstallStep, ...]) -> None:
        self.calls.append(("build_started", [s.name for s in steps]))

    def step_started(self, step: InstallStep) -> None:
        self.calls.append(("step_started", step.name))

    def step_finished(self, step: InstallStep, record: StepRecord) -> None:
        self.calls.append(("step_finished", (step.name, record.status)))

    def step_failed(self, step: InstallStep, error: BaseException) -> None:
        self.calls.append(("step_failed", (step.name, type(error).__name__)))

    def build_finished(self, error: BaseException | None) -> None:
        self.calls.append(("build_finished", None if error is None else type(error).__name__))


# -- typed handoffs ---------------------------------------------------------------------------


def test_a_later_step_needs_by_type_what_an_earlier_step_provided() -> None:
    steps = (ContextStep(), Provides(table="sales"), Needs())
    session = SessionContextBuilder(PROFILE, steps).build()
    assert session.ctx.sql("SELECT x FROM sales").to_pydict() == {"x": [1]}
    assert session.provided.get(Warehouse) == Warehouse("sales")
    assert Warehouse in session.provided


def test_needing_a_type_no_earlier_step_provided_names_the_type_and_the_step() -> None:
    steps = (ContextStep(), Needs(), Provides())
    with pytest.raises(DfSessionError) as caught:
        SessionContextBuilder(PROFILE, steps).build()
    message = str(caught.value)
    assert f"step 'consumer' needs a {__name__}.Warehouse" in message
    assert "put the step that provides it before 'consumer'" in message
    assert caught.value.step == "consumer"


def test_providing_the_same_type_twice_names_both_steps() -> None:
    steps = (ContextStep(), Provides(name="first"), Provides(name="second"))
    with pytest.raises(DfSessionError) as caught:
        SessionContextBuilder(PROFILE, steps).build()
    assert f"{__name__}.Warehouse is provided twice" in str(caught.value)
    assert "by step 'first' and by step 'second'" in str(caught.value)
    assert caught.value.step == "second"


def test_get_gives_none_where_absence_is_normal() -> None:
    alone = SessionContextBuilder(PROFILE, (ContextStep(), MaybeNeeds())).build()
    assert alone.record("optional").applied == {"found": False}
    after = SessionContextBuilder(PROFILE, (ContextStep(), Provides(), MaybeNeeds())).build()
    assert after.record("optional").applied == {"found": True}
    assert alone.provided.get(Warehouse) is None


def test_what_the_session_was_provided_is_read_only() -> None:
    session = SessionContextBuilder(PROFILE, (ContextStep(), Provides())).build()
    provided = session.provided
    assert isinstance(provided, Provided)
    assert not hasattr(provided, "provide")
    with pytest.raises(TypeError):
        provided[Warehouse] = Warehouse("other")  # type: ignore[index]
    assert repr(provided) == "Provided(Warehouse)"


def test_the_object_stores_step_provides_its_stores_even_when_there_are_none() -> None:
    session = SessionContextBuilder(PROFILE).build()
    stores = session.provided.get(ObjectStores)
    assert isinstance(stores, ObjectStores)
    assert len(stores) == 0
    assert session.record("object_stores").status == "skipped"


def test_context_handles_a_step_replaced_are_retained_by_the_session() -> None:
    profile = SessionProfile.from_dict({"features": {"url_table": True}})
    session = SessionContextBuilder(profile, (ContextStep(), UrlTableStep())).build()
    (replaced,) = session.retained
    assert replaced is not session.ctx
    plain = SessionContextBuilder(PROFILE, (ContextStep(), UrlTableStep())).build()
    assert plain.retained == ()


# -- the runner and its monitors --------------------------------------------------------------


def test_monitors_are_called_around_the_build_and_each_step_in_order() -> None:
    calls: list[tuple[str, Any]] = []
    result = run_build((ContextStep(), Provides()), PROFILE, [Recorder(calls)])
    assert calls == [
        ("build_started", ["context", "provider"]),
        ("step_started", "context"),
        ("step_finished", ("context", "applied")),
        ("step_started", "provider"),
        ("step_finished", ("provider", "applied")),
        ("build_finished", None),
    ]
    assert [r.step for r in result.records] == ["context", "provider"]
    assert result.provided.get(Warehouse) == Warehouse("sales")
    assert result.ctx.sql("SELECT 1 AS one").to_pydict() == {"one": [1]}


def test_a_failing_step_is_reported_to_monitors_before_cleanup_runs() -> None:
    CALLS.clear()
    with pytest.raises(StepFailedError) as caught:
        run_build((ContextStep(), Raising()), PROFILE, [Recorder(CALLS)])
    assert CALLS[-3:] == [
        ("step_failed", ("raising", "StepFailedError")),
        ("build_finished", "StepFailedError"),
        ("cleanup", "raising"),
    ]
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert [r.step for r in caught.value.records] == ["context"]


def test_the_runner_validates_the_order_before_any_monitor_hears_of_it() -> None:
    calls: list[tuple[str, Any]] = []
    with pytest.raises(StepOrderError):
        run_build((Provides(), ContextStep()), PROFILE, [Recorder(calls)])
    assert calls == []


def test_objects_given_to_the_runner_are_readable_by_type_and_only_provided_if_handed_on() -> None:
    given = run_build((ContextStep(), Needs()), PROFILE, given=[Warehouse("given")])
    assert given.records[-1].applied == {"tables": ["given"]}
    assert given.provided.get(Warehouse) is None
    handed_on = run_build((ContextStep(), Provides()), PROFILE, given=[Warehouse("given")])
    assert handed_on.provided.get(Warehouse) == Warehouse("sales")


def test_a_failed_step_logs_the_kind_of_error_it_raised() -> None:
    with capture_logs() as events, pytest.raises(StepFailedError):
        SessionContextBuilder(PROFILE, (ContextStep(), Raising())).build()
    (failed,) = [e for e in events if e["event"] == "dfsession.step.failed"]
    assert (failed["step"], failed["error"], failed["log_level"]) == (
        "raising",
        "RuntimeError",
        "warning",
    )
    assert "disk on fire" not in repr(failed)


# -- ordering errors carry the culprit ---------------------------------------------------------


def test_order_error_carries_the_step_the_capability_and_its_later_providers() -> None:
    with pytest.raises(StepOrderError) as caught:
        SessionContextBuilder(PROFILE, (Needs(requires=frozenset({"warehouse"})), *_base())).plan()
    error = caught.value
    assert (error.step, error.capability, error.providers) == (
        "consumer",
        "warehouse",
        ("provider",),
    )
    assert (
        "provided by 'provider', which comes later; move step 'consumer' after 'provider'"
        in str(error)
    )


def test_order_error_for_a_capability_nobody_provides_has_no_providers() -> None:
    with pytest.raises(StepOrderError) as caught:
        SessionContextBuilder(PROFILE, (ContextStep(), Needs(requires=frozenset({"lake"})))).plan()
    assert (caught.value.step, caught.value.capability, caught.value.providers) == (
        "consumer",
        "lake",
        (),
    )


def test_order_error_for_a_duplicate_name_carries_both_steps() -> None:
    with pytest.raises(StepOrderError) as caught:
        SessionContextBuilder(PROFILE, (ContextStep(), Provides(name="context"))).plan()
    assert caught.value.step == "context"
    assert caught.value.duplicate == (
        "dfsession.steps.session.ContextStep",
        f"{__name__}.Provides",
    )


def test_an_object_that_is_not_a_step_is_named_with_what_it_lacks() -> None:
    with pytest.raises(StepOrderError, match="lacks name, requires, provides, install"):
        SessionContextBuilder(PROFILE, (ContextStep(), Warehouse("x"))).plan()  # type: ignore[arg-type]


def _base() -> tuple[InstallStep, ...]:
    return (ContextStep(), Provides())


# -- the cache holds whatever the root builds --------------------------------------------------


def test_the_cache_is_generic_over_what_it_holds() -> None:
    cache: SessionCache[str] = SessionCache()
    built: list[str] = []

    def build() -> str:
        built.append("value")
        return "value"

    assert cache.get_or_build(("fingerprint", ()), build) == "value"
    assert cache.get_or_build(("fingerprint", ()), build) == "value"
    assert built == ["value"]
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
