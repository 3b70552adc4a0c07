"""The ``discover`` step: list each ``[discover.NAME]`` location; its tables become datasets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from dfsession.engine.cluster import REASONS
from dfsession.engine.discovery import Discovered, FoundTable, Shadowed, discover, settle
from dfsession.engine.stores import ObjectStores
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.discovery import DiscoverSpec
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord

__all__ = [
    "DiscoverStep",
]


@attrs.frozen(cache_hash=True)
class DiscoverStep:
    """Find the tables of every ``[discover]`` entry and hand them to the ``datasets`` step.

    Entries are listed in name order and tables sorted within each, so the same lake gives
    the same datasets in the same order. A declared dataset of a table's name wins (the
    record says so); a table named like a view, or found twice, is a ``ProfileError``.
    """

    name: str = "discover"
    requires: frozenset[str] = frozenset({"context", "object_stores"})
    provides: frozenset[str] = frozenset({"discover"})

    def install(self, build: SessionBuild) -> StepRecord:
        """List every location; hand on ``Discovered``; record what each entry found."""
        profile = build.profile
        if not profile.discover:
            build.provide(Discovered())
            return StepRecord.skipped(self.name, "no [discover] in the profile")
        stores = build.need(ObjectStores)
        entries = sorted(profile.discover.items())
        found = [table for name, spec in entries for table in discover(name, spec, stores)]
        kept, shadowed = settle(
            found,
            declared=profile.datasets,
            views=profile.views,
            default_schema=profile.catalog.default_schema,
        )
        build.provide(Discovered(tuple(kept)))
        records = [_record(name, spec, kept, shadowed) for name, spec in entries]
        return StepRecord(step=self.name, applied={"discover": records})

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Delta tables (read by a provider of this process) and lakes in object stores."""
        for name, entry in profile.discover.items():
            if entry.format == "delta":
                reason = f"its Delta tables: {REASONS['table_provider']}"
                yield Unportable(f"discover.{name}.format", reason)
            elif not entry.location.is_local:
                yield Unportable(f"discover.{name}.location", REASONS["remote_dataset"])


def _record(
    name: str, spec: DiscoverSpec, kept: list[FoundTable], shadowed: list[Shadowed]
) -> dict[str, Any]:
    """What one entry found: its tables, and those declared datasets replace."""
    return {
        "name": name,
        "location": spec.location.redacted(),
        "format": spec.format,
        "layout": spec.layout,
        "tables": [table.key for table in kept if table.source == name],
        "shadowed": [
            {"table": item.table.key, "by": item.by}
            for item in shadowed
            if item.table.source == name
        ],
    }
