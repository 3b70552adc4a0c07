"""Zero-row validation: plan every view and prepared statement against empty tables.

Builds a scratch session from the steps that touch no data (context, settings, extensions,
planner, udfs), registers each dataset with a declared schema as an empty table of that
schema (or one seeded row), and plans the views and prepared statements against it. No
object store is registered, no secret resolved, no real file read. This is how a profile is
checked in CI before it is deployed (``dfsession validate PROFILE``).

``check_data`` adds a check of the data itself, one dataset at a time: its files exist, their
schema (Parquet and Arrow footers, the Delta log) is read back and compared with the declared
one, and the first rows of CSV and JSON files are parsed with the declared types. That needs
the object stores, so their secrets are resolved (``dfsession validate --check-data``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Literal

import attrs
import pyarrow as pa
from datafusion import SessionContext

from dfsession.engine.schemas import declared_schema
from dfsession.engine.text import one_line, sql_identifier
from dfsession.engine.versions import DELTALAKE, PluginGuard
from dfsession.engine.views import (
    cycle_text,
    missing_table,
    prepare,
    register_views,
    unknown_table,
)
from dfsession.pipeline.step import InstallStep
from dfsession.profile.datasets import CsvDataset, DeltaDataset, JsonDataset
from dfsession.profile.model import SessionProfile
from dfsession.profile.sections import TracingConfig
from dfsession.session import SessionContextBuilder, default_steps

__all__ = [
    "DATA_STEPS",
    "DEFAULT_SAMPLE_ROWS",
    "SCRATCH_STEPS",
    "ItemKind",
    "ItemStatus",
    "ValidationItem",
    "ValidationReport",
    "check_dataset",
    "scratch_steps",
    "seed_batch",
    "validate_profile",
    "zero_scalar",
]

ItemKind = Literal["dataset", "view", "prepared", "data"]
ItemStatus = Literal["ok", "failed", "skipped"]

#: The steps a scratch session keeps: those that make the context, its functions and the Delta
#: version guard, no data (the object stores step runs with no stores: no secret is read).
SCRATCH_STEPS = frozenset(
    {"context", "settings", "extensions", "planner", "udfs", "object_stores", "delta"}
)
#: The steps a data check keeps: the context, the object stores and the dataset's own step.
DATA_STEPS = frozenset({"context", "settings", "object_stores", "datasets", "delta"})
#: Rows of each CSV or JSON dataset that a data check parses with the declared types.
DEFAULT_SAMPLE_ROWS = 1000


@attrs.frozen
class ValidationItem:
    """One dataset, view or prepared statement, and how it fared."""

    kind: ItemKind
    name: str
    status: ItemStatus
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        """The JSON-able form."""
        return {"kind": self.kind, "name": self.name, "status": self.status, "reason": self.reason}


@attrs.frozen
class ValidationReport:
    """What validation found: ``ok`` when no item failed (nor, when ``strict``, was skipped)."""

    items: tuple[ValidationItem, ...]
    fingerprint: str = ""
    seed_rows: bool = False
    check_data: bool = False
    strict: bool = False

    @property
    def ok(self) -> bool:
        """True when no item failed; with ``strict``, also none was skipped."""
        return not self.failures and not (self.strict and self.skipped)

    @property
    def failures(self) -> tuple[ValidationItem, ...]:
        """The items that failed."""
        return tuple(item for item in self.items if item.status == "failed")

    @property
    def skipped(self) -> tuple[ValidationItem, ...]:
        """The items that were not checked, each with the reason."""
        return tuple(item for item in self.items if item.status == "skipped")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form: ``ok``, counts per status and every item."""
        counts = {status: 0 for status in ("ok", "failed", "skipped")}
        for item in self.items:
            counts[item.status] += 1
        return {
            "ok": self.ok,
            "fingerprint": self.fingerprint,
            "seed_rows": self.seed_rows,
            "check_data": self.check_data,
            "strict": self.strict,
            "counts": counts,
            "items": [item.to_dict() for item in self.items],
        }


#: The zero of each family of Arrow types, as a Python value: the first test that holds wins.
_ZEROS: tuple[tuple[Callable[[pa.DataType], bool], Callable[[pa.DataType], Any]], ...] = (
    (pa.types.is_null, lambda t: None),
    (pa.types.is_boolean, lambda t: False),
    (pa.types.is_integer, lambda t: 0),
    (pa.types.is_floating, lambda t: 0.0),
    (pa.types.is_decimal, lambda t: Decimal(0)),
    (
        lambda t: (
            pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
        ),
        lambda t: "",
    ),
    (pa.types.is_fixed_size_binary, lambda t: b"\0" * t.byte_width),
    (
        lambda t: (
            pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
        ),
        lambda t: b"",
    ),
    (pa.types.is_date, lambda t: datetime.date(1970, 1, 1)),
    (
        pa.types.is_timestamp,
        lambda t: datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC if t.tz else None),
    ),
    (pa.types.is_time, lambda t: datetime.time(0)),
    (pa.types.is_duration, lambda t: datetime.timedelta(0)),
    (pa.types.is_interval, lambda t: pa.MonthDayNano([0, 0, 0])),
    (pa.types.is_fixed_size_list, lambda t: [_seed_value(t.value_field)] * t.list_size),
    (
        lambda t: pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t),
        lambda t: [],
    ),
    (pa.types.is_struct, lambda t: {field.name: _seed_value(field) for field in t}),
)


def zero_scalar(data_type: pa.DataType) -> pa.Scalar:
    """The type's zero: 0, false, empty text or list, the epoch, a struct of zeros."""
    if pa.types.is_dictionary(data_type):
        return pa.scalar(zero_scalar(data_type.value_type).as_py(), data_type)
    for holds, zero in _ZEROS:
        if holds(data_type):
            return pa.scalar(zero(data_type), data_type)
    raise ValueError(f"no zero value for Arrow type {data_type}")


def _seed_value(field: pa.Field) -> Any:
    """Null where the field is nullable, the type's zero otherwise, as a Python value."""
    return None if field.nullable else zero_scalar(field.type).as_py()


def seed_batch(schema: pa.Schema, *, rows: int = 1) -> pa.RecordBatch:
    """A batch of ``schema`` with ``rows`` minimal rows (0 for an empty table)."""
    arrays = [pa.array([_seed_value(field)] * rows, type=field.type) for field in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class _Validation:
    """One run of zero-row validation over a scratch context."""

    def __init__(
        self,
        profile: SessionProfile,
        ctx: SessionContext,
        seed_rows: bool,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.profile = profile
        self.ctx = ctx
        self.seed_rows = seed_rows
        self.progress = progress
        self.items: list[ValidationItem] = []
        #: Tables (lower-case names) that are not in the scratch session, and why.
        self.missing: dict[str, str] = {}

    def add(self, kind: ItemKind, name: str, status: ItemStatus, reason: str = "") -> None:
        self.items.append(ValidationItem(kind, name, status, reason))
        if self.progress is not None:
            self.progress(len(self.items))
        if status != "ok" and kind != "data":  # views are planned on schemas, not on the data
            word = "was skipped" if status == "skipped" else "failed"
            self.missing[name.lower()] = f"{kind} {name!r}, which {word}"

    def blocker(self, error: Exception) -> str | None:
        """Why an item that failed with ``error`` was not checked: a table it reads is missing."""
        table = missing_table(error, self.profile.catalog)
        why = None if table is None else self.missing.get(table.lower())
        if why is not None:
            return f"depends on {why}"
        unknown = unknown_table(error)
        if unknown is not None and self.profile.discover:
            return (
                f"reads {unknown!r}, which no dataset declares; [discover] may find it when the "
                "session is built (validation lists no folder)"
            )
        return None

    def failed(self, kind: ItemKind, name: str, error: Exception) -> None:
        """Record an item the engine refused: skipped when it reads a missing table, else failed."""
        why = self.blocker(error)
        if why is not None:
            self.add(kind, name, "skipped", why)
        else:
            self.add(kind, name, "failed", one_line(error))

    def datasets(self) -> None:
        for name, config in self.profile.datasets.items():
            schema = declared_schema(config)
            if schema is None:
                self.add(
                    "dataset",
                    name,
                    "skipped",
                    f"no declared schema; add datasets.{name}.schema to check what reads it",
                )
                continue
            try:
                batch = seed_batch(schema, rows=1 if self.seed_rows else 0)
                self.ctx.register_record_batches(name, [[batch]])
            except Exception as exc:
                self.add("dataset", name, "failed", one_line(exc))
            else:
                self.add("dataset", name, "ok")

    def views(self) -> None:
        order = register_views(
            self.ctx, self.profile.views, self.profile.catalog, run=self.seed_rows
        )
        for name in order.registered:
            self.add("view", name, "ok")
        for name, error in order.failed:  # a view after the failed views it reads
            self.failed("view", name, error)
        in_cycle = {}
        for cycle in order.cycles():
            in_cycle.update(dict.fromkeys(cycle, cycle_text(cycle)))
        for name in order.waiting:
            if name in in_cycle:
                self.add("view", name, "failed", in_cycle[name])
        for name, dependency in order.waiting.items():
            if name not in in_cycle:
                word = "failed" if dependency in in_cycle else "was skipped"
                self.add("view", name, "skipped", f"depends on view {dependency!r}, which {word}")

    def prepared(self) -> None:
        for name, config in self.profile.prepared.items():
            try:
                prepare(self.ctx, name, config)
                if self.seed_rows:
                    values = {str(i): zero_scalar(t) for i, t in enumerate(config.params, 1)}
                    self.ctx.sql(config.sql, param_values=values).collect()
            except Exception as exc:
                self.failed("prepared", name, exc)
            else:
                self.add("prepared", name, "ok")

    def data(self, steps: Iterable[InstallStep], sample_rows: int) -> None:
        for name in self.profile.datasets:
            try:
                checked = check_dataset(self.profile, name, steps, sample_rows)
            except Exception as exc:
                self.add("data", name, "failed", one_line(exc))
            else:
                self.add("data", name, "ok", checked)


def check_dataset(
    profile: SessionProfile, name: str, steps: Iterable[InstallStep], sample_rows: int
) -> str:
    """Build a session of the profile's stores and dataset ``name`` alone; say what was checked.

    The ``datasets`` or ``delta`` step finds the files, reads their schema back and compares it
    with the declared one; then up to ``sample_rows`` rows of CSV and JSON are parsed (with the
    declared types, when declared). Raises the build's or the engine's error.
    """
    config = profile.datasets[name]
    alone = attrs.evolve(
        profile,
        datasets={name: config},
        discover={},
        catalogs={key: attrs.evolve(spec, include=()) for key, spec in profile.catalogs.items()},
        views={},
        prepared={},
        tracing=TracingConfig(),
    )
    kept = tuple(step for step in steps if step.name in DATA_STEPS)
    with SessionContextBuilder(alone, steps=kept).build() as session:
        compared = "compared with the declared schema" if config.schema else "no schema declared"
        if not isinstance(config, CsvDataset | JsonDataset):  # self-describing: schema is the check
            return f"schema read back, {compared}"
        rows = session.execute(f"SELECT * FROM {sql_identifier(name)} LIMIT {sample_rows}").num_rows
    types = "the declared types" if config.schema else "inferred types"
    return f"{rows} rows parsed with {types}"


def scratch_steps(steps: Iterable[InstallStep]) -> tuple[InstallStep, ...]:
    """The steps of ``steps`` that a scratch session runs: those in ``SCRATCH_STEPS``."""
    return tuple(step for step in steps if step.name in SCRATCH_STEPS)


def validate_profile(
    profile: SessionProfile,
    *,
    seed_rows: bool = False,
    steps: Iterable[InstallStep] | None = None,
    progress: Callable[[int], None] | None = None,
    check_data: bool = False,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    strict: bool = False,
) -> ValidationReport:
    """Plan every view and prepared statement of ``profile`` against empty tables.

    Each dataset with a declared schema becomes an empty table of that schema (one minimal
    row with ``seed_rows``: null where nullable, the type's zero otherwise, and the views and
    prepared statements are then also run). Datasets without a schema are skipped, and so is
    what reads them. ``steps`` defaults to ``default_steps()``; only ``SCRATCH_STEPS`` run.
    ``progress``, when given, is called with the number of items checked so far.

    ``check_data`` also checks each dataset's data (``check_dataset``: files, schemas, the
    first ``sample_rows`` rows of CSV and JSON), which registers the object stores and so
    resolves their secrets. ``strict`` makes a skipped item fail the report.
    """
    if steps is None:
        steps = default_steps()
    steps = tuple(steps)  # read twice: by the scratch session and by the data checks
    # The scratch session traces nothing: it must not open (and leak) a tracer provider.
    scratch = attrs.evolve(profile, object_stores={}, tracing=TracingConfig())
    session = SessionContextBuilder(scratch, steps=scratch_steps(steps)).build()
    if any(isinstance(dataset, DeltaDataset) for dataset in profile.datasets.values()):
        # The guard a build runs: validation passes no profile that build refuses.
        (session.provided.get(PluginGuard) or PluginGuard()).check(DELTALAKE, required=True)
    run = _Validation(profile, session.ctx, seed_rows, progress)
    run.datasets()
    run.views()
    run.prepared()
    if check_data:
        run.data(steps, sample_rows)
    return ValidationReport(
        items=tuple(run.items),
        fingerprint=profile.fingerprint(),
        seed_rows=seed_rows,
        check_data=check_data,
        strict=strict,
    )
