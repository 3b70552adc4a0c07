"""Write the example data that examples/profile.toml reads, under examples/data/ (git-ignored).

Idempotent: what already exists is left alone. Run: python examples/make_data.py
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import write_deltalake

DATA = Path(__file__).resolve().parent / "data"
CITIES = ("Lima", "Oslo", "Pune", "Quito")
TIERS = ("basic", "plus", "gold")


def write_once(root: Path, write: Callable[[Path], None]) -> bool:
    """Run ``write`` into a scratch directory and move it to ``root``; False if ``root`` exists.

    A run that stops half-way, or another process doing the same, leaves no partial data.
    """
    if root.exists():
        return False
    scratch = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        write(scratch)
        scratch.rename(root)
    except OSError:
        if not root.exists():
            raise
        return False
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return True


def write_trips(root: Path) -> None:
    """Hive-partitioned Parquet trips, one directory per year."""
    rng = random.Random(7)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    for year in (2023, 2024):
        rows = range(500 * (year - 2023), 500 * (year - 2022))
        table = pa.table(
            {
                "trip_id": pa.array(list(rows), pa.int64()),
                "customer_id": pa.array([rng.randint(1, 20) for _ in rows], pa.int64()),
                "fare": pa.array([round(rng.uniform(3, 80), 2) for _ in rows], pa.float64()),
                "pickup": pa.array(
                    [start + timedelta(days=365 * (year - 2023), hours=i) for i in rows],
                    pa.timestamp("us", "UTC"),
                ),
                "city": [rng.choice(CITIES) for _ in rows],
            }
        )
        part = root / f"year={year}"
        part.mkdir(parents=True)
        pq.write_table(table, part / "part-0.parquet")


def write_customers(root: Path) -> None:
    """A Delta table of customers in two versions (version 1 adds five)."""
    ids = list(range(1, 21))
    tiers = [TIERS[i % 3] for i in ids]
    names = [f"customer {i}" for i in ids]
    first = pa.table(
        {"customer_id": pa.array(ids[:15], pa.int64()), "name": names[:15], "tier": tiers[:15]}
    )
    rest = pa.table(
        {"customer_id": pa.array(ids[15:], pa.int64()), "name": names[15:], "tier": tiers[15:]}
    )
    write_deltalake(root, first)
    write_deltalake(root, rest, mode="append")


def main() -> None:
    """Write whatever is missing and say what was done."""
    DATA.mkdir(parents=True, exist_ok=True)
    writers = {"trips": write_trips, "customers": write_customers}
    wrote = [name for name, write in writers.items() if write_once(DATA / name, write)]
    print(f"example data in {DATA}: " + (f"wrote {', '.join(wrote)}" if wrote else "up to date"))


if __name__ == "__main__":
    main()
