"""Functions of every kind, a bundle, a plain callable and objects of the wrong kind."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from datafusion import Accumulator, Table, udaf, udf, udtf, udwf
from datafusion.user_defined import WindowEvaluator


def _add_one(values: pa.Array) -> pa.Array:
    return pc.add(values, 1)


plus_one = udf(_add_one, [pa.int64()], pa.int64(), "immutable", name="plus_one")
volatile_plus_one = udf(_add_one, [pa.int64()], pa.int64(), "volatile", name="volatile_plus_one")
# Same signature as plus_one except the argument type: the snapshot must tell them apart.
plus_one_float = udf(_add_one, [pa.float64()], pa.float64(), "immutable", name="plus_one")


class SumOfSquares(Accumulator):
    """Sum of x * x over a group."""

    def __init__(self) -> None:
        self._total = 0.0

    def state(self) -> list[pa.Scalar]:
        return [pa.scalar(self._total)]

    def update(self, values: pa.Array) -> None:
        self._total += pc.sum(pc.multiply(values, values)).as_py() or 0.0

    def merge(self, states: list[pa.Array]) -> None:
        self._total += pc.sum(states[0]).as_py() or 0.0

    def evaluate(self) -> pa.Scalar:
        return pa.scalar(self._total)


sum_of_squares = udaf(
    SumOfSquares, [pa.float64()], pa.float64(), [pa.float64()], "immutable", name="sum_of_squares"
)


class RowIndex(WindowEvaluator):
    """0, 1, 2, ... within each partition."""

    def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
        return pa.array(range(num_rows), pa.int64())


row_index = udwf(RowIndex, [pa.int64()], pa.int64(), "immutable", name="row_index")


def _numbers(count: Any) -> Table:
    value = count.python_value()
    n = value.as_py() if hasattr(value, "as_py") else int(value)
    return Table(ds.dataset(pa.table({"n": pa.array(range(n), pa.int64())})))


numbers = udtf(_numbers, "numbers")


def _times_two(values: pa.Array) -> pa.Array:
    return pc.multiply(values, 2)


def _negate(values: pa.Array) -> pa.Array:
    return pc.negate(values)


#: A bundle: a list of function objects installed by one reference.
BUNDLE = [
    udf(_times_two, [pa.int64()], pa.int64(), "immutable", name="times_two"),
    udf(_negate, [pa.int64()], pa.int64(), "immutable", name="negate"),
    sum_of_squares,
]
#: A bundle holding a function named like one outside it.
CLASHING_BUNDLE = [udf(_negate, [pa.int64()], pa.int64(), "immutable", name="plus_one")]
EMPTY_BUNDLE: list[object] = []
BUNDLE_WITH_CALLABLE = [plus_one, _add_one]


def clean_name(values: pa.Array) -> pa.Array:
    """A plain callable: its signature is declared in the profile."""
    return pc.utf8_lower(pc.utf8_trim_whitespace(values))


def add_one(values: pa.Array) -> pa.Array:
    """A plain callable of int64."""
    return pc.add(values, 1)


def _abs_times_ten(values: pa.Array) -> pa.Array:
    return pc.multiply(pc.abs(values), 10)


#: Shadows the built-in ``abs`` (and answers ten times the built-in, to show which one ran).
my_abs = udf(_abs_times_ten, [pa.int64()], pa.int64(), "immutable", name="abs")
#: Shadows the built-in table function ``range``.
my_range = udtf(_numbers, "range")


@udf([pa.int64()], pa.int64(), "immutable", name="decorated")
def decorated(values: pa.Array) -> pa.Array:
    """The decorator form of ``udf``: a plain function, not a ScalarUDF."""
    return pc.add(values, 1)


NOT_A_FUNCTION = 42


# -- functions that misbehave at query time -------------------------------------------------


def as_text(values: pa.Array) -> pa.Array:
    """Returns text such as ``n=1``: wrong for a function declared to return int64."""
    return pc.binary_join_element_wise("n", pc.cast(values, pa.string()), "=")


def first_only(values: pa.Array) -> pa.Array:
    """Returns one value whatever the number of rows."""
    return values.slice(0, 1)


def explode(values: pa.Array) -> pa.Array:
    """Raises inside the function."""
    lookup: dict[str, int] = {}
    return pa.array([lookup["missing"] for _ in values])


def as_list(values: pa.Array) -> list[int]:
    """Returns a Python list of ints rather than an Arrow array."""
    return [value * 2 for value in values.to_pylist()]


def as_int32(values: pa.Array) -> pa.Array:
    """Returns int32 where int64 is declared: converts without loss."""
    return pc.cast(values, pa.int32())


def as_fraction(values: pa.Array) -> pa.Array:
    """Returns 0.5 more than its input: a float64 that no int64 can hold."""
    return pc.add(pc.cast(values, pa.float64()), 0.5)


#: A function object dfsession does not wrap, returning strings where it declares int64.
panicking = udf(as_text, [pa.int64()], pa.int64(), "volatile", name="panicking")


def one_value() -> pa.Array:
    """Takes no arguments, so cannot know the number of rows: returns one value."""
    return pa.array([7], pa.int64())
