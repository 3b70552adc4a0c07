"""Shared benchmark harness: warm-up, alternating repeated runs, medians, ratios, JSON results.

Every benchmark compares dfsession against plain DataFusion code doing the same work, in the
same process, alternating the two so that drift on the machine affects both alike.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def quiet_logging() -> None:
    """Drop debug events, as a production configuration would; benchmarks time the work."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def time_once(fn: Callable[[], Any], setup: Callable[[], Any] | None = None) -> float:
    """Seconds taken by one call of ``fn`` (``setup`` runs first, untimed)."""
    if setup is not None:
        setup()
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternate(
    candidates: dict[str, Callable[[], Any]],
    *,
    repeat: int,
    warmup: int = 2,
    inner: int = 1,
    setup: Callable[[], Any] | None = None,
    after: Callable[[str], Any] | None = None,
    budget_s: float | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one sample per round, alternating order each round.

    ``setup`` runs before each timing and ``after(label)`` after each timed one, both untimed.
    With ``budget_s``, rounds stop early (after at least one) when another round of the
    length of the last one would pass the budget.
    """

    def run(fn: Callable[[], Any]) -> float:
        if setup is not None:
            setup()
        gc.collect()
        started = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - started) / inner

    names = list(candidates)
    for _ in range(warmup):
        for label in names:
            run(candidates[label])
    samples: dict[str, list[float]] = {label: [] for label in names}
    began = time.perf_counter()
    for round_ in range(repeat):
        round_began = time.perf_counter()
        order = names if round_ % 2 == 0 else list(reversed(names))
        for label in order:
            samples[label].append(run(candidates[label]))
            if after is not None:
                after(label)
        now = time.perf_counter()
        if budget_s is not None and (now - began) + (now - round_began) > budget_s:
            break
    return samples


def summarize(
    name: str, samples: dict[str, list[float]], *, baseline: str, inner: int = 1
) -> dict[str, Any]:
    """Medians, ratios of medians to the baseline, and the range of the per-round ratios."""
    medians = {label: statistics.median(values) for label, values in samples.items()}
    rounds = len(samples[baseline])
    spread = {
        label: [
            round(min(v / b for v, b in zip(values, samples[baseline], strict=True)), 4),
            round(max(v / b for v, b in zip(values, samples[baseline], strict=True)), 4),
        ]
        for label, values in samples.items()
    }
    return {
        "benchmark": name,
        "baseline": baseline,
        "repeat": rounds,
        "inner": inner,
        "median_ms": {label: round(value * 1000, 4) for label, value in medians.items()},
        "ratio_to_baseline": {
            label: round(value / medians[baseline], 4) for label, value in medians.items()
        },
        "ratio_range": spread,
    }


def compare(
    name: str,
    candidates: dict[str, Callable[[], Any]],
    *,
    baseline: str,
    repeat: int = 15,
    warmup: int = 2,
    inner: int = 1,
    setup: Callable[[], Any] | None = None,
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Time each candidate ``repeat`` times, alternating order each round; medians and ratios.

    ``inner`` calls are made per timing and the time divided by it, for very short work.
    """
    samples = alternate(
        candidates,
        repeat=repeat,
        warmup=warmup,
        inner=inner,
        setup=setup,
        budget_s=budget_s,
    )
    return summarize(name, samples, baseline=baseline, inner=inner)


def print_result(result: dict[str, Any]) -> None:
    """One readable block per benchmark."""
    print(f"{result['benchmark']}  (baseline: {result['baseline']}, repeat={result['repeat']})")
    width = max(28, *map(len, result["median_ms"]))
    for label, ms in result["median_ms"].items():
        ratio = result["ratio_to_baseline"][label]
        low, high = result.get("ratio_range", {}).get(label, (ratio, ratio))
        print(
            f"  {label:<{width}} median {ms:>11.4f} ms   ratio {ratio:.3f}"
            f"  (per round {low:.3f}-{high:.3f})"
        )


def write_results(stem: str, results: list[dict[str, Any]]) -> Path:
    """Write results as JSON under ``benchmarks/results/`` with the machine's description."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stem}.json"
    document = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
        "results": results,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
