"""A module of functions that ``functions.toml`` names by import reference.

``BUNDLE`` is a list of function objects, installed by one ``[[udfs]]`` entry;
``clean_name`` is a plain callable whose signature the profile declares.
"""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import Accumulator, udaf, udf

EARTH_RADIUS_KM = 6371.0


def _haversine(lat1: pa.Array, lon1: pa.Array, lat2: pa.Array, lon2: pa.Array) -> pa.Array:
    """Great-circle distance in kilometres between two points given in degrees."""
    to_rad = math.pi / 180.0
    dlat = pc.multiply(pc.subtract(lat2, lat1), to_rad / 2)
    dlon = pc.multiply(pc.subtract(lon2, lon1), to_rad / 2)
    a = pc.add(
        pc.power(pc.sin(dlat), 2),
        pc.multiply(
            pc.multiply(pc.cos(pc.multiply(lat1, to_rad)), pc.cos(pc.multiply(lat2, to_rad))),
            pc.power(pc.sin(dlon), 2),
        ),
    )
    return pc.multiply(pc.asin(pc.sqrt(a)), 2 * EARTH_RADIUS_KM)


class GeometricMean(Accumulator):
    """The geometric mean of positive values."""

    def __init__(self) -> None:
        self._log_sum = 0.0
        self._count = 0

    def state(self) -> list[pa.Scalar]:
        return [pa.scalar(self._log_sum), pa.scalar(self._count)]

    def update(self, values: pa.Array) -> None:
        self._log_sum += pc.sum(pc.ln(values)).as_py() or 0.0
        self._count += len(values) - values.null_count

    def merge(self, states: list[pa.Array]) -> None:
        self._log_sum += pc.sum(states[0]).as_py() or 0.0
        self._count += pc.sum(states[1]).as_py() or 0

    def evaluate(self) -> pa.Scalar:
        return pa.scalar(math.exp(self._log_sum / self._count) if self._count else None)


haversine_km = udf(_haversine, [pa.float64()] * 4, pa.float64(), "immutable", name="haversine_km")
geometric_mean = udaf(
    GeometricMean,
    [pa.float64()],
    pa.float64(),
    [pa.float64(), pa.int64()],
    "immutable",
    name="geometric_mean",
)

#: The bundle: every function of this module that is ready to install.
BUNDLE = [haversine_km, geometric_mean]


def clean_name(values: pa.Array) -> pa.Array:
    """Trim and title-case names; a plain callable, its signature is in the profile."""
    return pc.utf8_title(pc.utf8_trim_whitespace(values))
