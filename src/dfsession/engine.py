"""Facts about the installed engine libraries: versions, settings, the deltalake guard."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import datafusion
import pyarrow

from dfsession._version import VERSION
from dfsession.errors import IncompatibleVersionsError

if TYPE_CHECKING:
    from datafusion import SessionContext

__all__ = [
    "DELTALAKE_DATAFUSION_MAJORS",
    "check_delta_compatibility",
    "deltalake_datafusion_major",
    "engine_versions",
    "major",
    "one_line",
    "set_option",
]


def engine_versions() -> dict[str, str]:
    """The versions that decide how a session behaves: dfsession and its engine libraries."""
    import deltalake  # noqa: PLC0415 - paid by a build, not by `import dfsession`

    return {
        "dfsession": VERSION,
        "datafusion": datafusion.__version__,
        "deltalake": deltalake.__version__,
        "pyarrow": pyarrow.__version__,
    }


def major(version: str) -> int:
    """The major number of a version string such as ``55.0.0``."""
    return int(version.split(".", 1)[0])


_SETTING_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$")


def one_line(exc: BaseException) -> str:
    """An exception's text on one line, as error messages quote the engine."""
    return str(exc).replace("\n", " ")


def set_option(ctx: SessionContext, key: str, value: str) -> None:
    """Set an engine option on a live context with SQL ``SET``; the engine validates both.

    Raises ``ValueError`` with the engine's reason (unknown key, bad value) on one line.
    """
    if not _SETTING_NAME.match(key):
        raise ValueError(f"{key!r} is not a valid setting name")
    literal = "'" + value.replace("'", "''") + "'"
    try:
        ctx.sql(f"SET {key} = {literal}")
    except Exception as exc:
        reason = one_line(exc)
        raise ValueError(f"the engine rejected {value!r}: {reason}") from exc


#: The DataFusion major each deltalake minor release was built against. deltalake declares no
#: datafusion requirement in its package metadata (it links DataFusion statically and talks to
#: the ``datafusion`` package over FFI), so this table is the source when the metadata is
#: silent. Read from the crate versions compiled into the wheels: deltalake 1.6.6 embeds
#: datafusion 55.1.0 (``strings _internal.abi3.so | grep datafusion-ffi-``).
DELTALAKE_DATAFUSION_MAJORS: Mapping[str, int] = MappingProxyType({"1.6": 55})


_DATAFUSION_REQUIREMENT = re.compile(
    r"^\s*datafusion(?![\w.-])\s*(\[[^\]]*\])?\s*\(?\s*(?P<spec>[^;)]*)"
)


def deltalake_datafusion_major(
    deltalake_version: str, requirements: Iterable[str] = ()
) -> tuple[int | None, str]:
    """The DataFusion major a deltalake release was built for, and where that was read.

    First deltalake's own declared ``datafusion`` requirement (``importlib.metadata.requires``),
    then ``DELTALAKE_DATAFUSION_MAJORS``; ``(None, ...)`` when neither knows.
    """
    for requirement in requirements:
        match = _DATAFUSION_REQUIREMENT.match(requirement)
        if match is None:
            continue
        number = re.search(r"(==|===|>=|~=|>)\s*(\d+)", match.group("spec"))
        if number is not None:
            spec = requirement.split(";", 1)[0].strip()
            return int(number.group(2)), f"deltalake's declared requirement {spec!r}"
    minor = ".".join(deltalake_version.split(".")[:2])
    built_for = DELTALAKE_DATAFUSION_MAJORS.get(minor)
    if built_for is not None:
        return built_for, f"dfsession's table of deltalake releases (deltalake {minor}.x)"
    return None, "neither deltalake's metadata nor dfsession's table of deltalake releases"


def check_delta_compatibility(
    *,
    datafusion_version: str | None = None,
    deltalake_version: str | None = None,
    deltalake_requires: Iterable[str] | None = None,
    built_for: int | None = None,
) -> int:
    """Raise ``IncompatibleVersionsError`` unless deltalake was built for the installed DataFusion.

    Reads package metadata only and never loads deltalake's native code, so it is safe to run
    before any native call. ``built_for`` overrides what deltalake was built for. Returns the
    DataFusion major.
    """
    if datafusion_version is None:
        datafusion_version = datafusion.__version__
    if deltalake_version is None:
        deltalake_version = importlib.metadata.version("deltalake")
    if built_for is None:
        if deltalake_requires is None:
            deltalake_requires = importlib.metadata.requires("deltalake") or ()
        built_for, source = deltalake_datafusion_major(deltalake_version, deltalake_requires)
    else:
        source = "the step's datafusion_major setting"
    installed = major(datafusion_version)
    if built_for is None:
        known = ", ".join(
            f"deltalake {k}.x -> DataFusion {v}" for k, v in DELTALAKE_DATAFUSION_MAJORS.items()
        )
        raise IncompatibleVersionsError(
            f"cannot tell which DataFusion deltalake {deltalake_version} was built for "
            f"({source} says; known: {known}); installed datafusion is {datafusion_version}. "
            "Registering a Delta table across DataFusion majors can crash the process. Fix: "
            "install a deltalake release dfsession knows for this datafusion, or, once you have "
            "checked, pass DeltaStep(datafusion_major=N)"
        )
    if built_for != installed:
        raise IncompatibleVersionsError(
            f"deltalake {deltalake_version} was built for DataFusion {built_for} (from {source}) "
            f"but datafusion {datafusion_version} is installed (major {installed}); registering "
            "a Delta table across DataFusion majors can crash the process. Fix: "
            f"pip install 'datafusion>={built_for},<{built_for + 1}', or install a deltalake "
            f"release built for DataFusion {installed}"
        )
    return installed
