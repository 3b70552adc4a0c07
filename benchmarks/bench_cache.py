"""Session cache hits, profile fingerprints, and the cost of tracing.

- A cache hit (``SessionContextBuilder(profile, cache=cache).build()``) against creating a bare
  ``SessionContext()``; target: the hit costs less than a quarter of the bare context.
- ``profile.fingerprint()`` with 10/100/1,000 datasets, first call and later calls, against a
  hand-rolled SHA-256 of the same raw profile data; target: first call under 20 ms at 1,000
  datasets, later calls a field read.
- Building with tracing disabled and enabled (global SDK provider, spans processed inline and
  discarded), against the same context built by hand; and a query with and without its span.

Run: python benchmarks/bench_cache.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from datafusion import SessionContext
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import RAW_PROFILE
from bench_build import plain as plain_context
from harness import compare, print_result, quiet_logging, write_results

from dfsession import SessionCache, SessionContextBuilder, SessionProfile
from dfsession.session import default_steps
from dfsession.tracing import SessionTracing, query_span


def bench_cache_hit() -> dict[str, Any]:
    """A hit, with the default steps made per call (the common case) and with a kept tuple."""
    profile = SessionProfile.from_dict(RAW_PROFILE)
    steps = default_steps()
    cache = SessionCache()
    first = SessionContextBuilder(profile, cache=cache).build()
    assert SessionContextBuilder(profile, steps, cache=cache).build() is first

    def hit_default_steps() -> object:
        return SessionContextBuilder(profile, cache=cache).build()

    def hit_kept_steps() -> object:
        return SessionContextBuilder(profile, steps, cache=cache).build()

    result = compare(
        "cache hit vs bare SessionContext()",
        {
            "bare SessionContext()": SessionContext,
            "hit, default_steps() per call": hit_default_steps,
            "hit, kept steps tuple": hit_kept_steps,
            "full build (no cache)": lambda: SessionContextBuilder(profile, steps).build(),
        },
        baseline="bare SessionContext()",
        repeat=41,
        inner=200,
    )
    result["target"] = "hit < 0.25 x bare SessionContext()"
    result["met"] = (
        max(
            result["ratio_to_baseline"]["hit, default_steps() per call"],
            result["ratio_to_baseline"]["hit, kept steps tuple"],
        )
        < 0.25
    )
    return result


def datasets_profile(n: int) -> dict[str, Any]:
    """Raw profile data with ``n`` parquet datasets, each with a declared schema."""
    return {
        **RAW_PROFILE,
        "datasets": {
            f"table_{i:04d}": {
                "format": "parquet",
                "location": f"s3://lake/table_{i:04d}/",
                "schema": {"id": "int64", "fare": "float64", "pickup": "timestamp[us, UTC]"},
                "partition_cols": {"year": "int32"},
            }
            for i in range(n)
        },
    }


def bench_fingerprint(n: int) -> list[dict[str, Any]]:
    """First (cold) and later (memoized) fingerprint calls against a hand-rolled hash."""
    raw = datasets_profile(n)
    template = SessionProfile.from_dict(raw)
    state: dict[str, SessionProfile] = {}

    def fresh() -> None:
        state["profile"] = attrs.evolve(template)  # a new profile: nothing memoized yet

    def first_call() -> str:
        return state["profile"].fingerprint()

    def hand_rolled() -> str:
        text = json.dumps(raw, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    cold = compare(
        f"fingerprint, first call, {n} datasets",
        {"hand-rolled sha256(json)": hand_rolled, "profile.fingerprint() first": first_call},
        baseline="hand-rolled sha256(json)",
        repeat=21 if n >= 1000 else 41,
        setup=fresh,
    )
    if n == 1000:
        cold["target"] = "first call < 20 ms"
        cold["met"] = cold["median_ms"]["profile.fingerprint() first"] < 20.0
    warm_profile = SessionProfile.from_dict(raw)
    warm_profile.fingerprint()
    warm = compare(
        f"fingerprint, later calls, {n} datasets",
        {
            "hand-rolled sha256(json)": hand_rolled,
            "profile.fingerprint() later": warm_profile.fingerprint,
            "attribute read": lambda: warm_profile.tracing,
        },
        baseline="hand-rolled sha256(json)",
        repeat=41,
        inner=2000,
    )
    return [cold, warm]


class _Discard(SpanExporter):
    """Accepts every span and keeps none: the cost measured is making and processing spans."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def bench_tracing() -> list[dict[str, Any]]:
    """Build and query cost with tracing disabled and enabled (global provider)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Discard()))
    trace.set_tracer_provider(provider)
    steps = default_steps()
    off = SessionProfile.from_dict(RAW_PROFILE)
    on = SessionProfile.from_dict({**RAW_PROFILE, "tracing": {"enabled": True}})
    build = compare(
        "build with tracing disabled / enabled",
        {
            "plain datafusion": plain_context,
            "dfsession, tracing off": lambda: SessionContextBuilder(off, steps).build(),
            "dfsession, tracing on": lambda: SessionContextBuilder(on, steps).build(),
        },
        baseline="plain datafusion",
        repeat=41,
        inner=20,
    )
    traced = SessionContextBuilder(on, steps).build()
    untraced = SessionContextBuilder(off, steps).build()
    assert untraced.record("tracing").status == "skipped"
    assert traced.record("tracing").status == "applied"
    sql = "SELECT 1 AS one"

    def run(session: Any) -> object:
        with query_span(session.provided.get(SessionTracing), sql):
            return session.ctx.sql(sql).to_arrow_table()

    query = compare(
        "SELECT 1 with and without its query span",
        {
            "plain ctx.sql().to_arrow_table()": lambda: untraced.ctx.sql(sql).to_arrow_table(),
            "query_span, tracing off": lambda: run(untraced),
            "query_span, tracing on": lambda: run(traced),
        },
        baseline="plain ctx.sql().to_arrow_table()",
        repeat=41,
        inner=50,
    )
    spans_only = compare(
        "span overhead alone (empty block)",
        {
            "no span": lambda: None,
            "query_span, tracing off": lambda: _empty(untraced),
            "query_span, tracing on": lambda: _empty(traced),
        },
        baseline="no span",
        repeat=41,
        inner=2000,
    )
    return [build, query, spans_only]


def _empty(session: Any) -> None:
    with query_span(session.provided.get(SessionTracing), "SELECT 1"):
        pass


def main() -> list[dict[str, Any]]:
    """Run and print every benchmark of this file; return the results."""
    quiet_logging()
    results = [bench_cache_hit()]
    for n in (10, 100, 1000):
        results += bench_fingerprint(n)
    results += bench_tracing()
    for result in results:
        print_result(result)
        if result.get("target"):
            print(f"  target: {result['target']}: {'met' if result['met'] else 'MISSED'}")
    return results


if __name__ == "__main__":
    write_results("cache", main())
