"""The installed engine libraries, and one guard that a native plugin fits the DataFusion installed.

A native plugin is a compiled library that hands the engine FFI objects: deltalake's Delta
table provider, PyIceberg's, a ``format = "provider"`` dataset's object, planner capsules.
Handing the engine an FFI object built for another DataFusion major fails (or, with some older
pairs, crashes the process), so every such hand-off goes through ``PluginGuard``:

- ``guard.check(package)`` before the object reaches the engine: the DataFusion major the
  package declares (its ``datafusion`` requirement, ``KNOWN_DATAFUSION_MAJORS``, or the guard's
  override) against the installed one; ``IncompatibleVersionsError`` when they differ. The
  answer, a ``PluginVersion``, says what was found even when the package declares nothing.
- ``guard.declared(package)``: the same facts without raising (to choose another path).
- ``with guard.handing(plugin):`` around the engine call: the engine's own
  ``ImportError: Incompatible DataFusion ... major version X; expected Y`` becomes
  ``IncompatibleVersionsError`` naming the package, both majors and the way out.
- ``guard.check_object(obj)``: ``check`` for the distribution ``obj`` comes from
  (``package_of(obj)``; an object from no installed distribution passes, declaring nothing).
- ``NativePlugins``: the plugins a build used, for ``report()["versions"]``; a guard made
  with ``guard.noting(plugins)`` notes every plugin it checks there.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs
import datafusion
import pyarrow

from dfsession._version import VERSION
from dfsession.errors import IncompatibleVersionsError

if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

# packaging is imported by the functions that read versions: a build without native plugins
# (Delta, providers, planner objects) never needs it.

__all__ = [
    "DELTALAKE",
    "DELTALAKE_DATAFUSION_MAJORS",
    "KNOWN_DATAFUSION_MAJORS",
    "NativePlugins",
    "PluginGuard",
    "PYICEBERG_CORE",
    "PluginVersion",
    "check_delta_compatibility",
    "declared_datafusion_major",
    "deltalake_datafusion_major",
    "engine_refusal",
    "engine_versions",
    "major",
    "package_of",
]

#: The distribution name of deltalake, the Delta plugin.
DELTALAKE = "deltalake"
#: The distribution name of pyiceberg-core, whose table provider PyIceberg tables hand over.
PYICEBERG_CORE = "pyiceberg-core"


def engine_versions() -> dict[str, str]:
    """The versions that decide how a session behaves: dfsession and its engine libraries.

    deltalake's is read from its package metadata: a build without Delta tables never loads it.
    """
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    """The installed versions, read once: a process cannot swap the libraries it has loaded."""
    return (
        ("dfsession", VERSION),
        ("datafusion", datafusion.__version__),
        (DELTALAKE, importlib.metadata.version(DELTALAKE)),
        ("pyarrow", pyarrow.__version__),
    )


def major(version: str) -> int:
    """The major number of a version such as ``55.0.0``; ``InvalidVersion`` (a ``ValueError``)."""
    from packaging.version import Version  # noqa: PLC0415 - start-up time (~20 ms)

    return Version(version).major


#: The DataFusion major releases of a native plugin were built against, by distribution name
#: and PEP 440 specifier of the release, for plugins whose package metadata is silent.
#: deltalake declares no datafusion requirement (it links DataFusion statically and talks to
#: the ``datafusion`` package over FFI); read from the crate versions compiled into the wheels
#: (``strings _internal.abi3.so | grep datafusion-ffi-``): deltalake 1.6.6 embeds datafusion-ffi
#: 55.1.0, deltalake 1.6.2 datafusion-ffi 54.0.0 (the last release for DataFusion 54, the set
#: Apache Ballista 54 pins; 1.6.3 crashes with DataFusion 54).
KNOWN_DATAFUSION_MAJORS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        DELTALAKE: MappingProxyType({"==1.6.2": 54, ">=1.6.3,<1.7": 55}),
        # PyIceberg's table provider: pyiceberg-core 0.11.0 embeds datafusion-ffi 54.1.0.
        PYICEBERG_CORE: MappingProxyType({">=0.11,<0.12": 54}),
    }
)
#: deltalake's entry of ``KNOWN_DATAFUSION_MAJORS``.
DELTALAKE_DATAFUSION_MAJORS: Mapping[str, int] = KNOWN_DATAFUSION_MAJORS[DELTALAKE]

#: What the engine raises when handed an FFI object built for another DataFusion major.
_ENGINE_REFUSAL = re.compile(
    r"Incompatible DataFusion (?P<kind>[\w ]+?) major version (?P<found>\d+); "
    r"expected (?P<expected>\d+)"
)


@attrs.frozen
class PluginVersion:
    """What the guard knows of one native plugin.

    ``datafusion_major`` is the major it was built for (``None``: it declares none), and
    ``source`` where that was read.
    """

    package: str
    version: str
    datafusion_major: int | None
    source: str

    def report_entries(self) -> dict[str, str]:
        """Its ``report()["versions"]`` entries: its version, the DataFusion major it declares."""
        built_for = "undeclared" if self.datafusion_major is None else str(self.datafusion_major)
        return {self.package: self.version, f"{self.package}.datafusion_major": built_for}


def _datafusion_requirement(requirements: Iterable[str]) -> Requirement | None:
    """The requirement on the ``datafusion`` package among ``requirements`` (markers ignored)."""
    from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415 - start-up time (~20 ms)
    from packaging.utils import canonicalize_name  # noqa: PLC0415 - start-up time (~20 ms)

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
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415 - start-up time (~20 ms)

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


def declared_datafusion_major(
    package: str, version: str, requirements: Iterable[str] = ()
) -> tuple[int | None, str]:
    """The DataFusion major a release of ``package`` was built for, and where that was read.

    First the package's own declared ``datafusion`` requirement, when it admits exactly one
    major; then ``KNOWN_DATAFUSION_MAJORS``; ``(None, ...)`` when neither knows.
    """
    requirement = _datafusion_requirement(requirements)
    note = ""
    if requirement is not None:
        majors = _admitted_majors(requirement.specifier)
        if len(majors) == 1:
            return next(iter(majors)), f"{package}'s declared requirement {str(requirement)!r}"
        note = f"; its declared {str(requirement)!r} admits more than one major"
    for releases, built_for in KNOWN_DATAFUSION_MAJORS.get(package, {}).items():
        if _is_release_in(version, releases):
            return built_for, (
                f"dfsession's table of {package} releases ({package} {releases}{note})"
            )
    return None, f"neither {package}'s metadata nor dfsession's table of releases says{note}"


def deltalake_datafusion_major(
    deltalake_version: str, requirements: Iterable[str] = ()
) -> tuple[int | None, str]:
    """``declared_datafusion_major`` for deltalake."""
    return declared_datafusion_major(DELTALAKE, deltalake_version, requirements)


def _is_release_in(version: str, releases: str) -> bool:
    """Whether ``version`` is one of ``releases`` (a specifier set); ``False`` if unreadable."""
    from packaging.specifiers import SpecifierSet  # noqa: PLC0415 - start-up time (~20 ms)
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415 - start-up time (~20 ms)

    try:
        return SpecifierSet(releases).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def _installed_datafusion(text: str) -> Version:
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415 - start-up time (~20 ms)

    try:
        return Version(text)
    except InvalidVersion:
        raise IncompatibleVersionsError(
            f"cannot read the installed datafusion's version {text!r} (not a PEP 440 version), "
            "so cannot tell whether a native plugin (deltalake, a table provider) can work with "
            "it; handing the engine a plugin built for another DataFusion major can crash the "
            "process. Fix: install a datafusion release (pip install --force-reinstall datafusion)"
        ) from None


def _check_declared_requirement(
    plugin: str, requirement: Requirement | None, text: str, installed: Version
) -> None:
    """A plugin's own ``datafusion`` requirement, when it declares one, admits ``installed``."""
    if requirement is None or requirement.specifier.contains(installed, prereleases=True):
        return
    raise IncompatibleVersionsError(
        f"{plugin} requires {str(requirement)!r} but datafusion {text} is installed; handing "
        "the engine a plugin built for another DataFusion major can crash the process. "
        f"Fix: pip install '{requirement.name}{requirement.specifier}'"
    )


def _override_hint(package: str) -> str:
    if package == DELTALAKE:
        return "DeltaStep(datafusion_major=N)"
    return f"PluginGuard(overrides={{{package!r}: N}})"


def _module_of(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else type(obj).__module__


def package_of(obj: object) -> str | None:
    """The installed distribution named like the top-level module ``obj`` comes from.

    ``deltalake`` for a ``DeltaTable``, ``pyiceberg-core`` for ``pyiceberg_core``; ``None``
    when no distribution has that name (a module on ``features.import_paths``, or one shipped
    under another name). By name, as ``importlib.metadata.packages_distributions()`` reads
    every installed distribution's file list (seconds).
    """
    top = _module_of(obj).partition(".")[0]
    try:
        return str(importlib.metadata.distribution(top).metadata["Name"])
    except importlib.metadata.PackageNotFoundError:
        return None


def engine_refusal(exc: BaseException, plugin: PluginVersion) -> IncompatibleVersionsError | None:
    """The engine's refusal of an FFI object from ``plugin``, as ``IncompatibleVersionsError``.

    ``None`` when ``exc`` is not the engine's ``Incompatible DataFusion ... major version``.
    """
    found = _ENGINE_REFUSAL.search(str(exc)) if isinstance(exc, ImportError) else None
    if found is None:
        return None
    built_for, expected = int(found["found"]), int(found["expected"])
    return IncompatibleVersionsError(
        f"the {found['kind']} from {plugin.package} {plugin.version} was built for DataFusion "
        f"{built_for}, but the installed datafusion {datafusion.__version__} expects DataFusion "
        f"{expected}; the engine refused it. Fix: install a {plugin.package} release built for "
        f"DataFusion {expected}, or pip install 'datafusion>={built_for},<{built_for + 1}'",
        package=plugin.package,
        built_for=built_for,
        installed=expected,
    )


def _read_only(overrides: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(overrides))


@attrs.frozen
class PluginGuard:
    """The one version guard for every native plugin.

    ``overrides`` maps a distribution name to the DataFusion major it was built for, when
    dfsession cannot read it (``DeltaStep(datafusion_major=N)`` sets deltalake's).
    """

    overrides: Mapping[str, int] = attrs.field(factory=dict, converter=_read_only)
    #: Where each plugin checked is noted (the build's), if anywhere.
    seen: NativePlugins | None = attrs.field(default=None, eq=False, repr=False)

    def noting(self, seen: NativePlugins | None) -> PluginGuard:
        """This guard, noting the plugins it checks in ``seen``."""
        return attrs.evolve(self, seen=seen)

    def declared(self, package: str) -> PluginVersion:
        """What ``package`` declares, without raising for a mismatch (the override wins)."""
        version = _package_version(package)
        if package in self.overrides:
            return PluginVersion(package, version, self.overrides[package], _OVERRIDE)
        requires = _package_requires(package)
        built_for, source = declared_datafusion_major(package, version, requires)
        return PluginVersion(package, version, built_for, source)

    def check(self, package: str, *, required: bool = False) -> PluginVersion:
        """Raise ``IncompatibleVersionsError`` unless ``package`` fits the installed DataFusion.

        Reads package metadata only, never the plugin's native code: safe before any native
        call. ``required``: also refuse a plugin that declares no major (deltalake: some
        pairs crash the process). Returns what was found.
        """
        override = self.overrides.get(package)
        requires = () if override is not None else _package_requires(package)
        plugin = _guard(
            package,
            _package_version(package),
            requires,
            datafusion.__version__,
            override=override,
            required=required,
        )
        if self.seen is not None:
            self.seen.add(plugin)
        return plugin

    def check_object(self, obj: object) -> PluginVersion:
        """``check`` for the package ``obj`` comes from (``package_of``).

        An object from no installed distribution (a module on ``features.import_paths``)
        declares nothing: it passes, noted under its top-level module's name.
        """
        package = package_of(obj)
        if package is not None:
            return self.check(package)
        module = _module_of(obj).partition(".")[0]
        plugin = PluginVersion(module, "(no package)", None, "no installed distribution ships it")
        if self.seen is not None:
            self.seen.add(plugin)
        return plugin

    @contextmanager
    def handing(self, plugin: PluginVersion | str) -> Iterator[None]:
        """Around an engine call taking ``plugin``'s FFI object: its refusal, translated.

        ``plugin`` may be a package name, read (``declared``) only if the engine refuses.
        """
        try:
            yield
        except ImportError as exc:
            found = self.declared(plugin) if isinstance(plugin, str) else plugin
            refusal = engine_refusal(exc, found)
            if refusal is None:
                raise
            raise refusal from exc


def _package_requires(package: str) -> tuple[str, ...]:
    try:
        return tuple(importlib.metadata.requires(package) or ())
    except importlib.metadata.PackageNotFoundError:
        return ()


def _package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


#: Where a ``PluginVersion`` read from ``PluginGuard.overrides`` says it was read.
_OVERRIDE = "the guard's override"


def _guard(
    package: str,
    version: str,
    requires: Iterable[str],
    datafusion_version: str,
    *,
    override: int | None,
    required: bool,
) -> PluginVersion:
    """The guard on explicit facts: what the plugin declares, checked against the installed."""
    installed = _installed_datafusion(datafusion_version)
    if override is not None:
        plugin = PluginVersion(package, version, override, _OVERRIDE)
    else:
        requires = tuple(requires)
        requirement = _datafusion_requirement(requires)
        _check_declared_requirement(
            f"{package} {version}", requirement, datafusion_version, installed
        )
        plugin = PluginVersion(
            package, version, *declared_datafusion_major(package, version, requires)
        )
    _refuse_mismatch(plugin, datafusion_version, installed, required=required)
    return plugin


def _refuse_mismatch(
    plugin: PluginVersion, text: str, installed: Version, *, required: bool
) -> None:
    """Raise when ``plugin`` declares another major than ``installed`` (or, required, none)."""
    name = f"{plugin.package} {plugin.version}"
    if plugin.datafusion_major is None:
        if not required:
            return
        known = ", ".join(
            f"{plugin.package} {k} -> DataFusion {v}"
            for k, v in KNOWN_DATAFUSION_MAJORS.get(plugin.package, {}).items()
        )
        raise IncompatibleVersionsError(
            f"cannot tell which DataFusion {name} was built for: {plugin.source} "
            f"(known: {known or 'none'}); installed datafusion is {text}. Handing the engine a "
            "plugin built for another DataFusion major can crash the process. Fix: install a "
            f"{plugin.package} release dfsession knows for this datafusion, or, once you have "
            f"checked, pass {_override_hint(plugin.package)}",
            package=plugin.package,
            installed=installed.major,
        )
    built_for = plugin.datafusion_major
    if built_for != installed.major:
        raise IncompatibleVersionsError(
            f"{name} was built for DataFusion {built_for} (from {plugin.source}) but "
            f"datafusion {text} is installed (major {installed.major}); handing the engine a "
            "plugin built for another DataFusion major can crash the process. Fix: "
            f"pip install 'datafusion>={built_for},<{built_for + 1}', or install a "
            f"{plugin.package} release built for DataFusion {installed.major}",
            package=plugin.package,
            built_for=built_for,
            installed=installed.major,
        )


def check_delta_compatibility(
    *,
    datafusion_version: str | None = None,
    deltalake_version: str | None = None,
    deltalake_requires: Iterable[str] | None = None,
    built_for: int | None = None,
) -> int:
    """The deltalake guard on explicit facts (tests, tools); the installed DataFusion major.

    Each fact left ``None`` is read from the installed packages; ``built_for`` overrides what
    deltalake was built for (and its declared requirement).
    """
    text = datafusion.__version__ if datafusion_version is None else datafusion_version
    if deltalake_requires is None:
        deltalake_requires = importlib.metadata.requires(DELTALAKE) or ()
    version = deltalake_version or importlib.metadata.version(DELTALAKE)
    _guard(DELTALAKE, version, deltalake_requires, text, override=built_for, required=True)
    return _installed_datafusion(text).major


class NativePlugins:
    """The native plugins a build handed the engine, for ``report()["versions"]``; thread-safe."""

    __slots__ = ("_lock", "_plugins")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plugins: dict[str, PluginVersion] = {}

    def add(self, plugin: PluginVersion) -> None:
        """Note that the build used ``plugin``."""
        with self._lock:
            self._plugins[plugin.package] = plugin

    def report_entries(self) -> dict[str, str]:
        """Every plugin's version and declared DataFusion major, by package, sorted."""
        with self._lock:
            plugins = sorted(self._plugins.items())
        entries: dict[str, str] = {}
        for _, plugin in plugins:
            entries.update(plugin.report_entries())
        return entries
