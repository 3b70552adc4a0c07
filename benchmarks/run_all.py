"""Run every benchmark, write the results as JSON and draw the plots.

Run: python benchmarks/run_all.py [--quick]      (or: nox -s bench)
Results: benchmarks/results/all.json and benchmarks/results/*.png
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS_DIR, write_results

MODULES = (
    "bench_build",
    "bench_scaling",
    "bench_datasets",
    "bench_udfs",
    "bench_cache",
    "bench_execute",
    "bench_ibis",
    "bench_startup",
    "bench_remote_lake",
    "bench_delta_remote",
    "bench_iceberg",
    "bench_layers",
    "bench_views",
    "bench_discovery",
)


def run(quick: bool) -> list[dict[str, Any]]:
    """Import each benchmark module and run its ``main``; a failure is recorded, not fatal."""
    results: list[dict[str, Any]] = []
    for name in MODULES:
        print(f"\n=== {name}", flush=True)
        try:
            module = importlib.import_module(name)
            main = module.main
            kwargs = {"quick": quick} if "quick" in inspect.signature(main).parameters else {}
            for result in main(**kwargs) or []:
                result.setdefault("module", name)
                results.append(result)
        except Exception as exc:  # a broken benchmark must not hide the others' figures
            traceback.print_exc()
            results.append(
                {"module": name, "benchmark": name, "error": f"{type(exc).__name__}: {exc}"}
            )
    return results


def plot(results: list[dict[str, Any]]) -> list[Path]:
    """Scaling curves and a ratio chart as PNG files."""
    import matplotlib  # noqa: PLC0415 - optional (bench extra)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - optional (bench extra), after use()

    written: list[Path] = []
    for curve, label in (("datasets", "number of datasets"), ("udfs", "number of UDFs")):
        points = sorted((r for r in results if r.get("curve") == curve), key=lambda r: r["size"])
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        sizes = [p["size"] for p in points]
        for candidate in points[0]["median_ms"]:
            ax.plot(sizes, [p["median_ms"][candidate] for p in points], marker="o", label=candidate)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("build time, median ms")
        ax.set_title(f"Session build time against the {label}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        path = RESULTS_DIR / f"scaling_{curve}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    rows = [
        (r["benchmark"], ratio)
        for r in results
        if "ratio_to_baseline" in r
        for candidate, ratio in r["ratio_to_baseline"].items()
        if candidate == "dfsession"
    ]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
        ax.barh([name for name, _ in rows], [ratio for _, ratio in rows])
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("dfsession time / plain DataFusion time (median)")
        ax.invert_yaxis()
        path = RESULTS_DIR / "ratios.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def main() -> None:
    """Run, save, plot."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    results = run(args.quick)
    print(f"\nresults: {write_results('all', results)}")
    for path in plot(results):
        print(f"plot: {path}")


if __name__ == "__main__":
    main()
