"""Table providers that examples/providers.toml names: callables given a dataset's options.

Relative folders lead from this file's folder (where examples/make_data.py writes the data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from datafusion.catalog import Table
from deltalake import DeltaTable

HERE = Path(__file__).resolve().parent


def customers(options: dict[str, Any]) -> DeltaTable:
    """deltalake's FFI table provider of the Delta table in ``options["folder"]``."""
    return DeltaTable(HERE / options["folder"], version=options.get("version"))


def trips(options: dict[str, Any]) -> Table:
    """The Parquet files under ``options["folder"]`` as a hive-partitioned pyarrow dataset."""
    dataset = ds.dataset(HERE / options["folder"], format="parquet", partitioning="hive")
    return Table(dataset)
