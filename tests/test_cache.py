"""SessionCache: single flight, failed builds, LRU bounds, keys, invalidation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import pytest

from dfsession import (
    BuiltSession,
    DfSessionError,
    SessionBuild,
    SessionCache,
    SessionContextBuilder,
    SessionProfile,
    StepFailedError,
    StepRecord,
    default_steps,
)
from dfsession.steps.session import ContextStep

THREADS = 16


@attrs.frozen(cache_hash=True)
class CountingStep:
    """A real step that counts its runs, can hold the build open, and can fail its first run."""

    runs: list[int] = attrs.field(eq=False, factory=list)
    gate: threading.Event = attrs.field(eq=False, factory=threading.Event)
    fail_first: bool = False
    name: str = "counting"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"counting"})

    def install(self, build: SessionBuild) -> StepRecord:
        self.runs.append(1)
        assert self.gate.wait(30), "the test never opened the gate"
        if self.fail_first and len(self.runs) == 1:
            raise RuntimeError("first run fails")
        build.ctx.from_pydict({"x": [1]}, name="counted")
        return StepRecord(step=self.name, applied={"tables": ["counted"]})


def open_gate() -> threading.Event:
    gate = threading.Event()
    gate.set()
    return gate


def profile(partitions: int = 2) -> SessionProfile:
    return SessionProfile.from_dict({"execution": {"target_partitions": partitions}})


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll until ``condition()`` holds (synchronisation, not a timing assertion)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.001)


def build_concurrently(
    builder: SessionContextBuilder, cache: SessionCache, step: CountingStep
) -> list[Any]:
    """Start THREADS builds at once; open the gate once every other thread waits on the flight."""
    barrier = threading.Barrier(THREADS)

    def one() -> Any:
        barrier.wait()
        try:
            return builder.build()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(one) for _ in range(THREADS)]
        wait_until(lambda: cache.stats.hits == THREADS - 1 and len(step.runs) == 1)
        step.gate.set()
        return [f.result() for f in futures]


def test_sixteen_threads_building_one_profile_run_the_steps_once_and_share_the_session() -> None:
    cache = SessionCache()
    step = CountingStep()
    builder = SessionContextBuilder(profile(), (*default_steps(), step), cache=cache)

    results = build_concurrently(builder, cache, step)

    assert len(step.runs) == 1
    assert all(isinstance(r, BuiltSession) for r in results)
    assert len({id(r) for r in results}) == 1
    assert results[0].ctx.sql("SELECT x FROM counted").to_pydict() == {"x": [1]}
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.size) == (THREADS - 1, 1, 1)
    assert builder.build() is results[0]
    assert cache.stats.hits == THREADS


def test_failed_build_gives_every_waiter_the_error_caches_nothing_and_the_next_call_retries() -> (
    None
):
    cache = SessionCache()
    step = CountingStep(fail_first=True)
    builder = SessionContextBuilder(profile(), (ContextStep(), step), cache=cache)

    results = build_concurrently(builder, cache, step)

    assert len(step.runs) == 1
    assert all(isinstance(r, StepFailedError) for r in results)
    assert {r.step for r in results} == {"counting"}
    assert all(isinstance(r.__cause__, RuntimeError) for r in results)
    assert len(cache) == 0
    session = builder.build()
    assert len(step.runs) == 2
    assert builder.build() is session
    assert cache.stats.misses == 2


def test_least_recently_used_session_is_evicted_beyond_maxsize() -> None:
    cache = SessionCache(maxsize=2)
    steps = (ContextStep(),)
    a, b, c = (SessionContextBuilder(profile(n), steps, cache=cache) for n in (1, 2, 3))
    first_a, first_b = a.build(), b.build()
    assert a.build() is first_a  # a is now the most recently used
    c.build()

    assert cache.stats.evictions == 1
    assert len(cache) == 2
    assert a.build() is first_a
    assert b.build() is not first_b  # b was evicted, so it is built again
    assert cache.stats.evictions == 2


def test_different_profiles_or_step_lists_never_share_a_session() -> None:
    cache = SessionCache()
    step = CountingStep(gate=open_gate())
    one = SessionContextBuilder(profile(1), (ContextStep(), step), cache=cache).build()
    two = SessionContextBuilder(profile(2), (ContextStep(), step), cache=cache).build()
    other_steps = SessionContextBuilder(profile(1), (ContextStep(),), cache=cache).build()
    assert one is not two
    assert other_steps is not one
    assert one.fingerprint != two.fingerprint
    assert len(step.runs) == 2
    assert cache.stats.misses == 3


def test_equal_profiles_and_steps_differing_only_in_eq_false_fields_share_the_session() -> None:
    cache = SessionCache()
    first_step, second_step = CountingStep(gate=open_gate()), CountingStep(gate=open_gate())
    assert first_step == second_step and hash(first_step) == hash(second_step)
    first = SessionContextBuilder(profile(), (ContextStep(), first_step), cache=cache).build()
    again = SessionContextBuilder(profile(), [ContextStep(), second_step], cache=cache).build()
    assert again is first
    assert (len(first_step.runs), len(second_step.runs)) == (1, 0)


def test_a_step_parameter_that_takes_part_in_eq_changes_the_key() -> None:
    cache = SessionCache()
    plain = SessionContextBuilder(
        profile(), (ContextStep(), CountingStep(gate=open_gate())), cache=cache
    )
    failing_param = CountingStep(gate=open_gate(), fail_first=False, name="counting2")
    other = SessionContextBuilder(profile(), (ContextStep(), failing_param), cache=cache)
    assert plain.build() is not other.build()


def test_invalidate_forgets_only_the_sessions_of_that_profile() -> None:
    cache = SessionCache()
    steps = (ContextStep(),)
    a, b = (
        SessionContextBuilder(profile(1), steps, cache=cache),
        SessionContextBuilder(profile(2), steps, cache=cache),
    )
    first_a, first_b = a.build(), b.build()
    SessionContextBuilder(
        profile(1), (ContextStep(), CountingStep(gate=open_gate())), cache=cache
    ).build()

    assert cache.invalidate(profile(1)) == 2
    assert b.build() is first_b
    assert a.build() is not first_a
    assert cache.invalidate(profile(9)) == 0


def test_clear_empties_the_cache_and_keeps_the_counters() -> None:
    cache = SessionCache()
    builder = SessionContextBuilder(profile(), (ContextStep(),), cache=cache)
    first = builder.build()
    builder.build()
    cache.clear()
    assert len(cache) == 0
    assert builder.build() is not first
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)


def test_a_build_in_flight_when_its_profile_is_invalidated_is_not_cached() -> None:
    cache = SessionCache()
    step = CountingStep()
    builder = SessionContextBuilder(profile(), (ContextStep(), step), cache=cache)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(builder.build)
        wait_until(lambda: len(step.runs) == 1)
        cache.invalidate(profile())
        step.gate.set()
        stale = future.result()
    assert len(cache) == 0
    assert builder.build() is not stale
    assert len(step.runs) == 2


def test_a_step_that_cannot_be_hashed_is_named_with_the_fix() -> None:
    @attrs.define
    class MutableStep:
        name: str = "mutable"
        requires: frozenset[str] = frozenset({"context"})
        provides: frozenset[str] = frozenset()

        def install(self, build: SessionBuild) -> StepRecord:
            return StepRecord(step=self.name)

    builder = SessionContextBuilder(profile(), (ContextStep(), MutableStep()), cache=SessionCache())
    with pytest.raises(DfSessionError, match=r"step 'mutable' .*not hashable.*attrs\.frozen"):
        builder.build()


def test_maxsize_must_be_a_positive_integer() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="maxsize must be a positive integer"):
            SessionCache(maxsize=bad)  # type: ignore[arg-type]


def test_repr_shows_the_counters() -> None:
    cache = SessionCache(maxsize=4)
    SessionContextBuilder(profile(), (ContextStep(),), cache=cache).build()
    assert repr(cache) == "SessionCache(maxsize=4, size=1, hits=0, misses=1, evictions=0)"
