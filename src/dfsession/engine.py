"""Facts about the installed engine libraries, shared by the pipeline and the steps."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import attrs
import datafusion
import pyarrow

from dfsession._version import VERSION
from dfsession.errors import IncompatibleVersionsError, ProfileError, SchemaMismatchError
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.sections import DatasetConfig

if TYPE_CHECKING:
    from datafusion import SessionContext


def engine_versions() -> dict[str, str]:
    """The versions that decide how a session behaves: dfsession and its engine libraries."""
    import deltalake

    return {
        "dfsession": VERSION,
        "datafusion": datafusion.__version__,
        "deltalake": deltalake.__version__,
        "pyarrow": pyarrow.__version__,
    }


def major(version: str) -> int:
    """The major number of a version string such as ``55.0.0``."""
    return int(version.split(".", 1)[0])


_SETTING_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$")


def set_option(ctx: SessionContext, key: str, value: str) -> None:
    """Set an engine option on a live context with SQL ``SET``; the engine validates both.

    Raises ``ValueError`` with the engine's reason (unknown key, bad value) on one line.
    """
    if not _SETTING_NAME.match(key):
        raise ValueError(f"{key!r} is not a valid setting name")
    literal = "'" + value.replace("'", "''") + "'"
    try:
        ctx.sql(f"SET {key} = {literal}")
    except Exception as exc:
        reason = str(exc).replace("\n", " ")
        raise ValueError(f"the engine rejected {value!r}: {reason}") from exc


# --- schemas -------------------------------------------------------------------------------------


def schema_fingerprint(schema: pyarrow.Schema) -> str:
    """Hex SHA-256 of an Arrow schema: each field's name, type and nullability, in order.

    Metadata takes no part. Stable for a given pyarrow version.
    """
    text = schema.to_string(show_field_metadata=False, show_schema_metadata=False)
    return hashlib.sha256(text.encode()).hexdigest()


def type_name(data_type: pyarrow.DataType) -> str:
    """A type as the profile writes it (``timestamp[us, UTC]``), else as pyarrow prints it."""
    try:
        return format_arrow_type(data_type)
    except ValueError:
        return str(data_type)


_TYPE = pyarrow.lib
#: Type ids whose values are compared as-is (no nesting, nothing a reader changes).
_NESTED_OR_READ_IDS = frozenset(
    {
        _TYPE.Type_DICTIONARY,
        _TYPE.Type_STRING,
        _TYPE.Type_LARGE_STRING,
        _TYPE.Type_STRING_VIEW,
        _TYPE.Type_BINARY,
        _TYPE.Type_LARGE_BINARY,
        _TYPE.Type_BINARY_VIEW,
        _TYPE.Type_LIST,
        _TYPE.Type_LARGE_LIST,
        _TYPE.Type_LIST_VIEW,
        _TYPE.Type_LARGE_LIST_VIEW,
        _TYPE.Type_FIXED_SIZE_LIST,
        _TYPE.Type_STRUCT,
        _TYPE.Type_MAP,
    }
)
_STRING_IDS = frozenset({_TYPE.Type_STRING, _TYPE.Type_LARGE_STRING, _TYPE.Type_STRING_VIEW})
_BINARY_IDS = frozenset({_TYPE.Type_BINARY, _TYPE.Type_LARGE_BINARY, _TYPE.Type_BINARY_VIEW})
_LIST_IDS = frozenset(
    {_TYPE.Type_LIST, _TYPE.Type_LARGE_LIST, _TYPE.Type_LIST_VIEW, _TYPE.Type_LARGE_LIST_VIEW}
)


def comparable_type(data_type: pyarrow.DataType) -> pyarrow.DataType:
    """The type with reading details erased, for schema checks.

    DataFusion reads strings as ``string_view``, dictionary-encodes some partition columns and
    names list items ``element`` or ``item`` by file format; none of that is the data's schema.
    """
    pa, t = pyarrow, data_type
    type_id = t.id
    if type_id not in _NESTED_OR_READ_IDS:
        return t
    if type_id == _TYPE.Type_DICTIONARY:
        return comparable_type(t.value_type)
    if type_id in _STRING_IDS:
        return pa.string()
    if type_id in _BINARY_IDS:
        return pa.binary()
    if type_id in _LIST_IDS:
        return pa.list_(comparable_type(t.value_type))
    if type_id == _TYPE.Type_FIXED_SIZE_LIST:
        return pa.list_(comparable_type(t.value_type), t.list_size)
    if type_id == _TYPE.Type_STRUCT:
        return pa.struct([pa.field(f.name, comparable_type(f.type)) for f in t])
    return pa.map_(comparable_type(t.key_type), comparable_type(t.item_type))


def schema_differences(expected: pyarrow.Schema, actual: pyarrow.Schema, mode: str) -> list[str]:
    """Each way ``actual`` differs from ``expected`` under a schema mode, as readable lines.

    ``exact``: the same columns with the same types in the same order. ``compatible``: every
    declared column exists with its type; others may be added. ``none``: no check.
    """
    if mode == "none":
        return []
    found = {field.name: field for field in actual}
    differences: list[str] = []
    for field in expected:
        other = found.get(field.name)
        if other is None:
            differences.append(
                f"column {field.name!r}: expected {type_name(field.type)}, actual missing"
            )
        elif other.type != field.type and comparable_type(other.type) != comparable_type(
            field.type
        ):
            differences.append(
                f"column {field.name!r}: expected {type_name(field.type)}, "
                f"actual {type_name(other.type)}"
            )
    if mode == "exact":
        declared = set(expected.names)
        for field in actual:
            if field.name not in declared:
                differences.append(
                    f"column {field.name!r}: expected nothing (not declared), "
                    f"actual {type_name(field.type)}"
                )
        if not differences and expected.names != actual.names:
            differences.append(
                f"column order: expected ({', '.join(expected.names)}), "
                f"actual ({', '.join(actual.names)})"
            )
    return differences


# --- locations and object stores ---------------------------------------------------------------

#: ``SessionBuild.resources`` / ``BuiltSession.resources`` key of the registered object stores:
#: a mapping of store name to ``StoreAccess`` (set by the ``object_stores`` step).
STORES_RESOURCE = "object_stores"


def redact_location(location: str) -> str:
    """A location safe to record: URL user info and query-string values become ``***``."""
    if "://" not in location:
        return location
    parts = urlsplit(location)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{key}=***" for key, _value in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def is_local_location(location: str) -> bool:
    """Whether a dataset location is a plain file path (or a ``file://`` URL)."""
    return "://" not in location or location.startswith("file://")


@attrs.frozen
class StoreAccess:
    """A registered object store as later steps need it: its URL and, for Delta, its options.

    Built by the ``object_stores`` step, the only place secrets are resolved; ``repr`` and
    equality leave the resolved secrets out.
    """

    name: str
    url: str
    kind: str
    options: Mapping[str, Any]
    _secrets: Mapping[str, str] = attrs.field(repr=False, eq=False, alias="secrets")

    @property
    def scheme(self) -> str:
        """The URL scheme, such as ``s3``."""
        return self.url.split("://", 1)[0].lower()

    @property
    def host(self) -> str:
        """The URL's host: the name locations use for the bucket or container."""
        return self.url.split("://", 1)[1].split("/", 1)[0]

    def owns(self, location: str) -> bool:
        """Whether ``location`` is inside this store (same scheme and host)."""
        if "://" not in location:
            return False
        scheme, rest = location.split("://", 1)
        return scheme.lower() == self.scheme and rest.split("/", 1)[0] == self.host

    def local_path(self, location: str) -> Path | None:
        """For a local store, the file path ``location`` names; ``None`` for other kinds."""
        if self.kind != "local":
            return None
        rest = location.split("://", 1)[1]
        inner = rest.split("/", 1)[1] if "/" in rest else ""
        return Path(str(self.options.get("prefix", "/"))) / inner

    def delta_uri(self, location: str) -> str:
        """``location`` as deltalake reads it: a file path for local stores, the real bucket."""
        path = self.local_path(location)
        if path is not None:
            return str(path)
        real = self.options.get("bucket") or self.options.get("container")
        if real and real != self.host:
            scheme, rest = location.split("://", 1)
            tail = rest.split("/", 1)[1] if "/" in rest else ""
            return f"{scheme}://{real}/{tail}"
        return location

    def scrub(self, text: str) -> str:
        """``text`` with every resolved secret value of this store masked as ``***``."""
        for value in self._secrets.values():
            if value:
                text = text.replace(value, "***")
        return text

    def delta_storage_options(self) -> dict[str, str]:
        """deltalake ``storage_options`` equivalent to this store (secret values included)."""
        names = _DELTA_OPTION_NAMES.get(self.kind, {})
        out: dict[str, str] = {}
        for key, value in (*self.options.items(), *self._secrets.items()):
            target = names.get(key)
            if target is not None:
                out[target] = _option_text(value)
        if self.kind == "s3" and "AWS_REGION" not in out:
            out["AWS_REGION"] = "us-east-1"
        return out


# deltalake (object_store crate) option names for each profile option and secret, per store kind.
_DELTA_OPTION_NAMES: dict[str, dict[str, str]] = {
    "s3": {
        "region": "AWS_REGION",
        "endpoint": "AWS_ENDPOINT_URL",
        "allow_http": "AWS_ALLOW_HTTP",
        "imdsv1_fallback": "AWS_IMDSV1_FALLBACK",
        "access_key_id": "AWS_ACCESS_KEY_ID",
        "secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "session_token": "AWS_SESSION_TOKEN",
    },
    "gcs": {"service_account_path": "google_service_account_path"},
    "azure": {
        "account": "azure_storage_account_name",
        "client_id": "azure_storage_client_id",
        "tenant_id": "azure_storage_tenant_id",
        "use_emulator": "azure_storage_use_emulator",
        "allow_http": "azure_allow_http",
        "use_fabric_endpoint": "azure_use_fabric_endpoint",
        "access_key": "azure_storage_account_key",
        "bearer_token": "azure_storage_token",
        "client_secret": "azure_storage_client_secret",
    },
}


def _option_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def find_store(location: str, stores: Mapping[str, StoreAccess]) -> StoreAccess | None:
    """The registered store ``location`` lies in, if any."""
    for store in stores.values():
        if store.owns(location):
            return store
    return None


# --- datasets ------------------------------------------------------------------------------------


def declared_schema(config: DatasetConfig) -> pyarrow.Schema | None:
    """The schema a dataset declares: its columns, then partition columns not listed there."""
    if config.schema is None:
        return None
    fields = [pyarrow.field(name, type_) for name, type_ in config.schema.items()]
    fields += [
        pyarrow.field(name, type_)
        for name, type_ in config.partition_cols.items()
        if name not in config.schema
    ]
    return pyarrow.schema(fields)


def check_declared_schema(name: str, config: DatasetConfig, actual: pyarrow.Schema) -> None:
    """Raise ``SchemaMismatchError`` listing each column that differs from the declared schema."""
    expected = declared_schema(config)
    mode = config.effective_schema_mode
    if expected is None or mode == "none":
        return
    differences = schema_differences(expected, actual, mode)
    if differences:
        lines = "\n".join(f"  {line}" for line in differences)
        raise SchemaMismatchError(
            f"dataset {name!r} does not match its declared schema (schema_mode {mode!r}):\n"
            f"{lines}\nfix the data, or datasets.{name}.schema / schema_mode in the profile",
            dataset=name,
            differences=differences,
        )


def local_path(location: str, stores: Mapping[str, StoreAccess]) -> str | None:
    """The local path of a dataset location, or ``None`` when it is remote."""
    if is_local_location(location):
        return location.removeprefix("file://")
    store = find_store(location, stores)
    found = store.local_path(location) if store is not None else None
    return None if found is None else str(found)


def require_path(name: str, path: str | None) -> None:
    """Fail, naming the dataset and the path, when a local path does not exist."""
    if path is not None and not os.path.exists(path):  # noqa: PTH110 - a third of Path's cost
        raise ProfileError(
            [
                (
                    f"datasets.{name}.location",
                    f"dataset {name!r}: path {path!r} does not exist; "
                    "write the data there or fix the location",
                )
            ]
        )


def dataset_local_path(name: str, location: str, stores: Mapping[str, StoreAccess]) -> str | None:
    """The local path of a dataset location (``None`` when remote); fail if it does not exist."""
    path = local_path(location, stores)
    require_path(name, path)
    return path


def delta_target(
    location: str, stores: Mapping[str, StoreAccess]
) -> tuple[str, dict[str, str] | None]:
    """The URI deltalake opens for ``location``, and the storage options from its store."""
    if is_local_location(location):
        return location.removeprefix("file://"), None
    store = find_store(location, stores)
    if store is None:
        return location, None
    options = store.delta_storage_options()
    return store.delta_uri(location), options or None


def table_schema(ctx: datafusion.SessionContext, tables: Any, name: str) -> pyarrow.Schema:
    """A registered table's schema as the engine sees it (through the schema provider: cheap)."""
    try:
        schema: pyarrow.Schema = tables.table(name).schema
    except Exception:  # a name the engine normalizes (upper case): ask the context
        schema = ctx.table(name).schema()
    return schema


# --- deltalake and datafusion ------------------------------------------------------------------

#: The DataFusion major each deltalake minor release was built against. deltalake declares no
#: datafusion requirement in its package metadata (it links DataFusion statically and talks to
#: the ``datafusion`` package over FFI), so this table is the source when the metadata is
#: silent. Read from the crate versions compiled into the wheels: deltalake 1.6.6 embeds
#: datafusion 55.1.0 (``strings _internal.abi3.so | grep datafusion-ffi-``).
DELTALAKE_DATAFUSION_MAJORS: Mapping[str, int] = MappingProxyType({"1.6": 55})

_DATAFUSION_REQUIREMENT = re.compile(
    r"^\s*datafusion(?![\w.-])\s*(\[[^\]]*\])?\s*\(?\s*(?P<spec>[^;)]*)"
)


def deltalake_datafusion_major(
    deltalake_version: str, requirements: Iterable[str] = ()
) -> tuple[int | None, str]:
    """The DataFusion major a deltalake release was built for, and where that was read.

    First deltalake's own declared ``datafusion`` requirement (``importlib.metadata.requires``),
    then ``DELTALAKE_DATAFUSION_MAJORS``; ``(None, ...)`` when neither knows.
    """
    for requirement in requirements:
        match = _DATAFUSION_REQUIREMENT.match(requirement)
        if match is None:
            continue
        number = re.search(r"(==|===|>=|~=|>)\s*(\d+)", match.group("spec"))
        if number is not None:
            spec = requirement.split(";", 1)[0].strip()
            return int(number.group(2)), f"deltalake's declared requirement {spec!r}"
    minor = ".".join(deltalake_version.split(".")[:2])
    built_for = DELTALAKE_DATAFUSION_MAJORS.get(minor)
    if built_for is not None:
        return built_for, f"dfsession's table of deltalake releases (deltalake {minor}.x)"
    return None, "neither deltalake's metadata nor dfsession's table of deltalake releases"


def check_delta_compatibility(
    *,
    datafusion_version: str | None = None,
    deltalake_version: str | None = None,
    deltalake_requires: Iterable[str] | None = None,
    built_for: int | None = None,
) -> int:
    """Raise ``IncompatibleVersionsError`` unless deltalake was built for the installed DataFusion.

    Reads package metadata only and never loads deltalake's native code, so it is safe to run
    before any native call. ``built_for`` overrides what deltalake was built for. Returns the
    DataFusion major.
    """
    if datafusion_version is None:
        datafusion_version = datafusion.__version__
    if deltalake_version is None:
        deltalake_version = importlib.metadata.version("deltalake")
    if built_for is None:
        if deltalake_requires is None:
            deltalake_requires = importlib.metadata.requires("deltalake") or ()
        built_for, source = deltalake_datafusion_major(deltalake_version, deltalake_requires)
    else:
        source = "the step's datafusion_major setting"
    installed = major(datafusion_version)
    if built_for is None:
        known = ", ".join(
            f"deltalake {k}.x -> DataFusion {v}" for k, v in DELTALAKE_DATAFUSION_MAJORS.items()
        )
        raise IncompatibleVersionsError(
            f"cannot tell which DataFusion deltalake {deltalake_version} was built for "
            f"({source} says; known: {known}); installed datafusion is {datafusion_version}. "
            "Registering a Delta table across DataFusion majors can crash the process. Fix: "
            "install a deltalake release dfsession knows for this datafusion, or, once you have "
            "checked, pass DeltaStep(datafusion_major=N)"
        )
    if built_for != installed:
        raise IncompatibleVersionsError(
            f"deltalake {deltalake_version} was built for DataFusion {built_for} (from {source}) "
            f"but datafusion {datafusion_version} is installed (major {installed}); registering "
            "a Delta table across DataFusion majors can crash the process. Fix: "
            f"pip install 'datafusion>={built_for},<{built_for + 1}', or install a deltalake "
            f"release built for DataFusion {installed}"
        )
    return installed
