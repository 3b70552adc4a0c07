"""Build time with many datasets (Parquet and Delta) and views: dfsession vs plain code.

Plain code does the same registrations by hand: ``register_parquet`` for each Parquet file,
``register_table(name, DeltaTable(path))`` for each Delta table and ``register_view`` for each
view, in an order the author worked out. dfsession also checks paths and declared schemas,
fingerprints every schema and finds the view order by planning.

Run: python benchmarks/bench_datasets.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext
from deltalake import DeltaTable, write_deltalake

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import SessionContextBuilder, SessionProfile

SCHEMA = {"id": "int64", "value": "float64", "name": "string"}


def write_files(root: Path, parquet: int, delta: int) -> tuple[list[Path], list[Path]]:
    """Tiny real files: ``parquet`` Parquet files and ``delta`` Delta tables under ``root``."""
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "value": [0.5, 1.5], "name": ["a", "b"]})
    parquet_paths, delta_paths = [], []
    for i in range(parquet):
        path = root / f"p{i}.parquet"
        pq.write_table(table, path)
        parquet_paths.append(path)
    for i in range(delta):
        path = root / f"d{i}"
        write_deltalake(path, table)
        delta_paths.append(path)
    return parquet_paths, delta_paths


def case(
    parquet_paths: list[Path], delta_paths: list[Path], views: int
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The plain and dfsession builds of one session over the given files and ``views`` views.

    Views are declared newest-first and each reads the one before it, so order matters.
    """
    datasets: dict[str, Any] = {}
    for i, path in enumerate(parquet_paths):
        entry: dict[str, Any] = {"format": "parquet", "location": str(path)}
        if i % 2 == 0:
            entry["schema"] = SCHEMA
        datasets[f"p{i}"] = entry
    for i, path in enumerate(delta_paths):
        datasets[f"d{i}"] = {"format": "delta", "location": str(path)}
    view_sql = {}
    for i in reversed(range(views)):
        source = f"p{i % len(parquet_paths)}"
        if i == 0:
            view_sql[f"v{i}"] = f"SELECT id, value FROM {source} WHERE value > 1"
        else:
            view_sql[f"v{i}"] = (
                f"SELECT a.id, a.value + b.value AS value FROM {source} a "
                f"JOIN v{i - 1} b ON a.id = b.id"
            )
    profile = SessionProfile.from_dict(
        {"datasets": datasets, "views": {name: {"sql": sql} for name, sql in view_sql.items()}}
    )
    ordered = [f"v{i}" for i in range(views)]  # the plain author knows the order

    def plain() -> SessionContext:
        config = SessionConfig().with_default_catalog_and_schema("datafusion", "public")
        config = config.with_information_schema(False)
        runtime = RuntimeEnvBuilder().with_unbounded_memory_pool().with_disk_manager_os()
        ctx = SessionContext(config, runtime)
        for i, path in enumerate(parquet_paths):
            ctx.register_parquet(f"p{i}", str(path))
        for i, path in enumerate(delta_paths):
            ctx.register_table(f"d{i}", DeltaTable(str(path)))
        for name in ordered:
            ctx.register_view(name, ctx.sql(view_sql[name]))
        return ctx

    def dfsession_build() -> object:
        return SessionContextBuilder(profile).build()

    return plain, dfsession_build


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Run both benchmarks and print them; return the results."""
    quiet_logging()
    repeat = 3 if quick else 9
    root = Path(tempfile.mkdtemp(prefix="dfsession-bench-datasets-"))
    try:
        parquet, delta = write_files(root, 500, 500)
        plain, dfs = case(parquet, delta, 100)
        versus = compare(
            "datasets: 1,000 datasets (500 parquet + 500 Delta) and 100 views",
            {"plain datafusion + deltalake": plain, "dfsession": dfs},
            baseline="plain datafusion + deltalake",
            repeat=repeat,
            warmup=1,
        )
        print_result(versus)
        _small_plain, small = case(parquet[:50], delta[:50], 10)
        linear = compare(
            "datasets: linearity, dfsession 100 vs 1,000 datasets (10 vs 100 views)",
            {"100 datasets": small, "1,000 datasets": dfs},
            baseline="100 datasets",
            repeat=repeat,
            warmup=1,
        )
        print_result(linear)
        ratio = linear["ratio_to_baseline"]["1,000 datasets"]
        print(f"  10x datasets took {ratio:.2f}x the time (target <= 11x)")
        return [versus, linear]
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    write_results("datasets", main(quick=parser.parse_args().quick))
