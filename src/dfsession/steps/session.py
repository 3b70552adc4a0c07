"""Steps that make the context itself: ``context``, ``settings`` and ``url_table``."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from dfsession.engine.cluster import REASONS, cluster_settings, new_cluster_context
from dfsession.engine.context import RUNTIME_PREFIX, new_context, runtime_settings, set_option
from dfsession.errors import ProfileError
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord

__all__ = [
    "ContextStep",
    "SettingsStep",
    "UrlTableStep",
]


@attrs.frozen(cache_hash=True)
class ContextStep:
    """Create the ``SessionContext`` from a fresh ``SessionConfig`` and ``RuntimeEnvBuilder``.

    The ``[settings]`` that ``SessionConfig`` takes (all but ``datafusion.runtime.*``) go into
    it, as plain code does; the ``settings`` step applies the rest.

    With a Ballista engine, a ``BallistaSessionContext`` whose queries run on the cluster,
    which gets the execution section's partitions and batch size, the optimizer settings and
    the raw settings with every query.
    """

    name: str = "context"
    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset({"context"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Build the context; the record lists every execution and catalog value applied."""
        profile = build.profile
        if profile.engine.is_local:
            build.ctx, applied = new_context(profile.execution, profile.catalog, profile.settings)
        else:
            settings = cluster_settings(
                profile.execution, profile.settings, profile.planner.optimizer
            )
            build.ctx, applied = new_cluster_context(profile.engine, profile.catalog, settings)
        return StepRecord(step=self.name, applied=applied)

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """The execution section's memory and spill settings: a cluster's are its executors'."""
        for field in ("memory_pool", "memory_limit", "spill"):
            if getattr(profile.execution, field) is not None:
                yield Unportable(f"execution.{field}", REASONS["runtime"])


@attrs.frozen(cache_hash=True)
class SettingsStep:
    """Apply the profile's runtime settings (``datafusion.runtime.*``) with ``SET``.

    The other ``[settings]`` are in the context's ``SessionConfig`` (see ``ContextStep``).
    """

    name: str = "settings"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"settings"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Set each key; an unknown key or bad value fails naming the key."""
        if not build.profile.settings:
            return StepRecord.skipped(self.name, "no [settings] in the profile")
        settings = runtime_settings(build.profile.settings)
        if not settings:
            return StepRecord.skipped(
                self.name, "no datafusion.runtime.* keys in [settings] (the context has the rest)"
            )
        for key, value in settings.items():
            try:
                set_option(build.ctx, key, value)
            except ValueError as exc:
                raise ProfileError.at(f"settings.{key}", str(exc)) from exc
        return StepRecord(step=self.name, applied={"settings": settings})

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Runtime settings (memory, disk): a cluster's are its executors' own."""
        for key in profile.settings:
            if key.startswith(RUNTIME_PREFIX):
                yield Unportable(f"settings.{key}", REASONS["runtime"])


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

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Reading files by path: the new handle would not be a cluster's."""
        if profile.features.url_table:
            yield Unportable("features.url_table", REASONS["url_table"])
