"""A user-defined step, inserted into the default list after the context step.

Run: python examples/custom_step.py
"""

from __future__ import annotations

import attrs

from dfsession import (
    SessionBuild,
    SessionContextBuilder,
    SessionProfile,
    StepRecord,
    default_steps,
    insert_after,
)


@attrs.frozen
class AuditTablesStep:
    """Register an empty ``audit`` table that later steps and queries can use."""

    name: str = "audit_tables"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"audit_tables"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Create the table and say so in the record."""
        build.ctx.from_pydict({"event": ["session started"]}, name="audit")
        return StepRecord(step=self.name, applied={"tables": ["audit"]})


def main() -> None:
    """Plan, build and query with the extra step."""
    steps = insert_after(default_steps(), "context", AuditTablesStep())
    builder = SessionContextBuilder(SessionProfile(), steps=steps)
    print("plan:", " -> ".join(step.name for step in builder.plan()))
    session = builder.build()
    print(session.record("audit_tables"))
    print(session.ctx.sql("SELECT event FROM audit").to_pydict())


if __name__ == "__main__":
    main()
