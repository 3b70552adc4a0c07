"""The ``delta`` step: ``CREATE EXTERNAL TABLE ... STORED AS DELTATABLE`` through deltalake."""

from __future__ import annotations

import attrs

from dfsession.engine.delta import DELTA_FORMAT, DeltaTableFactory
from dfsession.engine.stores import ObjectStores
from dfsession.engine.versions import DELTALAKE, PluginGuard
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord

__all__ = [
    "DeltaStep",
]


@attrs.frozen(cache_hash=True)
class DeltaStep:
    """Install the ``DELTATABLE`` table factory, and the native-plugin version guard.

    Delta datasets are the ``datasets`` step's; it, the factory, Delta writes and every other
    native plugin (``format = "provider"`` datasets) run the guard this step hands on.
    ``datafusion_major`` tells the guard which DataFusion major the installed deltalake was
    built for, when dfsession cannot tell (see ``dfsession.engine.versions``).
    """

    name: str = "delta"
    requires: frozenset[str] = frozenset({"context", "object_stores"})
    provides: frozenset[str] = frozenset({"delta"})
    datafusion_major: int | None = None

    def install(self, build: SessionBuild) -> StepRecord:
        """Register the table factory; hand on the guard."""
        guard = PluginGuard()
        if self.datafusion_major is not None:
            guard = PluginGuard({DELTALAKE: self.datafusion_major})
        build.provide(guard)
        factory = DeltaTableFactory(build.need(ObjectStores), guard)
        build.ctx.register_table_factory(DELTA_FORMAT, factory)
        return StepRecord(step=self.name, applied={"table_factory": DELTA_FORMAT})

    def unportable(self, profile: SessionProfile) -> tuple[Unportable, ...]:
        """Nothing: the factory only serves ``CREATE EXTERNAL TABLE`` in queries.

        Delta datasets are the ``datasets`` step's to refuse. A Delta table made through the
        factory is read by deltalake's provider, which a cluster cannot run: such a query
        fails with the engine's error.
        """
        return ()
