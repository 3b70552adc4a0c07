"""View ordering by the engine: build time with 10,000 and 20,000 views, against plain code.

dfsession plans each view in declaration order and defers a view only when the engine says
that a declared view it reads is not registered yet, so twice the views should take about
twice the time. Plain code registers the same views in an order its author worked out.

Run: python benchmarks/bench_views.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import SessionContextBuilder, SessionProfile


def views(count: int) -> dict[str, str]:
    """``count`` views over the table ``t``, none reading another."""
    return {f"v{i}": f"SELECT id FROM t WHERE id > {i}" for i in range(count)}


def case(path: Path, count: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The plain and dfsession builds of a session with one dataset and ``count`` views."""
    sql = views(count)
    profile = SessionProfile.from_dict(
        {
            "datasets": {"t": {"format": "parquet", "location": str(path)}},
            "views": {name: {"sql": text} for name, text in sql.items()},
        }
    )

    def plain() -> SessionContext:
        config = SessionConfig().with_default_catalog_and_schema("datafusion", "public")
        runtime = RuntimeEnvBuilder().with_unbounded_memory_pool().with_disk_manager_os()
        ctx = SessionContext(config.with_information_schema(False), runtime)
        ctx.register_parquet("t", str(path))
        for name, text in sql.items():
            ctx.register_view(name, ctx.sql(text))
        return ctx

    def dfsession_build() -> object:
        return SessionContextBuilder(profile).build()

    return plain, dfsession_build


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Run the comparison and the linearity check; return the results."""
    quiet_logging()
    repeat = 3 if quick else 5
    small, large = (2_000, 4_000) if quick else (10_000, 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.parquet"
        pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64())}), path)
        plain_small, ours_small = case(path, small)
        _plain_large, ours_large = case(path, large)
        versus = compare(
            f"views: {small:,} views",
            {"plain datafusion": plain_small, "dfsession": ours_small},
            baseline="plain datafusion",
            repeat=repeat,
            warmup=1,
        )
        print_result(versus)
        linear = compare(
            f"views: linearity, dfsession {small:,} vs {large:,} views",
            {f"{small:,} views": ours_small, f"{large:,} views": ours_large},
            baseline=f"{small:,} views",
            repeat=repeat,
            warmup=1,
        )
        print_result(linear)
        ratio = linear["ratio_to_baseline"][f"{large:,} views"]
        print(f"  2x views took {ratio:.2f}x the time (linear: about 2x)")
    return [versus, linear]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer views and repeats")
    write_results("views", main(quick=parser.parse_args().quick))
