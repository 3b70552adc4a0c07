"""The sections of a profile: one small frozen class each, validated on construction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pyarrow as pa

from dfsession.profile.arrow_types import parse_arrow_type
from dfsession.profile.values import (
    ByteSize,
    FieldError,
    FrozenMap,
    SecretRef,
    byte_size_or_none,
    did_you_mean,
    frozen_map,
    frozen_tuple,
    identifier,
    import_ref,
    one_of,
    positive,
    raise_all,
    settings_map,
)

Scalar = str | int | float | bool
MEMORY_POOLS = ("greedy", "fair", "unbounded")
SPILL_MODES = ("disabled", "os")
STORE_KINDS = ("local", "s3", "gcs", "azure", "http")
FORMATS = ("parquet", "csv", "json", "arrow", "delta")
SCHEMA_MODES = ("exact", "compatible", "none")
VOLATILITIES = ("immutable", "stable", "volatile")
EXPORTERS = ("global", "console", "otlp")


def _arrow_type(value: object) -> pa.DataType:
    if isinstance(value, pa.DataType):
        return value
    if isinstance(value, str):
        return parse_arrow_type(value)
    raise ValueError(f"expected an Arrow type name such as 'int64' (got {value!r})")


def _type_map(value: Mapping[str, Any] | None) -> FrozenMap[str, pa.DataType]:
    items = {}
    for column, type_ in frozen_map(value).items():
        try:
            items[column] = _arrow_type(type_)
        except ValueError as exc:
            raise FieldError(str(column), str(exc)) from None
    return FrozenMap(items)


def _optional_type_map(value: Mapping[str, Any] | None) -> FrozenMap[str, pa.DataType] | None:
    return None if value is None else _type_map(value)


def _type_tuple(value: Any) -> tuple[pa.DataType, ...]:
    return tuple(_arrow_type(v) for v in frozen_tuple(value))


def _optional_type_tuple(value: Any) -> tuple[pa.DataType, ...] | None:
    return None if value is None else _type_tuple(value)


def _optional_type(value: Any) -> pa.DataType | None:
    return None if value is None else _arrow_type(value)


def _spill(value: Any) -> Any:
    """A list of spill directories becomes a tuple; anything else is left for the validator."""
    return tuple(value) if isinstance(value, list) else value


@attrs.frozen
class ExecutionConfig:
    """Execution limits. Left-out keys follow DataFusion's defaults.

    ``memory_limit`` without ``memory_pool`` uses a greedy pool, as DataFusion itself does.
    """

    target_partitions: int | None = attrs.field(default=None, validator=positive)
    batch_size: int | None = attrs.field(default=None, validator=positive)
    memory_pool: str | None = attrs.field(default=None, validator=one_of(*MEMORY_POOLS))
    memory_limit: ByteSize | None = attrs.field(default=None, converter=byte_size_or_none)
    spill: str | tuple[str, ...] | None = attrs.field(default=None, converter=_spill)

    @spill.validator
    def _check_spill(self, _attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None or value in SPILL_MODES:
            return
        if isinstance(value, tuple) and value and all(isinstance(p, str) and p for p in value):
            return
        raise FieldError(
            "spill",
            f'expected "disabled", "os" or a non-empty list of directories (got {value!r})',
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
    def effective_memory_pool(self) -> str:
        """The pool in use: the declared one, else greedy with a limit, else unbounded."""
        if self.memory_pool is not None:
            return self.memory_pool
        return "greedy" if self.memory_limit is not None else "unbounded"


@attrs.frozen
class CatalogConfig:
    """Default catalog and schema names, and whether ``information_schema`` exists."""

    default_catalog: str = attrs.field(default="datafusion", validator=identifier)
    default_schema: str = attrs.field(default="public", validator=identifier)
    information_schema: bool = False


@attrs.frozen
class SqlPolicy:
    """Which kinds of SQL statement queries may run; everything is allowed unless tightened."""

    allow_ddl: bool = True
    allow_dml: bool = True
    allow_statements: bool = True


@attrs.frozen
class FeaturesConfig:
    """Opt-in engine features."""

    url_table: bool = False
    udf_entry_points: bool = False


# Options each kind of object store accepts (plain values) and the secrets it accepts (references).
STORE_OPTIONS: dict[str, dict[str, type]] = {
    "local": {"prefix": str},
    "s3": {
        "bucket": str,
        "region": str,
        "endpoint": str,
        "allow_http": bool,
        "imdsv1_fallback": bool,
    },
    "gcs": {"bucket": str, "service_account_path": str},
    "azure": {
        "container": str,
        "account": str,
        "client_id": str,
        "tenant_id": str,
        "use_emulator": bool,
        "allow_http": bool,
        "use_fabric_endpoint": bool,
    },
    "http": {},
}
STORE_SECRETS: dict[str, tuple[str, ...]] = {
    "local": (),
    "s3": ("access_key_id", "secret_access_key", "session_token"),
    "gcs": (),
    "azure": ("access_key", "bearer_token", "client_secret"),
    "http": (),
}


def _unknown_names(
    section: str, given: Mapping[str, Any], known: Mapping[str, Any] | tuple[str, ...], kind: str
) -> Iterator[FieldError]:
    for name in given:
        if name not in known:
            accepted = ", ".join(known) or "none"
            yield FieldError(
                f"{section}.{name}",
                f"unknown {section[:-1]} for {kind} (accepted: {accepted})"
                + did_you_mean(name, known),
            )


def _wrong_option_types(
    options: Mapping[str, Any], accepted: Mapping[str, type]
) -> Iterator[FieldError]:
    """Each known option's value has the type its name takes (booleans are not numbers).

    Every integer option is a count, so it is never negative.
    """
    for name, value in options.items():
        expected = accepted.get(name)
        if expected is None:
            continue
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            yield FieldError(f"options.{name}", f"expected a {expected.__name__} (got {value!r})")
        elif isinstance(value, int) and value < 0:
            yield FieldError(f"options.{name}", f"expected an int >= 0 (got {value!r})")


def _credentials_in(field: str, url: str) -> Iterator[FieldError]:
    """Credentials belong in ``secrets`` references, never in a URL the profile shows."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        yield FieldError(
            field,
            "a URL with user credentials (user:password@host); remove them and put them "
            'in the object store\'s secrets as { env = "VARIABLE" } references',
        )


@attrs.frozen
class ObjectStoreConfig:
    """An object store registered under a URL; credentials are secret references."""

    url: str = attrs.field(validator=identifier)
    kind: str = attrs.field(validator=one_of(*STORE_KINDS))
    options: FrozenMap[str, Scalar] = attrs.field(factory=FrozenMap, converter=frozen_map)
    secrets: FrozenMap[str, SecretRef] = attrs.field(factory=FrozenMap, converter=frozen_map)

    def __attrs_post_init__(self) -> None:
        raise_all(self._broken_rules())

    def _broken_rules(self) -> Iterator[FieldError]:
        if "://" not in self.url:
            yield FieldError("url", f"expected a URL such as 's3://bucket' (got {self.url!r})")
        yield from _credentials_in("url", self.url)
        if "endpoint" in self.options:
            yield from _credentials_in("options.endpoint", str(self.options["endpoint"]))
        kind = f"a {self.kind} store"
        yield from _unknown_names("options", self.options, STORE_OPTIONS[self.kind], kind)
        yield from _unknown_names("secrets", self.secrets, STORE_SECRETS[self.kind], kind)
        yield from _wrong_option_types(self.options, STORE_OPTIONS[self.kind])
        for name, secret in self.secrets.items():
            if not isinstance(secret, SecretRef):
                yield FieldError(
                    f"secrets.{name}",
                    'expected a secret reference { env = "VARIABLE" } or { literal = "..." }',
                )

    @property
    def scheme(self) -> str:
        """The URL scheme with its separator, such as ``s3://``."""
        return self.url.split("://", 1)[0] + "://"

    @property
    def host(self) -> str:
        """The URL's host part: the bucket or container when not given in options."""
        return self.url.split("://", 1)[1].split("/", 1)[0]


DATASET_OPTIONS: dict[str, dict[str, type]] = {
    "parquet": {"file_extension": str, "skip_metadata": bool},
    "csv": {
        "file_extension": str,
        "has_header": bool,
        "delimiter": str,
        "schema_infer_max_records": int,
    },
    "json": {"file_extension": str, "schema_infer_max_records": int},
    "arrow": {"file_extension": str},
    "delta": {"without_files": bool},
}


@attrs.frozen
class DatasetConfig:
    """A table: its format, location, expected schema and (Delta) time travel."""

    format: str = attrs.field(validator=one_of(*FORMATS))
    location: str = attrs.field(validator=identifier)
    schema: FrozenMap[str, pa.DataType] | None = attrs.field(
        default=None, converter=_optional_type_map
    )
    schema_mode: str | None = attrs.field(default=None, validator=one_of(*SCHEMA_MODES))
    partition_cols: FrozenMap[str, pa.DataType] = attrs.field(
        factory=FrozenMap, converter=_type_map
    )
    version: int | None = attrs.field(default=None)
    timestamp: str | None = None
    options: FrozenMap[str, Scalar] = attrs.field(factory=FrozenMap, converter=frozen_map)

    def __attrs_post_init__(self) -> None:
        raise_all(self._broken_rules())

    def _broken_rules(self) -> Iterator[FieldError]:
        if self.version is not None and (
            isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 0
        ):
            yield FieldError("version", f"expected a table version >= 0 (got {self.version!r})")
        if self.format != "delta":
            for name in ("version", "timestamp"):
                if getattr(self, name) is not None:
                    yield FieldError(
                        name, f"time travel needs format 'delta' (format is {self.format!r})"
                    )
        if self.version is not None and self.timestamp is not None:
            yield FieldError("timestamp", "give either version or timestamp, not both")
        if self.schema_mode in ("exact", "compatible") and self.schema is None:
            yield FieldError(
                "schema_mode", f"{self.schema_mode!r} needs a declared schema; add a schema table"
            )
        if self.format == "delta" and self.partition_cols:
            yield FieldError(
                "partition_cols", "Delta tables carry their own partitioning; remove this"
            )
        accepted = DATASET_OPTIONS[self.format]
        yield from _unknown_names("options", self.options, accepted, f"format {self.format!r}")
        yield from _wrong_option_types(self.options, accepted)
        yield from _credentials_in("location", self.location)

    @property
    def effective_schema_mode(self) -> str:
        """``compatible`` when a schema is declared and ``none`` otherwise, unless set."""
        if self.schema_mode is not None:
            return self.schema_mode
        return "compatible" if self.schema is not None else "none"


@attrs.frozen
class ViewConfig:
    """A view: a name for a SQL query."""

    sql: str = attrs.field(validator=identifier)


@attrs.frozen
class PreparedConfig:
    """A prepared statement with ``$1``-style parameters of declared Arrow types."""

    sql: str = attrs.field(validator=identifier)
    params: tuple[pa.DataType, ...] = attrs.field(default=(), converter=_type_tuple)


@attrs.frozen
class UdfConfig:
    """A function by import reference; a plain callable also declares its signature here."""

    ref: str = attrs.field(validator=import_ref)
    name: str | None = None
    args: tuple[pa.DataType, ...] | None = attrs.field(default=None, converter=_optional_type_tuple)
    returns: pa.DataType | None = attrs.field(default=None, converter=_optional_type)
    volatility: str = attrs.field(default="volatile", validator=one_of(*VOLATILITIES))
    override: bool = False

    def __attrs_post_init__(self) -> None:
        if (self.args is None) != (self.returns is None):
            missing = "returns" if self.returns is None else "args"
            raise FieldError(missing, "a plain callable needs both args and returns")


@attrs.frozen
class PlannerConfig:
    """Optimizer settings, removed rules, and planner extensions from compiled packages."""

    optimizer: FrozenMap[str, str] = attrs.field(factory=FrozenMap, converter=settings_map)
    disable_rules: tuple[str, ...] = attrs.field(default=(), converter=frozen_tuple)
    physical_rules: tuple[str, ...] = attrs.field(
        default=(), converter=frozen_tuple, validator=import_ref
    )
    query_planner: str | None = attrs.field(default=None, validator=import_ref)
    codecs: tuple[str, ...] = attrs.field(default=(), converter=frozen_tuple, validator=import_ref)
    bundles: tuple[str, ...] = attrs.field(default=(), converter=frozen_tuple, validator=import_ref)
    record_rules: bool = False

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

    enabled: bool = False
    exporter: str = attrs.field(default="global", validator=one_of(*EXPORTERS))
    endpoint: str | None = None
