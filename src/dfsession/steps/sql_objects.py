"""The ``views`` and ``prepared`` steps: named queries in the order the engine finds; PREPARE."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from dfsession.engine.text import one_line
from dfsession.engine.views import cycle_text, prepare, register_views
from dfsession.errors import ProfileError
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.model import SessionProfile
from dfsession.profile.sections import PreparedConfig
from dfsession.record import StepRecord

__all__ = [
    "PreparedStep",
    "ViewsStep",
]


@attrs.frozen(cache_hash=True)
class ViewsStep:
    """Register the profile's views, each after the views it reads (as the engine finds them)."""

    name: str = "views"
    requires: frozenset[str] = frozenset({"context", "datasets", "delta", "udfs"})
    provides: frozenset[str] = frozenset({"views"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Plan and register every view; a failure or a cycle leaves none registered."""
        views = build.profile.views
        if not views:
            return StepRecord.skipped(self.name, "no [views] in the profile")
        ctx = build.ctx
        order = register_views(ctx, views, build.profile.catalog)
        if order.failed or order.waiting:
            for name in order.registered:
                ctx.deregister_table(name)
        if order.failed:
            name, error = order.failed[0]
            raise ProfileError.at(
                f"views.{name}.sql", f"view {name!r} does not plan: {one_line(error)}"
            ) from error
        if order.waiting:
            raise ProfileError(
                [
                    (
                        f"views.{cycle[0]}.sql",
                        f"{cycle_text(cycle)}; no view was registered. Break the cycle",
                    )
                    for cycle in order.cycles()
                ]
            )
        return StepRecord(step=self.name, applied={"views": list(order.registered)})

    def unportable(self, profile: SessionProfile) -> tuple[Unportable, ...]:
        """Nothing: views are plans over tables, which the client sends with each query."""
        return ()


def _entry(name: str, config: PreparedConfig, spelled: Iterable[str]) -> dict[str, Any]:
    """What a record shows of a prepared statement."""
    return {
        "name": name,
        "sql": config.sql,
        "params": [format_arrow_type(t) for t in config.params],
        "sql_types": list(spelled),
    }


@attrs.frozen(cache_hash=True)
class PreparedStep:
    """Install the profile's prepared statements with ``PREPARE name(types) AS sql``."""

    name: str = "prepared"
    requires: frozenset[str] = frozenset({"views"})
    provides: frozenset[str] = frozenset({"prepared"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Prepare each statement; the engine checks its placeholders and its plan."""
        prepared = build.profile.prepared
        if not prepared:
            return StepRecord.skipped(self.name, "no [prepared] statements in the profile")
        entries: list[dict[str, Any]] = []
        for name, config in prepared.items():
            try:
                spelled = prepare(build.ctx, name, config)
            except ProfileError:
                raise
            except Exception as exc:
                raise ProfileError.at(
                    f"prepared.{name}.sql",
                    f"prepared statement {name!r} does not plan: {one_line(exc)}",
                ) from exc
            entries.append(_entry(name, config, spelled))
        return StepRecord(step=self.name, applied={"prepared": entries})

    def unportable(self, profile: SessionProfile) -> tuple[Unportable, ...]:
        """Nothing: a prepared statement is a plan the client binds and sends as a query."""
        return ()
