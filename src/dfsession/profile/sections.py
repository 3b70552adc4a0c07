"""The sections of a profile: one small frozen class each, validated on construction.

Object stores and datasets have their own modules (``stores``, ``datasets``): a class per kind.
"""

from __future__ import annotations

from typing import Any

import attrs
import pyarrow as pa

from dfsession.profile.arrow_types import to_arrow_type
from dfsession.profile.values import (
    ByteSize,
    FieldError,
    FrozenMap,
    ImportRef,
    doc,
    frozen_tuple,
    identifier,
    import_refs,
    one_of,
    optional_field,
    parsed_field,
    positive,
    raise_all,
    settings_map,
    spill,
)

__all__ = [
    "DEFAULT_REGISTRATION_CONCURRENCY",
    "EXPORTERS",
    "MEMORY_POOLS",
    "VOLATILITIES",
    "CatalogConfig",
    "ExecutionConfig",
    "FeaturesConfig",
    "PlannerConfig",
    "PreparedConfig",
    "SqlPolicy",
    "TracingConfig",
    "UdfConfig",
    "ViewConfig",
]

MEMORY_POOLS = ("greedy", "fair", "unbounded")
VOLATILITIES = ("immutable", "stable", "volatile")
EXPORTERS = ("global", "console", "otlp")
#: Datasets registered at once when the profile does not say: registration in an object store
#: waits on round trips, which overlap (see benchmarks/bench_remote_lake.py).
DEFAULT_REGISTRATION_CONCURRENCY = 32


def _type_tuple(value: Any) -> tuple[pa.DataType, ...]:
    return tuple(to_arrow_type(v) for v in frozen_tuple(value))


def _check_folders(folders: tuple[Any, ...]) -> None:
    for index, folder in enumerate(folders):
        if not isinstance(folder, str) or not folder:
            raise FieldError(f"import_paths.{index}", f"expected a folder (got {folder!r})")


@attrs.frozen
class ExecutionConfig:
    """Execution limits. Left-out keys follow DataFusion's defaults.

    ``memory_limit`` without ``memory_pool`` uses a greedy pool, as DataFusion itself does.
    """

    target_partitions: int | None = attrs.field(
        default=None, validator=positive, metadata=doc("how many partitions queries run in")
    )
    batch_size: int | None = attrs.field(
        default=None, validator=positive, metadata=doc("rows per record batch")
    )
    memory_pool: str | None = attrs.field(
        default=None,
        validator=one_of(*MEMORY_POOLS),
        metadata=doc("the memory pool: greedy, fair or unbounded"),
    )
    memory_limit: ByteSize | None = optional_field(
        ByteSize.parse, "the pool's size, such as '2GiB'"
    )
    spill: str | tuple[str, ...] | None = optional_field(
        spill, "where sorts and joins spill: 'disabled', 'os' or a list of directories"
    )
    registration_concurrency: int | None = attrs.field(
        default=None,
        validator=positive,
        metadata=doc(
            "how many datasets register at once (1: one after another; default "
            f"{DEFAULT_REGISTRATION_CONCURRENCY})"
        ),
    )

    def __attrs_post_init__(self) -> None:
        if self.memory_pool in ("greedy", "fair") and self.memory_limit is None:
            raise FieldError(
                "memory_limit", f"required when memory_pool is {self.memory_pool!r} (say '2GiB')"
            )
        if self.memory_pool == "unbounded" and self.memory_limit is not None:
            raise FieldError(
                "memory_limit",
                "has no effect with memory_pool 'unbounded'; remove it or choose greedy or fair",
            )

    @property
    def effective_registration_concurrency(self) -> int:
        """How many datasets register at once: the declared number, else the default."""
        if self.registration_concurrency is None:
            return DEFAULT_REGISTRATION_CONCURRENCY
        return self.registration_concurrency

    @property
    def effective_memory_pool(self) -> str:
        """The pool in use: the declared one, else greedy with a limit, else unbounded."""
        if self.memory_pool is not None:
            return self.memory_pool
        return "greedy" if self.memory_limit is not None else "unbounded"


@attrs.frozen
class CatalogConfig:
    """Default catalog and schema names, and whether ``information_schema`` exists."""

    default_catalog: str = attrs.field(
        default="datafusion", validator=identifier, metadata=doc("the default catalog's name")
    )
    default_schema: str = attrs.field(
        default="public", validator=identifier, metadata=doc("the default schema's name")
    )
    information_schema: bool = attrs.field(
        default=False, metadata=doc("whether the information_schema tables exist")
    )


@attrs.frozen
class SqlPolicy:
    """Which kinds of SQL statement queries may run; everything is allowed unless tightened."""

    allow_ddl: bool = attrs.field(
        default=True, metadata=doc("allow CREATE and DROP statements in queries")
    )
    allow_dml: bool = attrs.field(default=True, metadata=doc("allow INSERT, COPY and writes"))
    allow_statements: bool = attrs.field(
        default=True, metadata=doc("allow SET, PREPARE, EXECUTE and other statements")
    )


@attrs.frozen
class FeaturesConfig:
    """Opt-in engine features, and where ``ref``s of functions and planner objects are found."""

    url_table: bool = attrs.field(
        default=False, metadata=doc("let queries read files named by path or URL")
    )
    udf_entry_points: bool = attrs.field(
        default=False,
        metadata=doc("also install functions that packages advertise under 'dfsession.udfs'"),
    )
    import_paths: tuple[str, ...] = attrs.field(
        default=(),
        converter=frozen_tuple,
        validator=lambda _inst, _attribute, value: _check_folders(value),
        metadata=doc(
            "folders (relative to the profile file) that refs of functions and planner objects "
            "are imported from, before sys.path; sys.path is left as it was"
        ),
    )


@attrs.frozen
class ViewConfig:
    """A view: a name for a SQL query."""

    sql: str = attrs.field(validator=identifier, metadata=doc("the view's query"))


@attrs.frozen
class PreparedConfig:
    """A prepared statement with ``$1``-style parameters of declared Arrow types."""

    sql: str = attrs.field(validator=identifier, metadata=doc("the statement, with $1, $2..."))
    params: tuple[pa.DataType, ...] = attrs.field(
        default=(), converter=_type_tuple, metadata=doc("the Arrow type of each parameter")
    )


@attrs.frozen
class UdfConfig:
    """A function by import reference; a plain callable also declares its signature here."""

    ref: ImportRef = parsed_field(
        ImportRef.parse, "'package.module:attribute' of a function, a list of them or a callable"
    )
    name: str | None = attrs.field(default=None, metadata=doc("the SQL name of a plain callable"))
    args: tuple[pa.DataType, ...] | None = optional_field(
        _type_tuple, "a plain callable's argument types"
    )
    returns: pa.DataType | None = optional_field(to_arrow_type, "a plain callable's return type")
    volatility: str = attrs.field(
        default="volatile",
        validator=one_of(*VOLATILITIES),
        metadata=doc("immutable, stable or volatile"),
    )
    override: bool = attrs.field(
        default=False, metadata=doc("shadow a built-in function of the same name")
    )

    def __attrs_post_init__(self) -> None:
        if (self.args is None) != (self.returns is None):
            missing = "returns" if self.returns is None else "args"
            raise FieldError(missing, "a plain callable needs both args and returns")


@attrs.frozen
class PlannerConfig:
    """Optimizer settings, removed rules, and planner extensions from compiled packages."""

    optimizer: FrozenMap[str, str] = attrs.field(
        factory=FrozenMap,
        converter=settings_map,
        metadata=doc("'datafusion.optimizer.*' settings"),
    )
    disable_rules: tuple[str, ...] = attrs.field(
        default=(), converter=frozen_tuple, metadata=doc("optimizer rules to remove, by name")
    )
    physical_rules: tuple[ImportRef, ...] = attrs.field(
        default=(), converter=import_refs, metadata=doc("physical optimizer rules to add")
    )
    query_planner: ImportRef | None = optional_field(
        ImportRef.parse, "a query planner to use instead of the engine's"
    )
    codecs: tuple[ImportRef, ...] = attrs.field(
        default=(), converter=import_refs, metadata=doc("extension codecs to install")
    )
    bundles: tuple[ImportRef, ...] = attrs.field(
        default=(),
        converter=import_refs,
        metadata=doc("extension bundles for SessionContext.with_extensions"),
    )
    record_rules: bool = attrs.field(
        default=False, metadata=doc("record the effective optimizer rule names")
    )

    def __attrs_post_init__(self) -> None:
        raise_all(
            FieldError(
                f"optimizer.{key}",
                "expected a 'datafusion.optimizer.*' key; put other settings in [settings]",
            )
            for key in self.optimizer
            if not key.startswith("datafusion.optimizer.")
        )


@attrs.frozen
class TracingConfig:
    """OpenTelemetry spans for the build, each step and each query.

    ``endpoint`` is read by the otlp exporter only; a profile may keep it while it switches
    exporters (the record says which exporter and endpoint are in use).
    """

    enabled: bool = attrs.field(default=False, metadata=doc("whether spans are made"))
    exporter: str = attrs.field(
        default="global",
        validator=one_of(*EXPORTERS),
        metadata=doc("global (the application's tracer provider), console or otlp"),
    )
    endpoint: str | None = attrs.field(
        default=None, metadata=doc("the OTLP/HTTP collector's URL (otlp only)")
    )
