"""``BuiltSession``: the live context plus a reproducible, JSON-able account of how it was made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from dfsession.pipeline.step import StepRecord
from dfsession.profile.model import SessionProfile

if TYPE_CHECKING:
    from datafusion import SessionContext

REPORT_SCHEMA_VERSION = 1


@attrs.frozen
class BuiltSession:
    """A built session: ``ctx`` to query, ``records`` of what each step applied."""

    ctx: SessionContext = attrs.field(eq=False, repr=False)
    profile: SessionProfile = attrs.field(repr=False)
    records: tuple[StepRecord, ...]
    fingerprint: str
    runtime_hash: str
    versions: dict[str, str] = attrs.field(factory=dict, eq=False)
    #: Live objects steps handed over through ``SessionBuild.resources`` (a tracer, say).
    resources: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    def record(self, step: str) -> StepRecord:
        """The record of the step called ``step``; ``KeyError`` lists the steps that ran."""
        for record in self.records:
            if record.step == step:
                return record
        raise KeyError(f"no step {step!r} ran (steps: {', '.join(r.step for r in self.records)})")

    def effective_settings(self) -> dict[str, str | None] | None:
        """The engine's settings, name to value, read now; ``None`` without information_schema."""
        if not self.profile.catalog.information_schema:
            return None
        table = self.ctx.sql("SELECT name, value FROM information_schema.df_settings").to_pydict()
        return dict(sorted(zip(table["name"], table["value"], strict=True)))

    def report(self) -> dict[str, Any]:
        """A versioned JSON-able account of the session (see the report JSON Schema)."""
        functions: list[Any] = []
        datasets: list[Any] = []
        for record in self.records:
            functions.extend(record.applied.get("functions", ()))
            datasets.extend(record.applied.get("datasets", ()))
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "fingerprint": self.fingerprint,
            "runtime_hash": self.runtime_hash,
            "versions": dict(self.versions),
            "steps": [record.to_dict() for record in self.records],
            "settings": self.effective_settings(),
            "functions": functions,
            "datasets": datasets,
        }
