"""Steps that make the context itself: ``context``, ``settings`` and ``url_table``."""

from __future__ import annotations

import attrs

from dfsession.engine.context import new_context, runtime_settings, set_option
from dfsession.errors import ProfileError
from dfsession.pipeline.step import SessionBuild
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
    """

    name: str = "context"
    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset({"context"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Build the context; the record lists every execution and catalog value applied."""
        profile = build.profile
        build.ctx, applied = new_context(profile.execution, profile.catalog, profile.settings)
        return StepRecord(step=self.name, applied=applied)


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
