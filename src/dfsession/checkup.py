"""The doctor: will this profile work here? Checks the environment without reading a row.

Every secret reference is set; every object store answers a listing of its prefix; every
dataset and discovery location exists; every Delta log opens at the declared version or time;
every native plugin the profile needs matches the installed DataFusion; a Ballista engine's
client fits this DataFusion and its scheduler accepts connections. Each check says what
it looked at, how it fared and, when it failed, the fix. Secret values are read (a store must
be opened to be asked) but never shown: errors have them masked.

The checks come in families, run in order (``FAMILIES``); a family reads what earlier ones
found (the stores that opened). A new kind of table adds a family, as Iceberg's does.
"""

from __future__ import annotations

import inspect
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs
import datafusion
from datafusion.catalog import Table

from dfsession.engine.delta import open_delta, open_latest
from dfsession.engine.listing import LISTABLE_KINDS, ListingError, open_listing
from dfsession.engine.providers import TABLE_PROVIDER
from dfsession.engine.stores import ObjectStores, StoreAccess, open_store
from dfsession.engine.text import one_line
from dfsession.engine.versions import (
    DELTALAKE,
    PluginGuard,
    PluginVersion,
    engine_versions,
    major,
)
from dfsession.errors import ProfileError
from dfsession.imports import ReferenceResolver
from dfsession.profile.datasets import (
    DeltaDataset,
    IcebergDataset,
    LocatedDataset,
    ProviderDataset,
)
from dfsession.profile.discovery import DiscoverDelta
from dfsession.profile.engine import SchedulerUrl
from dfsession.profile.locations import Location
from dfsession.profile.model import SessionProfile
from dfsession.profile.stores import ObjectStoreSpec
from dfsession.profile.values import SecretRef, given_fields

__all__ = [
    "FAMILIES",
    "Check",
    "CheckFamily",
    "CheckStatus",
    "DoctorReport",
    "DoctorRun",
    "doctor",
]

CheckStatus = Literal["ok", "failed", "skipped"]
#: How long the doctor waits for a Ballista scheduler to accept a connection.
_CONNECT_TIMEOUT_S = 5.0
#: The words of a store that refuses the credentials it was given.
_REFUSED = re.compile(
    r"signature_?does_?not_?match|invalid_?access_?key_?id|access_?denied|forbidden|\b403\b",
    re.IGNORECASE,
)


@attrs.frozen
class Check:
    """One check: what it looked at (a dotted profile path), how it fared, the fix if it failed."""

    #: ``secret``, ``store``, ``plugin``, ``location``, ``delta``, or a family's own.
    kind: str
    what: str
    status: CheckStatus
    detail: str = ""
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        """The JSON-able form."""
        return {
            "kind": self.kind,
            "what": self.what,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
        }

    def line(self) -> str:
        """One line: status, kind, what, and the detail; the fix when it failed."""
        text = f"{self.status.upper():<7} {self.kind:<8} {self.what}"
        if self.detail:
            text += f": {self.detail}"
        if self.fix:
            text += f" -> fix: {self.fix}"
        return text


@attrs.frozen
class DoctorReport:
    """Every check the doctor ran: ``ok`` when none failed."""

    checks: tuple[Check, ...]
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        """True when no check failed (skipped ones say why they could not run)."""
        return not self.failures

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(check for check in self.checks if check.status == "failed")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form: ``ok``, counts per status and every check."""
        counts = {status: 0 for status in ("ok", "failed", "skipped")}
        for check in self.checks:
            counts[check.status] += 1
        return {
            "ok": self.ok,
            "fingerprint": self.fingerprint,
            "counts": counts,
            "checks": [check.to_dict() for check in self.checks],
        }


class DoctorRun:
    """One doctor run, as each family of checks reads it.

    ``profile`` and ``environ``; ``secrets`` the resolved secrets of each store (never to be
    shown), ``unset`` the stores with a secret missing, ``opened`` the stores that opened.
    """

    def __init__(self, profile: SessionProfile, environ: Mapping[str, str]) -> None:
        self.profile = profile
        self.environ = environ
        self.secrets: dict[str, dict[str, str]] = {}
        self.unset: set[str] = set()
        self.opened: dict[str, StoreAccess] = {}

    @property
    def stores(self) -> ObjectStores:
        """The stores that opened, as the engine layer reads them."""
        return ObjectStores(self.opened)


#: A family of checks: reads the run (and what earlier families found), yields its checks.
CheckFamily = Callable[[DoctorRun], Iterator[Check]]


def _secrets(run: DoctorRun) -> Iterator[Check]:
    """Every secret reference of every store resolves (its value is never shown)."""
    for name, spec in run.profile.object_stores.items():
        values: dict[str, str] = {}
        secret: SecretRef
        for key, secret in given_fields(spec.secrets).items():
            what = f"object_stores.{name}.secrets.{key} ({secret.describe()})"
            try:
                values[key] = secret.resolve(run.environ)
            except ValueError:
                run.unset.add(name)
                yield Check(
                    "secret",
                    what,
                    "failed",
                    "not set",
                    f"export {secret.env} before building the session",
                )
            else:
                yield Check("secret", what, "ok", "set")
        run.secrets[name] = values


def _stores(run: DoctorRun) -> Iterator[Check]:
    """Every store opens and answers a listing of its prefix."""
    for name, spec in run.profile.object_stores.items():
        what = f"object_stores.{name} ({spec.kind} {spec.url.redacted()})"
        if name in run.unset:
            yield Check("store", what, "skipped", "a secret it needs is not set")
            continue
        try:
            _engine_store, access = open_store(name, spec, run.secrets[name])
        except Exception as exc:
            yield Check("store", what, "failed", one_line(exc), f"fix object_stores.{name}")
            continue
        run.opened[name] = access
        yield _store_answers(what, name, spec, access)


def _store_answers(what: str, name: str, spec: ObjectStoreSpec, access: StoreAccess) -> Check:
    if spec.kind not in LISTABLE_KINDS:
        listed = ", ".join(LISTABLE_KINDS)
        return Check("store", what, "skipped", f"a {spec.kind} store cannot be listed ({listed})")
    try:
        entries = open_listing(spec.url, ObjectStores({name: access})).answers()
    except ListingError as exc:
        return Check("store", what, "failed", str(exc), _store_fix(name, spec, str(exc)))
    return Check("store", what, "ok", f"answered a listing ({entries} entries at the top)")


def _store_fix(name: str, spec: ObjectStoreSpec, error: str) -> str:
    if _REFUSED.search(error):
        refs = ", ".join(ref.describe() for ref in given_fields(spec.secrets).values())
        return (
            f"the store refused the credentials: check the values of {refs or 'its secrets'} "
            f"(object_stores.{name}.secrets)"
        )
    return f"check object_stores.{name}.url and its options (endpoint, bucket, region)"


def _locations(run: DoctorRun) -> Iterator[Check]:
    """Every dataset and discovery location exists."""
    for name, spec in run.profile.datasets.items():
        if isinstance(spec, LocatedDataset):  # a provider or Iceberg dataset has none
            yield _location(run, f"datasets.{name}.location", spec.location)
    for name, entry in run.profile.discover.items():
        yield _location(run, f"discover.{name}.location", entry.location)


def _location(run: DoctorRun, what: str, location: Location) -> Check:
    shown = f"{what} ({location.redacted()})"
    store = _store_name(run, location)
    spec = run.profile.object_stores.get(store)
    if spec is not None and spec.kind not in LISTABLE_KINDS:
        return Check("location", shown, "skipped", f"a {spec.kind} store cannot be listed")
    if store in run.unset:
        return Check("location", shown, "skipped", "its store's secrets are not set")
    try:
        found = open_listing(location, run.stores).exists()
    except ListingError as exc:
        return Check("location", shown, "failed", str(exc), f"fix {what}")
    if not found:
        return Check(
            "location", shown, "failed", "does not exist", f"write the data there or fix {what}"
        )
    return Check("location", shown, "ok", "exists")


def _store_name(run: DoctorRun, location: Location) -> str:
    """The name of the profile's store ``location`` lies in; ``""`` when none (or local)."""
    if location.is_local:
        return ""
    for name, spec in run.profile.object_stores.items():
        if spec.url.store_key == location.store_key:
            return name
    return ""


def _delta(run: DoctorRun) -> Iterator[Check]:
    """Every Delta table's log opens at the declared version or time (no data file is read)."""
    tables = {n: s for n, s in run.profile.datasets.items() if isinstance(s, DeltaDataset)}
    if not tables:
        return
    try:
        PluginGuard().check(DELTALAKE, required=True)
    except Exception:
        for name, spec in tables.items():
            yield Check("delta", _delta_what(name, spec), "skipped", "deltalake does not fit")
        return
    for name, spec in tables.items():
        yield _delta_log(run, name, spec)


def _delta_what(name: str, spec: DeltaDataset) -> str:
    at = f"version {spec.version}" if spec.version is not None else "latest version"
    at = f"time {spec.timestamp.text}" if spec.timestamp is not None else at
    return f"datasets.{name} (Delta log at {spec.location.redacted()}, {at})"


def _delta_log(run: DoctorRun, name: str, spec: DeltaDataset) -> Check:
    what = _delta_what(name, spec)
    stores = run.stores
    uri, options = stores.delta_uri(spec.location), stores.storage_options(spec.location)
    try:
        table = open_delta(
            uri,
            options,
            version=spec.version,
            timestamp=None if spec.timestamp is None else spec.timestamp.moment,
        )
    except Exception as exc:
        reason = stores.scrub(one_line(exc).replace(spec.location.text, spec.location.redacted()))
        return Check("delta", what, "failed", reason, _delta_fix(name, spec, uri, options))
    return Check("delta", what, "ok", f"readable at version {table.version()}")


def _delta_fix(name: str, spec: DeltaDataset, uri: str, options: dict[str, str] | None) -> str:
    """Which versions exist, when the table opens at its latest."""
    try:
        latest = open_latest(uri, options)
    except Exception:
        latest = None
    if latest is None:
        return f"fix datasets.{name}.location, or write the Delta table there"
    field = "timestamp" if spec.timestamp is not None else "version"
    return f"the table has versions 0 to {latest.version()}: fix datasets.{name}.{field}"


def _plugins(run: DoctorRun) -> Iterator[Check]:
    """Every native plugin the profile needs was built for the installed DataFusion."""
    profile = run.profile
    delta = any(isinstance(s, DeltaDataset) for s in profile.datasets.values()) or any(
        isinstance(s, DiscoverDelta) for s in profile.discover.values()
    )
    if delta:
        yield _plugin(DELTALAKE)
    resolver = ReferenceResolver(profile.features.import_paths)
    for name, spec in profile.datasets.items():
        if isinstance(spec, ProviderDataset):
            yield _provider(resolver, name, spec)


def _provider(resolver: ReferenceResolver, name: str, spec: ProviderDataset) -> Check:
    """A provider dataset's object, imported (never called) and checked by the guard."""
    what = f"datasets.{name}.ref ({spec.ref})"
    try:
        target = resolver.resolve(spec.ref, f"datasets.{name}.ref")
    except Exception as exc:
        return Check("plugin", what, "failed", one_line(exc), f"fix datasets.{name}.ref")
    if isinstance(target, Table):
        return Check("plugin", what, "ok", "a datafusion Table: no native plugin")
    if inspect.isclass(target) or not hasattr(target, TABLE_PROVIDER):
        return Check(
            "plugin", what, "skipped", "a callable: its provider is checked when it is built"
        )
    try:
        plugin = PluginGuard().check_object(target)
    except Exception as exc:
        reason, _, fix = one_line(exc).partition(" Fix: ")
        return Check("plugin", what, "failed", reason, fix)
    major = plugin.datafusion_major
    declared = "declares no DataFusion major" if major is None else f"built for DataFusion {major}"
    return Check("plugin", what, "ok", f"{plugin.package} {plugin.version}: {declared}")


def _plugin(package: str) -> Check:
    """One plugin package checked by the version guard a build runs."""
    guard = PluginGuard()
    installed = engine_versions()["datafusion"]
    what = f"{package} {guard.declared(package).version} with datafusion {installed}"
    try:
        plugin: PluginVersion = guard.check(package, required=True)
    except Exception as exc:
        reason, _, fix = one_line(exc).partition(" Fix: ")
        return Check("plugin", what, "failed", reason, fix)
    return Check("plugin", what, "ok", f"built for DataFusion {plugin.datafusion_major}")


#: The families of checks, in the order they run: each may read what earlier ones found.
#: The hook for new kinds of table: Iceberg catalogs and metadata files add a family of their
#: own after ``_delta`` (a function of a ``DoctorRun`` yielding ``Check`` values).
def _iceberg(run: DoctorRun) -> Iterator[Check]:
    """Every Iceberg table's catalog and metadata load at the declared snapshot (no data file)."""
    tables = {n: s for n, s in run.profile.datasets.items() if isinstance(s, IcebergDataset)}
    if not tables:
        return
    from dfsession.engine.iceberg import IcebergCatalogs, open_snapshot  # noqa: PLC0415 - optional

    catalogs = IcebergCatalogs(run.profile.catalogs, run.environ)
    for name, spec in tables.items():
        what = f"datasets.{name} (Iceberg table {spec.table} of catalog {spec.catalog})"
        try:
            _, snapshot = open_snapshot(f"datasets.{name}", spec, catalogs)
        except ProfileError as exc:
            path, message = exc.problems[0]
            yield Check("iceberg", what, "failed", catalogs.scrub(message), f"fix {path}")
            continue
        except Exception as exc:  # the catalog's own errors: a server, a file system
            reason = catalogs.scrub(one_line(exc))
            yield Check("iceberg", what, "failed", reason, f"check catalogs.{spec.catalog}")
            continue
        at = "no snapshot yet" if snapshot is None else f"snapshot {snapshot.snapshot_id}"
        yield Check("iceberg", what, "ok", f"metadata readable at {at}")


def _cluster(run: DoctorRun) -> Iterator[Check]:
    """A Ballista engine: the client is installed for this DataFusion, the scheduler listens.

    The scheduler is asked nothing but a connection: a query could hang on a cluster without
    executors, and the Python client cannot read the scheduler's version.
    """
    engine = run.profile.engine
    if engine.is_local:
        return
    from dfsession.engine.cluster import INSTALL_HINT, ballista_version  # noqa: PLC0415

    version = ballista_version()
    installed = datafusion.__version__
    if version is None:
        yield Check("cluster", "engine (Ballista client)", "failed", "not installed", INSTALL_HINT)
    elif major(version) != major(installed):
        detail = f"ballista {version} is built on DataFusion {major(version)}, not {installed}"
        yield Check("cluster", "engine (Ballista client)", "failed", detail, INSTALL_HINT)
    else:
        yield Check("cluster", "engine (Ballista client)", "ok", f"ballista {version}")
    if engine.url is None:
        detail = "standalone: the session starts its own scheduler and executor"
        yield Check("cluster", "engine.standalone", "skipped", detail)
        return
    yield _scheduler(engine.url)


def _scheduler(url: SchedulerUrl) -> Check:
    what = f"engine.url ({url})"
    try:
        with socket.create_connection((url.host, url.port), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        fix = "start the scheduler there (its executors after it), or fix engine.url"
        return Check("cluster", what, "failed", f"no scheduler answers: {exc}", fix)
    return Check("cluster", what, "ok", "the scheduler accepts connections")


FAMILIES: tuple[CheckFamily, ...] = (
    _secrets,
    _stores,
    _plugins,
    _cluster,
    _locations,
    _delta,
    _iceberg,
)


def doctor(
    profile: SessionProfile,
    *,
    environ: Mapping[str, str] | None = None,
    families: Sequence[CheckFamily] = FAMILIES,
) -> DoctorReport:
    """Check that ``profile`` can work here, reading no row; ``environ`` defaults to os.environ.

    ``families``: the checks to run, in order (``FAMILIES`` plus your own, say).
    """
    run = DoctorRun(profile, os.environ if environ is None else environ)
    checks = [check for family in families for check in family(run)]
    return DoctorReport(tuple(checks), profile.fingerprint())
