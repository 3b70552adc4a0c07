"""Making a context: ``SessionConfig`` and ``RuntimeEnvBuilder`` from the profile, and settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext

from dfsession.engine.text import one_line, sql_string
from dfsession.errors import ProfileError
from dfsession.profile.sections import CatalogConfig, ExecutionConfig

__all__ = ["RUNTIME_PREFIX", "config_settings", "new_context", "runtime_settings", "set_option"]

_SETTING_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$")
#: Settings under this prefix belong to the runtime: ``SessionConfig`` refuses them; SQL
#: ``SET`` applies them to a live context.
RUNTIME_PREFIX = "datafusion.runtime."


def config_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """The settings ``SessionConfig`` takes: all but the runtime's."""
    return {k: v for k, v in settings.items() if not k.startswith(RUNTIME_PREFIX)}


def runtime_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """The runtime's settings, which only ``SET`` applies (``set_option``)."""
    return {k: v for k, v in settings.items() if k.startswith(RUNTIME_PREFIX)}


def new_context(
    execution: ExecutionConfig, catalog: CatalogConfig, settings: Mapping[str, str]
) -> tuple[SessionContext, dict[str, Any]]:
    """A fresh context from the execution and catalog sections and the ``SessionConfig`` keys of
    ``settings`` (see ``config_settings``), and every value it applied.

    ``SessionConfig`` and ``RuntimeEnvBuilder`` are made anew for each context: they are
    mutable, and two contexts of one runtime builder would share its memory pool. An unknown
    setting or a bad value raises ``ProfileError`` at ``settings.<key>``.
    """
    config = SessionConfig()
    applied: dict[str, Any] = {}
    if execution.target_partitions is not None:
        config = config.with_target_partitions(execution.target_partitions)
        applied["target_partitions"] = execution.target_partitions
    if execution.batch_size is not None:
        config = config.with_batch_size(execution.batch_size)
        applied["batch_size"] = execution.batch_size
    config = config.with_default_catalog_and_schema(
        catalog.default_catalog, catalog.default_schema
    ).with_information_schema(catalog.information_schema)
    config = _configured(config, settings, applied)
    runtime = _memory_pool(execution, applied)
    runtime = _spill(execution, runtime, applied)
    applied.update(
        default_catalog=catalog.default_catalog,
        default_schema=catalog.default_schema,
        information_schema=catalog.information_schema,
    )
    return SessionContext(config, runtime), applied


def _configured(
    config: SessionConfig, settings: Mapping[str, str], applied: dict[str, Any]
) -> SessionConfig:
    """``config`` with each setting it takes (recorded in ``applied``); the engine checks them."""
    given = config_settings(settings)
    for key, value in given.items():
        try:
            config = config.set(key, value)
        except Exception as exc:
            raise ProfileError.at(
                f"settings.{key}", f"the engine rejected {value!r}: {one_line(exc)}"
            ) from exc
    if given:
        applied["settings"] = given
    return config


def _memory_pool(execution: ExecutionConfig, applied: dict[str, Any]) -> RuntimeEnvBuilder:
    """A runtime builder with the execution section's memory pool (recorded in ``applied``)."""
    runtime = RuntimeEnvBuilder()
    pool = execution.effective_memory_pool
    limit = None if execution.memory_limit is None else int(execution.memory_limit)
    applied["memory_pool"] = pool
    if limit is not None:
        applied["memory_limit"] = limit
    # The profile gives greedy and fair pools a limit: it refuses them without one.
    if pool == "greedy" and limit is not None:
        return runtime.with_greedy_memory_pool(limit)
    if pool == "fair" and limit is not None:
        return runtime.with_fair_spill_pool(limit)
    return runtime.with_unbounded_memory_pool()


def _spill(
    execution: ExecutionConfig, runtime: RuntimeEnvBuilder, applied: dict[str, Any]
) -> RuntimeEnvBuilder:
    """``runtime`` with the execution section's spill setting (recorded in ``applied``)."""
    spill = execution.spill if execution.spill is not None else "os"
    applied["spill"] = spill if isinstance(spill, str) else list(spill)
    if spill == "disabled":
        return runtime.with_disk_manager_disabled()
    if spill == "os":
        return runtime.with_disk_manager_os()
    missing = [folder for folder in spill if not Path(folder).is_dir()]
    if missing:
        raise ProfileError(
            [
                ("execution.spill", f"spill directory {d!r} does not exist; create it")
                for d in missing
            ]
        )
    return runtime.with_disk_manager_specified(*spill)


def set_option(ctx: SessionContext, key: str, value: str) -> None:
    """Set an engine option on a live context with SQL ``SET``; the engine validates both.

    Raises ``ValueError`` with the engine's reason (unknown key, bad value) on one line.
    """
    if not _SETTING_NAME.match(key):
        raise ValueError(f"{key!r} is not a valid setting name")
    try:
        ctx.sql(f"SET {key} = {sql_string(value)}")
    except Exception as exc:
        raise ValueError(f"the engine rejected {value!r}: {one_line(exc)}") from exc
