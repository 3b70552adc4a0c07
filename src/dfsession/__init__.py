"""dfsession: build Apache DataFusion sessions from a declarative, immutable profile."""

from dfsession._version import VERSION

__version__ = VERSION
from dfsession.doctor import DoctorReport, doctor
from dfsession.errors import (
    DfSessionError,
    IncompatibleVersionsError,
    ProfileError,
    QueryError,
    SchemaMismatchError,
    SqlPolicyError,
    StepFailedError,
    StepOrderError,
)
from dfsession.pipeline.cache import SessionCache
from dfsession.pipeline.ordering import insert_after, insert_before, replace_step, without_step
from dfsession.pipeline.step import InstallStep, SessionBuild
from dfsession.profile.model import SessionProfile, load_profile
from dfsession.record import StepRecord
from dfsession.session import BuiltSession, SessionContextBuilder, default_steps

__all__ = [
    "BuiltSession",
    "DfSessionError",
    "DoctorReport",
    "IncompatibleVersionsError",
    "InstallStep",
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
    "__version__",
    "default_steps",
    "doctor",
    "insert_after",
    "insert_before",
    "load_profile",
    "replace_step",
    "without_step",
]
