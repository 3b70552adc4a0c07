"""An Iceberg catalog in a session: a table by name, time travel, and a whole namespace mounted.

Creates a PyIceberg SQL catalog (SQLite, local warehouse) in a temporary folder, writes two
snapshots of ``sales.orders`` and a ``sales.customers`` table, then builds a session that reads
``orders`` now and as of its first snapshot, and mounts every ``sales.*`` table under the
schema ``lake``. Needs the extra: pip install "dfsession[iceberg]".

Run: python examples/iceberg_catalog.py
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pyarrow as pa
import structlog
from pyiceberg.catalog.sql import SqlCatalog

from dfsession import SessionContextBuilder, SessionProfile


def make_catalog(folder: Path) -> tuple[dict[str, str], int]:
    """A catalog with two tables; its properties and the first snapshot of ``sales.orders``."""
    properties = {
        "type": "sql",
        "uri": f"sqlite:///{folder / 'catalog.db'}",
        "warehouse": (folder / "warehouse").as_uri(),
    }
    (folder / "warehouse").mkdir()
    catalog = SqlCatalog("lake", **properties)
    catalog.create_namespace("sales")
    orders = catalog.create_table(
        "sales.orders", schema=pa.schema([("id", pa.int64()), ("amount", pa.float64())])
    )
    orders.append(pa.table({"id": [1, 2, 3], "amount": [10.0, 20.0, 30.0]}))
    first = orders.current_snapshot()
    assert first is not None
    orders.append(pa.table({"id": [4], "amount": [40.0]}))
    customers = catalog.create_table("sales.customers", schema=pa.schema([("name", pa.string())]))
    customers.append(pa.table({"name": ["ada", "grace"]}))
    return properties, first.snapshot_id


def main() -> None:
    """Build a session over the catalog and query it."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        properties, first = make_catalog(Path(tmp))
        profile = SessionProfile.from_dict(
            {
                "catalogs": {
                    "lake": {"kind": "iceberg", "properties": properties, "include": ["sales.*"]}
                },
                "datasets": {
                    "orders": {"format": "iceberg", "catalog": "lake", "table": "sales.orders"},
                    "orders_v1": {
                        "format": "iceberg",
                        "catalog": "lake",
                        "table": "sales.orders",
                        "snapshot_id": first,
                    },
                },
            }
        )
        session = SessionContextBuilder(profile).build()
        for table in session.report()["datasets"]:
            name, snapshot, provider = table["name"], table["snapshot_id"], table["provider"]
            print(f"  {name:<15} snapshot {snapshot}  provider: {provider}")
        counts = session.execute(
            "SELECT (SELECT count(*) FROM orders) AS now, "
            "(SELECT count(*) FROM orders_v1) AS first_snapshot, "
            "(SELECT count(*) FROM lake.customers) AS customers"
        ).to_pylist()[0]
        print(
            f"orders now: {counts['now']}, at the first snapshot: {counts['first_snapshot']}; "
            f"customers (mounted as lake.customers): {counts['customers']}"
        )


if __name__ == "__main__":
    main()
