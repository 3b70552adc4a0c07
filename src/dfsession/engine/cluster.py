"""Apache Ballista: a context whose queries run on a cluster, and what a cluster cannot run.

``ballista`` is imported here alone, and only when a profile asks for a Ballista engine. As
measured with ballista 54.1: a ``BallistaSessionContext`` is a local ``SessionContext`` whose
DataFrames send their optimized logical plan to the scheduler when they are collected
(``collect``, ``to_arrow_table``, ``count``, the ``write_*`` methods); ``to_pydict``,
``to_pylist``, ``execute_stream`` and ``__arrow_c_stream__`` run in this process. Every query
carries the settings the context was made with (``cluster_config``); a later ``SET`` stays local.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

from datafusion import SessionConfig, SessionContext

from dfsession.errors import ProfileError
from dfsession.profile.engine import BALLISTA, EngineConfig
from dfsession.profile.sections import CatalogConfig, ExecutionConfig

__all__ = [
    "INSTALL_HINT",
    "REASONS",
    "ballista_version",
    "cluster_settings",
    "new_cluster_context",
]

#: How to install the Ballista client, for every message that needs it.
INSTALL_HINT = (
    'pip install "dfsession[ballista]" (ballista 54.1 with datafusion 54.0.0 and deltalake '
    "1.6.2). Its wheels need glibc 2.39; on an older glibc, .ci/install-ballista in dfsession's "
    "source installs the official wheel with its two weak glibc-2.39 symbols marked weak"
)

_CLUSTER = "a Ballista cluster"
#: Why a cluster cannot run each kind of item, measured with ballista 54.1; one home for each.
REASONS: Mapping[str, str] = {
    "python_function": (
        f"a Python function cannot run on {_CLUSTER}: the scheduler cannot deserialize it "
        "(LogicalExtensionCodec is not provided for scalar function)"
    ),
    "entry_points": (
        f"functions advertised by packages are Python functions, which cannot run on {_CLUSTER}"
    ),
    "object_store": (
        f"object stores registered by the client do not reach {_CLUSTER}: the scheduler fails "
        "to plan (No suitable object store found), and the Python client cannot send store "
        "settings; put the data on a path every executor sees"
    ),
    "remote_dataset": (
        "its location is in an object store, which the cluster's scheduler and executors cannot "
        "reach from a Python client; put the files on a path every executor sees"
    ),
    "table_provider": (
        "it is read through a table provider of this process (deltalake's FFI provider, an "
        "in-memory or custom table), which the client cannot send to a cluster (Error "
        "serializing custom table); export it to Parquet files on a path every executor sees"
    ),
    "planner_capsule": (
        f"a compiled planner extension of this process cannot be sent to {_CLUSTER}; the "
        "scheduler plans with its own rules"
    ),
    "disable_rules": (
        "the scheduler plans every query again with its own optimizer rules (measured: the "
        "cluster's plan is the same with and without the rules removed on the client)"
    ),
    "runtime": (
        "memory pools, memory limits and spill folders of a cluster are its executors' own, "
        "set when they start; this profile's would apply to the client alone"
    ),
    "url_table": (
        "enable_url_table returns a handle that is no longer a Ballista context (its "
        "queries fail: no attribute 'session_id_internal')"
    ),
}


def _import_ballista() -> Any:
    try:
        import ballista  # noqa: PLC0415 - only a Ballista engine loads it
    except ImportError as exc:
        raise ProfileError.at(
            "engine.kind",
            f"kind = {BALLISTA!r} needs the Ballista client, which cannot be imported "
            f"({type(exc).__name__}: {exc}); {INSTALL_HINT}",
        ) from exc
    return ballista


def ballista_version() -> str | None:
    """The installed Ballista client's version, read from its metadata; ``None`` without one."""
    try:
        return importlib.metadata.version("ballista")
    except importlib.metadata.PackageNotFoundError:
        return None


def cluster_settings(
    execution: ExecutionConfig, settings: Mapping[str, str], optimizer: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    """The settings a cluster runs the session's queries with: key to (value, profile path)."""
    found: dict[str, tuple[str, str]] = {}
    for field in ("target_partitions", "batch_size"):
        value = getattr(execution, field)
        if value is not None:
            found[f"datafusion.execution.{field}"] = (str(value), f"execution.{field}")
    for section, items in (("planner.optimizer", optimizer), ("settings", settings)):
        found.update({key: (value, f"{section}.{key}") for key, value in items.items()})
    return found


def _local_config(catalog: CatalogConfig, settings: Mapping[str, tuple[str, str]]) -> SessionConfig:
    """The client's own config: the catalog's names and every cluster setting, each checked."""
    config = (
        SessionConfig()
        .with_default_catalog_and_schema(catalog.default_catalog, catalog.default_schema)
        .with_information_schema(catalog.information_schema)
    )
    problems = []
    for key, (value, path) in settings.items():
        try:
            config = config.set(key, value)
        except Exception as exc:  # the engine's ValueError or its own exception type
            problems.append((path, f"the engine rejected {value!r}: {exc}"))
    if problems:
        raise ProfileError(problems)
    return config


def new_cluster_context(
    engine: EngineConfig, catalog: CatalogConfig, settings: Mapping[str, tuple[str, str]]
) -> tuple[SessionContext, dict[str, Any]]:
    """A Ballista context for ``engine`` (a scheduler's URL, or a standalone cluster started now).

    ``settings`` (from ``cluster_settings``) go to the cluster with every query, and to the
    client's planner. A standalone cluster is an in-process scheduler and executor that live
    as long as the process: each build of a standalone profile starts one.
    """
    ballista = _import_ballista()
    config = _local_config(catalog, settings)
    if engine.url is not None:
        address, standalone = str(engine.url), False
    else:
        host, port = ballista.setup_test_cluster()
        address, standalone = f"df://{host}:{port}", True
    values = {key: value for key, (value, _path) in settings.items()}
    ctx = ballista.BallistaSessionContext(address, config, cluster_config=values)
    applied = {
        "engine": BALLISTA,
        "scheduler": address,
        "standalone": standalone,
        "ballista": ballista_version(),
        "cluster_settings": values,
        "default_catalog": catalog.default_catalog,
        "default_schema": catalog.default_schema,
        "information_schema": catalog.information_schema,
    }
    return ctx, applied
