"""The standard install steps, one module per family, and the default list."""

from __future__ import annotations

from dfsession.pipeline.step import InstallStep
from dfsession.steps.session import ContextStep, SettingsStep, UrlTableStep


def default_steps() -> tuple[InstallStep, ...]:
    """The standard step list, in run order; each always emits a record (``skipped`` when idle)."""
    return (ContextStep(), SettingsStep(), UrlTableStep())
