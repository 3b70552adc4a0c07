"""The installed engine libraries: their versions, and the guard that deltalake fits DataFusion."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs
import datafusion
import pyarrow
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dfsession._version import VERSION
from dfsession.errors import IncompatibleVersionsError

__all__ = [
    "DELTALAKE_DATAFUSION_MAJORS",
    "DeltaGuard",
    "check_delta_compatibility",
    "deltalake_datafusion_major",
    "engine_versions",
    "major",
]


def engine_versions() -> dict[str, str]:
    """The versions that decide how a session behaves: dfsession and its engine libraries.

    deltalake's is read from its package metadata: a build without Delta tables never loads it.
    """
    return {
        "dfsession": VERSION,
        "datafusion": datafusion.__version__,
        "deltalake": importlib.metadata.version("deltalake"),
        "pyarrow": pyarrow.__version__,
    }


def major(version: str) -> int:
    """The major number of a version such as ``55.0.0``; ``InvalidVersion`` (a ``ValueError``)."""
    return Version(version).major


#: The DataFusion major deltalake releases were built against, by PEP 440 specifier of the
#: deltalake version. deltalake declares no datafusion requirement in its package metadata (it
#: links DataFusion statically and talks to the ``datafusion`` package over FFI), so this table
#: is the source when the metadata is silent. Read from the crate versions compiled into the
#: wheels (``strings _internal.abi3.so | grep datafusion-ffi-``): deltalake 1.6.6 embeds
#: datafusion-ffi 55.1.0, deltalake 1.6.2 datafusion-ffi 54.0.0 (the last release for 54, the
#: set Apache Ballista 54 pins; 1.6.3 crashes with DataFusion 54).
DELTALAKE_DATAFUSION_MAJORS: Mapping[str, int] = MappingProxyType(
    {"==1.6.2": 54, ">=1.6.3,<1.7": 55}
)


def _datafusion_requirement(requirements: Iterable[str]) -> Requirement | None:
    """The requirement on the ``datafusion`` package among ``requirements`` (markers ignored)."""
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) == "datafusion":
            return requirement
    return None


def _admitted_majors(specifier: SpecifierSet) -> frozenset[int]:
    """The majors of the releases ``specifier`` admits (two past its last when it is open).

    What a specifier set admits starts at a version it names, just past one, or at a major's
    first release: probing those finds every major it admits among ``0`` to two past the
    highest it names, and an open upper end shows as more than one major.
    """
    named = []
    for item in specifier:
        try:
            named.append(Version(item.version.removesuffix(".*")))
        except InvalidVersion:  # an arbitrary ``===`` string: admits no release we can probe
            continue
    top = max((version.major for version in named), default=0)
    probes = {Version(str(number)) for number in range(top + 3)}
    probes |= {*named, *(Version(f"{version.base_version}.1") for version in named)}
    return frozenset(v.major for v in probes if specifier.contains(v, prereleases=True))


def deltalake_datafusion_major(
    deltalake_version: str, requirements: Iterable[str] = ()
) -> tuple[int | None, str]:
    """The DataFusion major a deltalake release was built for, and where that was read.

    First deltalake's own declared ``datafusion`` requirement (``importlib.metadata.requires``),
    when it admits exactly one major; then ``DELTALAKE_DATAFUSION_MAJORS``; ``(None, ...)``
    when neither knows.
    """
    requirement = _datafusion_requirement(requirements)
    note = ""
    if requirement is not None:
        majors = _admitted_majors(requirement.specifier)
        if len(majors) == 1:
            return next(iter(majors)), f"deltalake's declared requirement {str(requirement)!r}"
        note = f"; its declared {str(requirement)!r} admits more than one major"
    for releases, built_for in DELTALAKE_DATAFUSION_MAJORS.items():
        if _is_release_in(deltalake_version, releases):
            return built_for, (
                f"dfsession's table of deltalake releases (deltalake {releases}{note})"
            )
    return None, f"neither deltalake's metadata nor dfsession's table of releases says{note}"


def _is_release_in(version: str, releases: str) -> bool:
    """Whether ``version`` is one of ``releases`` (a specifier set); ``False`` if unreadable."""
    try:
        return SpecifierSet(releases).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def check_delta_compatibility(
    *,
    datafusion_version: str | None = None,
    deltalake_version: str | None = None,
    deltalake_requires: Iterable[str] | None = None,
    built_for: int | None = None,
) -> int:
    """Raise ``IncompatibleVersionsError`` unless deltalake was built for the installed DataFusion.

    Reads package metadata only and never loads deltalake's native code, so it is safe to run
    before any native call. ``built_for`` overrides what deltalake was built for (and its
    declared requirement). Returns the DataFusion major.
    """
    if datafusion_version is None:
        datafusion_version = datafusion.__version__
    if deltalake_version is None:
        deltalake_version = importlib.metadata.version("deltalake")
    installed = _installed_datafusion(datafusion_version)
    if built_for is None:
        if deltalake_requires is None:
            deltalake_requires = importlib.metadata.requires("deltalake") or ()
        requirements = tuple(deltalake_requires)
        requirement = _datafusion_requirement(requirements)
        _check_declared_requirement(deltalake_version, requirement, datafusion_version, installed)
        built_for, source = deltalake_datafusion_major(deltalake_version, requirements)
    else:
        source = "the step's datafusion_major setting"
    if built_for is None:
        known = ", ".join(
            f"deltalake {k} -> DataFusion {v}" for k, v in DELTALAKE_DATAFUSION_MAJORS.items()
        )
        raise IncompatibleVersionsError(
            f"cannot tell which DataFusion deltalake {deltalake_version} was built for: "
            f"{source} (known: {known}); installed datafusion is {datafusion_version}. "
            "Registering a Delta table across DataFusion majors can crash the process. Fix: "
            "install a deltalake release dfsession knows for this datafusion, or, once you have "
            "checked, pass DeltaStep(datafusion_major=N)"
        )
    if built_for != installed.major:
        raise IncompatibleVersionsError(
            f"deltalake {deltalake_version} was built for DataFusion {built_for} (from {source}) "
            f"but datafusion {datafusion_version} is installed (major {installed.major}); "
            "registering a Delta table across DataFusion majors can crash the process. Fix: "
            f"pip install 'datafusion>={built_for},<{built_for + 1}', or install a deltalake "
            f"release built for DataFusion {installed.major}"
        )
    return installed.major


def _installed_datafusion(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise IncompatibleVersionsError(
            f"cannot read the installed datafusion's version {text!r} (not a PEP 440 version), "
            "so cannot tell whether deltalake can work with it; registering a Delta table across "
            "DataFusion majors can crash the process. Fix: install a datafusion release "
            "(pip install --force-reinstall datafusion)"
        ) from None


def _check_declared_requirement(
    deltalake_version: str, requirement: Requirement | None, text: str, installed: Version
) -> None:
    """deltalake's own ``datafusion`` requirement, when it declares one, admits ``installed``."""
    if requirement is None or requirement.specifier.contains(installed, prereleases=True):
        return
    raise IncompatibleVersionsError(
        f"deltalake {deltalake_version} requires {str(requirement)!r} but datafusion {text} is "
        "installed; registering a Delta table across DataFusion majors can crash the process. "
        f"Fix: pip install '{requirement.name}{requirement.specifier}'"
    )


@attrs.frozen
class DeltaGuard:
    """The version guard as the build's delta step ran it, for Delta writes to run the same.

    ``datafusion_major`` is the step's override of what deltalake was built for (``None``:
    read it from deltalake's metadata or dfsession's table of releases).
    """

    datafusion_major: int | None = None

    def check(self) -> int:
        """``check_delta_compatibility`` with this guard's override; the DataFusion major."""
        return check_delta_compatibility(built_for=self.datafusion_major)
