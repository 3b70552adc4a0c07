"""Opening a lake of many tables: ``[discover]`` against the same tables declared, and plain code.

The lake is a local folder of ``TABLES`` Parquet tables (``t{i}/``), every other one partitioned
by year (``t{i}/year=2024/``, ``t{i}/year=2025/``), one small file per folder.

Plain code: a ``SessionContext`` and the loop a user would write, one ``register_parquet`` per
folder (partition columns given where the author knows there are some). dfsession declared: a
profile with one ``[datasets]`` entry per table, partition columns declared. dfsession
discovered: one ``[discover.lake]`` entry; the build lists the folder, finds the tables and
their partition columns, and registers them like declared ones.

Run: python benchmarks/bench_discovery.py [--quick]
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
from datafusion import SessionContext

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import SessionContextBuilder, SessionProfile

YEAR = [("year", pa.int64())]


def write_lake(root: Path, tables: int) -> None:
    """``tables`` tables under ``root``; the even ones partitioned by year."""
    data = pa.table({"id": pa.array([1, 2], pa.int64()), "value": [0.5, 1.5]})
    for i in range(tables):
        folders = [f"t{i}/year=2024", f"t{i}/year=2025"] if i % 2 == 0 else [f"t{i}"]
        for folder in folders:
            (root / folder).mkdir(parents=True)
            pq.write_table(data, root / folder / "part-0.parquet")


def candidates(root: Path, tables: int) -> dict[str, Callable[[], Any]]:
    """Plain registration, a declared profile and a discovering profile over one lake."""
    declared = SessionProfile.from_dict(
        {
            "datasets": {
                f"t{i}": {
                    "format": "parquet",
                    "location": f"{root}/t{i}/",
                    **({"partition_cols": {"year": "int64"}} if i % 2 == 0 else {}),
                }
                for i in range(tables)
            }
        }
    )
    discovered = SessionProfile.from_dict(
        {"discover": {"lake": {"location": f"{root}/", "format": "parquet"}}}
    )

    def plain() -> SessionContext:
        ctx = SessionContext()
        for i in range(tables):
            partitions = YEAR if i % 2 == 0 else None
            ctx.register_parquet(f"t{i}", f"{root}/t{i}/", table_partition_cols=partitions)
        return ctx

    return {
        "plain datafusion": plain,
        "dfsession [datasets]": lambda: SessionContextBuilder(declared).build(),
        "dfsession [discover]": lambda: SessionContextBuilder(discovered).build(),
    }


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Time the three over a lake of 300 tables (50 with ``quick``); print and return."""
    quiet_logging()
    tables = 50 if quick else 300
    root = Path(tempfile.mkdtemp(prefix="dfsession-bench-discovery-"))
    try:
        write_lake(root, tables)
        result = compare(
            f"discovery: a local lake of {tables} Parquet tables (half partitioned by year)",
            candidates(root, tables),
            baseline="plain datafusion",
            repeat=3 if quick else 9,
            warmup=1,
        )
        print_result(result)
        return [result]
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tables and repeats")
    write_results("discovery", main(quick=parser.parse_args().quick))
