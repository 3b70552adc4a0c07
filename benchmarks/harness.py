"""Shared benchmark harness: warm-up, alternating repeated runs, medians, ratios, JSON results.

Every benchmark compares dfsession against plain DataFusion code doing the same work, in the
same process, alternating the two so that drift on the machine affects both alike.
"""

from __future__ import annotations

import gc
import json
import logging
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


def compare(
    name: str,
    candidates: dict[str, Callable[[], Any]],
    *,
    baseline: str,
    repeat: int = 15,
    warmup: int = 2,
    inner: int = 1,
    setup: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Time each candidate ``repeat`` times, alternating order each round; medians and ratios.

    ``inner`` calls are made per timing and the time divided by it, for very short work.
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
    for round_ in range(repeat):
        order = names if round_ % 2 == 0 else list(reversed(names))
        for label in order:
            samples[label].append(run(candidates[label]))
    medians = {label: statistics.median(values) for label, values in samples.items()}
    result = {
        "benchmark": name,
        "baseline": baseline,
        "repeat": repeat,
        "inner": inner,
        "median_ms": {label: round(value * 1000, 4) for label, value in medians.items()},
        "ratio_to_baseline": {
            label: round(value / medians[baseline], 4) for label, value in medians.items()
        },
    }
    return result


def print_result(result: dict[str, Any]) -> None:
    """One readable block per benchmark."""
    print(f"{result['benchmark']}  (baseline: {result['baseline']}, repeat={result['repeat']})")
    for label, ms in result["median_ms"].items():
        ratio = result["ratio_to_baseline"][label]
        print(f"  {label:<28} median {ms:>11.4f} ms   ratio {ratio:.3f}")


def write_results(stem: str, results: list[dict[str, Any]]) -> Path:
    """Write results as JSON under ``benchmarks/results/`` with the machine's description."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stem}.json"
    document = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
