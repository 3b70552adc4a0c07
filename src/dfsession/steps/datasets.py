"""The ``datasets`` step: the schema registry for parquet, csv, json and Arrow IPC tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
from datafusion import CsvReadOptions, SessionContext

from dfsession.engine import one_line
from dfsession.errors import StepFailedError
from dfsession.locations import (
    ObjectStores,
    StoreAccess,
    find_store,
    local_path,
    redact_location,
    require_path,
)
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.sections import DatasetConfig
from dfsession.record import StepRecord
from dfsession.schemas import check_declared_schema, schema_fingerprint, table_schema

__all__ = [
    "DatasetsStep",
]


def _register(
    ctx: SessionContext, name: str, config: DatasetConfig, schema: pa.Schema | None = None
) -> None:
    """One engine registration call for a file dataset (``schema``: CSV and JSON only)."""
    options: dict[str, Any] = dict(config.options)
    partitions = list(config.partition_cols.items()) or None
    location = config.location
    if config.format == "parquet":
        ctx.register_parquet(
            name,
            location,
            table_partition_cols=partitions,
            file_extension=options.get("file_extension", ".parquet"),
            skip_metadata=options.get("skip_metadata", True),
        )
    elif config.format == "csv":
        ctx.register_csv(
            name,
            location,
            options=CsvReadOptions(
                has_header=_has_header(config),
                delimiter=options.get("delimiter", ","),
                schema_infer_max_records=options.get("schema_infer_max_records", 1000),
                file_extension=options.get("file_extension", ".csv"),
                table_partition_cols=partitions,
                schema=schema,
            ),
        )
    elif config.format == "json":
        ctx.register_json(
            name,
            location,
            schema=schema,
            schema_infer_max_records=options.get("schema_infer_max_records", 1000),
            file_extension=options.get("file_extension", ".json"),
            table_partition_cols=partitions,
        )
    else:
        ctx.register_arrow(
            name,
            location,
            file_extension=options.get("file_extension", ".arrow"),
            table_partition_cols=partitions,
        )


def _declared_text_schema(config: DatasetConfig, inferred: pa.Schema) -> pa.Schema | None:
    """For CSV and JSON, the inferred file schema with the declared types put in, if it differs.

    Text formats carry no types: a declared ``string`` column of ``01234`` must not be read as
    the integer the engine would infer. Self-describing formats keep their own types, so a
    difference there is a real mismatch for the schema check to report. A headerless CSV has
    no names either: the declared columns name the file's columns by position.
    """
    if config.format not in ("csv", "json") or config.schema is None:
        return None
    current = [f for f in inferred if f.name not in config.partition_cols]
    declared = config.schema
    if not _has_header(config):
        named = [n for n in declared if n not in config.partition_cols][: len(current)]
        current_names = named + [f.name for f in current[len(named) :]]
    else:
        current_names = [f.name for f in current]
    wanted = pa.schema(
        pa.field(name, declared.get(name, f.type), nullable=True)
        for name, f in zip(current_names, current, strict=True)
    )
    return None if wanted.equals(pa.schema(current)) else wanted


def _has_header(config: DatasetConfig) -> bool:
    """Whether a CSV dataset's files start with a header line (the ``has_header`` option)."""
    return bool(config.options.get("has_header", True))


def _as_folder(config: DatasetConfig, path: str | None) -> DatasetConfig:
    """A store URL naming a local folder gets its trailing ``/``, as the engine needs."""
    location = config.location
    if path is None or location.endswith("/") or "://" not in location:
        return config
    if location.startswith("file://") or not Path(path).is_dir():
        return config
    return attrs.evolve(config, location=location + "/")


def _with_file_extension(config: DatasetConfig, path: str | None) -> DatasetConfig:
    """A single file keeps its own extension (``x.ndjson``): the engine filters by extension."""
    location = config.location
    tail = location.rsplit("/", 1)[-1]
    if "file_extension" in config.options or location.endswith("/") or "." not in tail:
        return config
    suffix = "." + tail.rsplit(".", 1)[1]
    if suffix == _DEFAULT_EXTENSIONS[config.format]:
        return config
    if path is not None and not Path(path).is_file():
        return config
    return attrs.evolve(config, options={**config.options, "file_extension": suffix})


def _failed(
    name: str, config: DatasetConfig, exc: Exception, stores: Mapping[str, StoreAccess]
) -> StepFailedError:
    """The registration error, naming the dataset, with credentials kept out of the message."""
    where = redact_location(config.location)
    reason = one_line(exc).replace(config.location, where)
    store = find_store(config.location, stores)
    if store is not None:
        reason = store.scrub(reason)
    elif "://" in config.location and not config.location.startswith("file://"):
        root = "/".join(where.split("/", 3)[:3])
        return StepFailedError(
            f"dataset {name!r} ({config.format} at {where!r}): no [object_stores] entry covers "
            f"{root!r}; add one, such as [object_stores.x] url = {root!r} with its kind"
        )
    return StepFailedError(
        f"dataset {name!r} ({config.format} at {where!r}): the engine could not register it: "
        f"{reason}"
    )


@attrs.frozen(cache_hash=True)
class DatasetsStep:
    """Register every non-Delta dataset, check it against its declared schema, record it."""

    name: str = "datasets"
    requires: frozenset[str] = frozenset({"context", "object_stores"})
    provides: frozenset[str] = frozenset({"datasets"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Register, then check and fingerprint each dataset; Delta ones are the ``delta`` step's.

        Registering every table first and reading schemas after is measurably faster than
        interleaving the two (see benchmarks/bench_datasets.py).
        """
        profile = build.profile
        datasets = [(n, c) for n, c in profile.datasets.items() if c.format != "delta"]
        if not datasets:
            return StepRecord.skipped(self.name, "no non-Delta [datasets] in the profile")
        stores = build.need(ObjectStores)
        ctx = build.ctx
        registered: list[tuple[str, DatasetConfig]] = []
        for name, declared in datasets:
            path = local_path(declared.location, stores)
            config = _with_file_extension(_as_folder(declared, path), path)
            try:
                _register(ctx, name, config)
            except Exception as exc:
                # The engine refuses a missing path too; look at the disk only then, to say so.
                require_path(name, path)
                raise _failed(name, config, exc, stores) from None
            registered.append((name, config))
        catalog = profile.catalog
        tables = ctx.catalog(catalog.default_catalog).schema(catalog.default_schema)
        records: list[dict[str, Any]] = []
        for name, config in registered:
            try:
                actual = table_schema(ctx, tables, name)
                reread = _declared_text_schema(config, actual)
                if reread is not None:
                    ctx.deregister_table(name)
                    _register(ctx, name, config, reread)
                    actual = table_schema(ctx, tables, name)
            except Exception as exc:
                raise _failed(name, config, exc, stores) from None
            check_declared_schema(name, config, actual)
            records.append(
                {
                    "name": name,
                    "format": config.format,
                    "location": redact_location(config.location),
                    "schema_mode": config.effective_schema_mode,
                    "schema_fingerprint": schema_fingerprint(actual),
                }
            )
        return StepRecord(step=self.name, applied={"datasets": records})


_DEFAULT_EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "json": ".json", "arrow": ".arrow"}
