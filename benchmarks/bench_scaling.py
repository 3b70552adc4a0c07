"""Scaling curves: build time against the number of datasets and of UDFs, dfsession vs plain.

Run: python benchmarks/bench_scaling.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext, udf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import SessionContextBuilder, SessionProfile

DATASET_SIZES = (10, 100, 1_000, 10_000)
UDF_SIZES = (1, 10, 100, 1_000)
FUNCTIONS_MODULE = "dfsession_bench_functions"


def _plain_context() -> SessionContext:
    config = SessionConfig().with_default_catalog_and_schema("datafusion", "public")
    config = config.with_information_schema(False)
    runtime = RuntimeEnvBuilder().with_unbounded_memory_pool().with_disk_manager_os()
    return SessionContext(config, runtime)


def _identity(x: pa.Array) -> pa.Array:
    return x


def _install_functions_module(count: int) -> None:
    """A real importable module holding ``count`` plain callables ``f0`` ... ``f<count-1>``."""
    module = types.ModuleType(FUNCTIONS_MODULE)
    for i in range(count):
        setattr(module, f"f{i}", _identity)
    sys.modules[FUNCTIONS_MODULE] = module


def dataset_case(path: Path, n: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The plain and dfsession builds of a session with ``n`` Parquet datasets."""
    profile = SessionProfile.from_dict(
        {"datasets": {f"t{i}": {"format": "parquet", "location": str(path)} for i in range(n)}}
    )

    def plain() -> SessionContext:
        ctx = _plain_context()
        for i in range(n):
            ctx.register_parquet(f"t{i}", str(path))
        return ctx

    def dfsession_build() -> object:
        return SessionContextBuilder(profile).build()

    return plain, dfsession_build


def plain_with_schemas(path: Path, n: int) -> Callable[[], Any]:
    """Plain code doing the record's extra work too: read back each registered table's schema."""

    def plain_schemas() -> SessionContext:
        ctx = _plain_context()
        for i in range(n):
            ctx.register_parquet(f"t{i}", str(path))
        tables = ctx.catalog("datafusion").schema("public")
        for i in range(n):
            tables.table(f"t{i}").schema  # noqa: B018 - the read is the work
        return ctx

    return plain_schemas


def udf_case(n: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The plain and dfsession builds of a session with ``n`` scalar UDFs."""
    module = sys.modules[FUNCTIONS_MODULE]
    profile = SessionProfile.from_dict(
        {
            "udfs": [
                {
                    "ref": f"{FUNCTIONS_MODULE}:f{i}",
                    "name": f"f{i}",
                    "args": ["int64"],
                    "returns": "int64",
                    "volatility": "immutable",
                }
                for i in range(n)
            ]
        }
    )

    def plain() -> SessionContext:
        ctx = _plain_context()
        for i in range(n):
            function = getattr(module, f"f{i}")
            ctx.register_udf(udf(function, [pa.int64()], pa.int64(), "immutable", name=f"f{i}"))
        return ctx

    def dfsession_build() -> object:
        return SessionContextBuilder(profile).build()

    return plain, dfsession_build


def _repeat_for(n: int) -> tuple[int, int]:
    if n <= 10:
        return 41, 10
    if n <= 100:
        return 21, 3
    if n <= 1_000:
        return 11, 1
    return 5, 1


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Run both curves; return the results."""
    quiet_logging()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.parquet"
        pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64())}), path)
        for n in DATASET_SIZES[:-1] if quick else DATASET_SIZES:
            plain, ours = dataset_case(path, n)
            repeat, inner = _repeat_for(n)
            result = compare(
                f"build with {n} datasets",
                {
                    "plain datafusion": plain,
                    "plain + schema reads": plain_with_schemas(path, n),
                    "dfsession": ours,
                },
                baseline="plain datafusion",
                repeat=repeat,
                inner=inner,
            )
            result["curve"], result["size"] = "datasets", n
            print_result(result)
            results.append(result)
    _install_functions_module(max(UDF_SIZES))
    for n in UDF_SIZES[:-1] if quick else UDF_SIZES:
        plain, ours = udf_case(n)
        repeat, inner = _repeat_for(n)
        result = compare(
            f"build with {n} UDFs",
            {"plain datafusion": plain, "dfsession": ours},
            baseline="plain datafusion",
            repeat=repeat,
            inner=inner,
        )
        result["curve"], result["size"] = "udfs", n
        print_result(result)
        results.append(result)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the largest size")
    write_results("scaling", main(quick=parser.parse_args().quick))
