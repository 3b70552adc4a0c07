"""Discovery: a lake of folders becomes datasets without writing each one out.

Makes a small lake in a temporary folder (two schemas, a partitioned table, a scratch table to
leave out), asks the doctor whether the profile can work, builds it, queries a discovered
table and prints what the records say of each table.

Run: python examples/discovery.py
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from dfsession import SessionContextBuilder, doctor, load_profile

PROFILE = """
[discover.lake]
location = "lake/"
format = "parquet"
layout = "{schema}/{table}/"
exclude = ["*.tmp_*"]

[datasets.customers]              # declared: wins over the discovered public.customers
format = "parquet"
location = "pinned/customers.parquet"

[views.revenue_by_year]
sql = "SELECT year, sum(amount) AS revenue FROM sales.orders GROUP BY year"
"""


def make_lake(root: Path) -> None:
    """sales/orders (by year), sales/tmp_orders, hr/people, public/customers, a pinned file."""
    files = {
        "lake/sales/orders/year=2024/part-0.parquet": {"id": [1, 2], "amount": [10.0, 32.5]},
        "lake/sales/orders/year=2025/part-0.parquet": {"id": [3], "amount": [99.0]},
        "lake/sales/tmp_orders/part-0.parquet": {"id": [0], "amount": [0.0]},
        "lake/hr/people/part-0.parquet": {"name": ["ann", "bob"]},
        "lake/public/customers/part-0.parquet": {"name": ["stale"]},
        "pinned/customers.parquet": {"name": ["acme"]},
    }
    for path, columns in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), root / path)


def main() -> None:
    """Check, build and query a discovered lake; print its records."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_lake(root)
        (root / "lake.toml").write_text(PROFILE, encoding="utf-8")
        profile = load_profile(root / "lake.toml")  # relative locations lead from the file

        report = doctor(profile)  # reads no row: does everything the profile names exist?
        print(f"doctor: {'ok' if report.ok else 'FAILED'}")
        for check in report.checks:
            print(" ", check.line().replace(folder, "<tmp>"))

        with SessionContextBuilder(profile).build() as session:
            revenue = session.execute("SELECT * FROM revenue_by_year ORDER BY year").to_pylist()
            print(f"revenue by year: {revenue}")
            (found,) = session.record("discover").applied["discover"]
            print(f"discover.lake found {found['tables']}; declared wins: {found['shadowed']}")
            for dataset in session.record("datasets").applied["datasets"]:
                where = dataset.get("discovered_by", "declared")
                name = dataset["name"]  # schema.table outside the default schema
                partitions = dataset.get("partition_cols", {})
                print(f"  {name:<18} {where:<14} partitions={partitions}")


if __name__ == "__main__":
    main()
