"""Table providers a profile names by reference, for the provider dataset tests."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from datafusion.catalog import Table
from deltalake import DeltaTable

#: A table provider object: the engine's own table over an in-memory pyarrow dataset.
FIXED = Table(ds.dataset(pa.table({"id": pa.array([1, 2, 3], pa.int64())})))
NOT_A_PROVIDER = 42


def delta(options: dict[str, Any]) -> DeltaTable:
    """deltalake's FFI table provider for the Delta table at ``options["location"]``."""
    return DeltaTable(options["location"], version=options.get("version"))


def parquet_folder(options: dict[str, Any]) -> Table:
    """A pyarrow dataset of the Parquet files under ``options["path"]``, hive-partitioned."""
    return Table(ds.dataset(options["path"], format="parquet", partitioning="hive"))


def broken(options: dict[str, Any]) -> Table:
    """Fails as a provider whose source is missing would."""
    raise FileNotFoundError(f"no source at {options.get('path')!r}")


def nothing(options: dict[str, Any]) -> None:
    """Returns no provider."""
