"""Functions a package advertises through the ``dfsession.udfs`` entry-point group."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import udf


def _cube(values: pa.Array) -> pa.Array:
    return pc.multiply(pc.multiply(values, values), values)


cube = udf(_cube, [pa.int64()], pa.int64(), "immutable", name="cube")
PLUGIN_BUNDLE = [udf(pc.negate, [pa.int64()], pa.int64(), "immutable", name="plugin_negate")]
#: Clashes with ``udf_fixtures.functions:plus_one``.
clash = udf(pc.negate, [pa.int64()], pa.int64(), "immutable", name="plus_one")


def plain(values: pa.Array) -> pa.Array:
    """A plain callable: entry points cannot declare its signature."""
    return values
