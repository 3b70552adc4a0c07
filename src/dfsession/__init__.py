"""dfsession: build Apache DataFusion sessions from a declarative, immutable profile.

The public names are imported when first used (PEP 562 ``__getattr__``): ``import dfsession``,
``dfsession --version`` and ``--help`` load neither DataFusion nor pyarrow, and a program that
only loads a profile never loads the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dfsession._version import VERSION

if TYPE_CHECKING:
    from dfsession.checkup import DoctorReport, doctor
    from dfsession.errors import (
        DfSessionError,
        IncompatibleVersionsError,
        NotPortableError,
        ProfileError,
        QueryError,
        SchemaMismatchError,
        SqlPolicyError,
        StepFailedError,
        StepOrderError,
    )
    from dfsession.pipeline.cache import SessionCache
    from dfsession.pipeline.ordering import (
        insert_after,
        insert_before,
        replace_step,
        without_step,
    )
    from dfsession.pipeline.portability import Unportable
    from dfsession.pipeline.step import InstallStep, SessionBuild
    from dfsession.profile.model import SessionProfile, load_profile
    from dfsession.record import StepRecord
    from dfsession.session import BuiltSession, SessionContextBuilder, default_steps

__version__ = VERSION

#: Each public name but ``__version__`` and the module it lives in.
_HOMES = {
    "BuiltSession": "dfsession.session",
    "DfSessionError": "dfsession.errors",
    "DoctorReport": "dfsession.checkup",
    "IncompatibleVersionsError": "dfsession.errors",
    "InstallStep": "dfsession.pipeline.step",
    "NotPortableError": "dfsession.errors",
    "ProfileError": "dfsession.errors",
    "QueryError": "dfsession.errors",
    "SchemaMismatchError": "dfsession.errors",
    "SessionBuild": "dfsession.pipeline.step",
    "SessionCache": "dfsession.pipeline.cache",
    "SessionContextBuilder": "dfsession.session",
    "SessionProfile": "dfsession.profile.model",
    "SqlPolicyError": "dfsession.errors",
    "StepFailedError": "dfsession.errors",
    "StepOrderError": "dfsession.errors",
    "StepRecord": "dfsession.record",
    "Unportable": "dfsession.pipeline.portability",
    "default_steps": "dfsession.session",
    "doctor": "dfsession.checkup",
    "insert_after": "dfsession.pipeline.ordering",
    "insert_before": "dfsession.pipeline.ordering",
    "load_profile": "dfsession.profile.model",
    "replace_step": "dfsession.pipeline.ordering",
    "without_step": "dfsession.pipeline.ordering",
}

__all__ = [
    "BuiltSession",
    "DfSessionError",
    "DoctorReport",
    "IncompatibleVersionsError",
    "InstallStep",
    "NotPortableError",
    "ProfileError",
    "QueryError",
    "SchemaMismatchError",
    "SessionBuild",
    "SessionCache",
    "SessionContextBuilder",
    "SessionProfile",
    "SqlPolicyError",
    "StepFailedError",
    "StepOrderError",
    "StepRecord",
    "Unportable",
    "__version__",
    "default_steps",
    "doctor",
    "insert_after",
    "insert_before",
    "load_profile",
    "replace_step",
    "without_step",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then kept in the package)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dfsession' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
