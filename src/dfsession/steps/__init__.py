"""The standard install steps, one module per family, and the default list."""

from __future__ import annotations

from dfsession.pipeline.step import InstallStep
from dfsession.steps.datasets import DatasetsStep
from dfsession.steps.delta import DeltaStep
from dfsession.steps.functions import UdfsStep
from dfsession.steps.planner import ExtensionsStep, PlannerStep
from dfsession.steps.session import ContextStep, SettingsStep, UrlTableStep
from dfsession.steps.sql_objects import PreparedStep, ViewsStep
from dfsession.steps.storage import ObjectStoresStep
from dfsession.steps.tracing import TracingStep

# A tuple of frozen values: immutable, so one instance serves every caller (and a cache key
# made of it hashes at the cost of one cached hash per step).
_DEFAULT_STEPS: tuple[InstallStep, ...] = (
    ContextStep(),
    SettingsStep(),
    UrlTableStep(),
    ExtensionsStep(),
    PlannerStep(),
    ObjectStoresStep(),
    UdfsStep(),
    DatasetsStep(),
    DeltaStep(),
    ViewsStep(),
    PreparedStep(),
    TracingStep(),
)


def default_steps() -> tuple[InstallStep, ...]:
    """The standard step list, in run order; each always emits a record (``skipped`` when idle)."""
    return _DEFAULT_STEPS
