"""Planner extensions exposing DataFusion's PyCapsule protocols, and objects that do not.

No compiled extension is installed in the test environment, so the real capsules here come
from a ``SessionContext``, which exports its own codecs and query planner.
"""

from __future__ import annotations

from typing import Any

from datafusion import SessionContext, SessionExtensionComponents


class LogicalCodec:
    """A logical extension codec with a stable id."""

    __datafusion_codec_id__ = "udf_fixtures.logical.v1"

    def __datafusion_logical_extension_codec__(self, session: Any = None) -> Any:
        return SessionContext().__datafusion_logical_extension_codec__(session)


class PhysicalCodec:
    """A physical extension codec with a stable id."""

    __datafusion_codec_id__ = "udf_fixtures.physical.v1"

    def __datafusion_physical_extension_codec__(self, session: Any = None) -> Any:
        return SessionContext().__datafusion_physical_extension_codec__(session)


class BundleCodec:
    """The codec a bundle contributes."""

    __datafusion_codec_id__ = "udf_fixtures.bundle.v1"

    def __datafusion_logical_extension_codec__(self, session: Any = None) -> Any:
        return SessionContext().__datafusion_logical_extension_codec__(session)


class Bundle:
    """An extension bundle: one codec, and no planner (returns None: keep the session's)."""

    def __datafusion_session_components__(self, ctx: SessionContext) -> SessionExtensionComponents:
        return SessionExtensionComponents(logical_extension_codecs=(BundleCodec(),))

    def __datafusion_session_planner__(self, ctx: SessionContext, fallback: Any) -> None:
        return None


class QueryPlanner:
    """A query planner: the default DataFusion planner, exported through its capsule."""

    def __datafusion_query_planner__(self, session: Any = None) -> Any:
        return SessionContext().__datafusion_query_planner__(session)


class WrongCapsuleRule:
    """Claims the physical-rule protocol but hands over a query-planner capsule."""

    def __datafusion_physical_optimizer_rule__(self) -> Any:
        return SessionContext().__datafusion_query_planner__()


class PlainObject:
    """A Python object with no capsule protocol at all."""


LOGICAL_CODEC = LogicalCodec()
PHYSICAL_CODEC = PhysicalCodec()
BUNDLE = Bundle()
QUERY_PLANNER = QueryPlanner()
WRONG_CAPSULE_RULE = WrongCapsuleRule()
NO_CAPSULE = PlainObject()
