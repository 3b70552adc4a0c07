"""Steps that make the context itself: ``context``, ``settings`` and ``url_table``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext

from dfsession.engine import set_option
from dfsession.errors import ProfileError
from dfsession.pipeline.step import SessionBuild
from dfsession.record import StepRecord

__all__ = [
    "ContextStep",
    "SettingsStep",
    "UrlTableStep",
]


def _runtime(execution: Any) -> tuple[RuntimeEnvBuilder, dict[str, Any]]:
    runtime = RuntimeEnvBuilder()
    pool = execution.effective_memory_pool
    applied: dict[str, Any] = {"memory_pool": pool}
    if pool == "greedy":
        runtime = runtime.with_greedy_memory_pool(int(execution.memory_limit))
    elif pool == "fair":
        runtime = runtime.with_fair_spill_pool(int(execution.memory_limit))
    else:
        runtime = runtime.with_unbounded_memory_pool()
    if execution.memory_limit is not None:
        applied["memory_limit"] = int(execution.memory_limit)
    spill = execution.spill if execution.spill is not None else "os"
    if spill == "disabled":
        runtime = runtime.with_disk_manager_disabled()
    elif spill == "os":
        runtime = runtime.with_disk_manager_os()
    else:
        missing = [d for d in spill if not Path(d).is_dir()]
        if missing:
            raise ProfileError(
                [
                    ("execution.spill", f"spill directory {d!r} does not exist; create it")
                    for d in missing
                ]
            )
        runtime = runtime.with_disk_manager_specified(*spill)
    applied["spill"] = spill if isinstance(spill, str) else list(spill)
    return runtime, applied


@attrs.frozen(cache_hash=True)
class ContextStep:
    """Create the ``SessionContext`` from a fresh ``SessionConfig`` and ``RuntimeEnvBuilder``."""

    name: str = "context"
    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset({"context"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Build the context; the record lists every execution and catalog value applied."""
        execution, catalog = build.profile.execution, build.profile.catalog
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
        runtime, runtime_applied = _runtime(execution)
        build.ctx = SessionContext(config, runtime)
        applied.update(runtime_applied)
        applied.update(
            default_catalog=catalog.default_catalog,
            default_schema=catalog.default_schema,
            information_schema=catalog.information_schema,
        )
        return StepRecord(step=self.name, applied=applied)


@attrs.frozen(cache_hash=True)
class SettingsStep:
    """Apply the profile's raw engine settings (``datafusion.runtime.*`` included) with ``SET``."""

    name: str = "settings"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"settings"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Set each key; an unknown key or bad value fails naming the key."""
        settings = build.profile.settings
        if not settings:
            return StepRecord.skipped(self.name, "no [settings] in the profile")
        for key, value in settings.items():
            try:
                set_option(build.ctx, key, value)
            except ValueError as exc:
                raise ProfileError.at(f"settings.{key}", str(exc)) from exc
        return StepRecord(step=self.name, applied={"settings": dict(settings)})


@attrs.frozen(cache_hash=True)
class UrlTableStep:
    """Let queries read files by path (``SELECT * FROM 'data/x.parquet'``) when the profile asks."""

    name: str = "url_table"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"url_table"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Replace the context with the new handle that ``enable_url_table`` returns."""
        if not build.profile.features.url_table:
            return StepRecord.skipped(self.name, "features.url_table is false")
        build.ctx = build.ctx.enable_url_table()
        return StepRecord(step=self.name, applied={"url_table": True})
