"""Scans of an Iceberg table (PyIceberg SQL catalog, local warehouse): dfsession vs plain code.

The table has several append snapshots. dfsession reads it as its snapshot's data files (a
pyarrow dataset through PyIceberg's file IO: pyiceberg-core's provider is built for another
DataFusion major). Side by side, on the same aggregate query:

- plain DataFusion: ``register_parquet`` over the table's data folder (right here only because
  every file in it belongs to the current snapshot: no deletes, no compaction);
- PyIceberg's own scan, ``table.scan().to_arrow()``, then the query in DataFusion over it.

Also the build: dfsession (load the catalog, the table, plan the snapshot's files, register)
vs plain ``load_catalog`` + ``load_table`` + ``register_parquet``.

Run: python benchmarks/bench_iceberg.py [--quick]
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
import pyarrow.compute as pc
from datafusion import SessionContext
from pyiceberg.catalog import load_catalog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import compare, print_result, quiet_logging, write_results

from dfsession import SessionContextBuilder, SessionProfile

QUERY = "SELECT tier, count(*) AS n, sum(amount) AS total FROM orders GROUP BY tier ORDER BY tier"


def make_table(root: Path, rows: int, snapshots: int) -> dict[str, str]:
    """A catalog with ``sales.orders``: ``rows`` rows in ``snapshots`` appends."""
    properties = {
        "type": "sql",
        "uri": f"sqlite:///{root / 'catalog.db'}",
        "warehouse": (root / "warehouse").as_uri(),
    }
    (root / "warehouse").mkdir()
    catalog = load_catalog("lake", **properties)
    catalog.create_namespace("sales")
    per = rows // snapshots
    ids = pa.array(range(per), pa.int64())
    batch = pa.table(
        {
            "id": ids,
            "amount": pc.multiply(pc.cast(ids, pa.float64()), 0.5),
            "tier": pc.cast(pc.bit_wise_and(ids, 7), pa.string()),
        }
    )
    table = catalog.create_table("sales.orders", schema=batch.schema)
    for _ in range(snapshots):
        table.append(batch)
    return properties


def cases(properties: dict[str, str], root: Path) -> dict[str, Callable[[], Any]]:
    """The builds, and the queries on built sessions."""
    profile = SessionProfile.from_dict(
        {
            "catalogs": {"lake": {"kind": "iceberg", "properties": properties}},
            "datasets": {
                "orders": {"format": "iceberg", "catalog": "lake", "table": "sales.orders"}
            },
        }
    )
    data = str(root / "warehouse" / "sales" / "orders" / "data") + "/"

    def plain_build() -> SessionContext:
        ctx = SessionContext()
        load_catalog("lake", **properties).load_table("sales.orders")
        ctx.register_parquet("orders", data)
        return ctx

    def dfsession_build() -> Any:
        return SessionContextBuilder(profile).build()

    session = dfsession_build()
    plain = plain_build()
    table = load_catalog("lake", **properties).load_table("sales.orders")

    def pyiceberg_scan() -> Any:
        ctx = SessionContext()
        ctx.from_arrow(table.scan().to_arrow(), name="orders")
        return ctx.sql(QUERY).to_arrow_table()

    # Same rows; the string column's type differs (DataFusion reads Parquet as string_view).
    expected = plain.sql(QUERY).to_arrow_table().to_pylist()
    assert session.execute(QUERY).to_pylist() == expected, "dfsession and plain DataFusion differ"
    assert pyiceberg_scan().to_pylist() == expected, "PyIceberg and plain DataFusion differ"
    return {
        "plain build": plain_build,
        "dfsession build": dfsession_build,
        "plain DataFusion scan": lambda: plain.sql(QUERY).to_arrow_table(),
        "dfsession scan": lambda: session.execute(QUERY),
        "PyIceberg to_arrow + DataFusion": pyiceberg_scan,
    }


def main(quick: bool = False) -> list[dict[str, Any]]:
    """Run the comparisons and print them; return the results."""
    quiet_logging()
    repeat, rows = (3, 400_000) if quick else (9, 4_000_000)
    root = Path(tempfile.mkdtemp(prefix="dfsession-bench-iceberg-"))
    try:
        runs = cases(make_table(root, rows, 8), root)
        build = compare(
            "iceberg: build, one table of 8 snapshots",
            {name: runs[name] for name in ("plain build", "dfsession build")},
            baseline="plain build",
            repeat=repeat,
            warmup=1,
        )
        print_result(build)
        scans = ("plain DataFusion scan", "dfsession scan", "PyIceberg to_arrow + DataFusion")
        scan = compare(
            f"iceberg: aggregate over {rows:,} rows in 8 files",
            {name: runs[name] for name in scans},
            baseline="plain DataFusion scan",
            repeat=repeat,
            warmup=1,
        )
        print_result(scan)
        return [build, scan]
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, fewer rows")
    write_results("iceberg", main(quick=parser.parse_args().quick))
