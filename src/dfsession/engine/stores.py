"""Object stores: one adapter per store kind, and the ``ObjectStores`` handoff later steps read.

An adapter turns a store spec and its resolved secrets into the engine's store object and a
``StoreAccess``: where the store's data is for deltalake (the real bucket, a local folder) and
deltalake's storage options. To add a store kind: a spec class in ``dfsession.profile.stores``
and one adapter here, in the ``match`` of ``open_store``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, assert_never

import attrs
from datafusion import SessionContext
from datafusion.object_store import AmazonS3, GoogleCloud, Http, LocalFileSystem, MicrosoftAzure

from dfsession.engine.text import one_line
from dfsession.errors import ProfileError, StepFailedError
from dfsession.profile.datasets import LocatedDataset
from dfsession.profile.locations import Location
from dfsession.profile.stores import (
    AzureStore,
    GcsStore,
    HttpStore,
    LocalStore,
    ObjectStoreSpec,
    S3Store,
)

__all__ = [
    "ObjectStores",
    "StoreAccess",
    "open_store",
    "register_store",
    "registration_failed",
    "require_path",
]


def _scrub(text: str, secrets: Mapping[str, str]) -> str:
    """``text`` with every value of ``secrets`` masked as ``***``."""
    for value in secrets.values():
        if value:
            text = text.replace(value, "***")
    return text


@attrs.frozen
class StoreAccess:
    """A registered object store as later steps need it; ``repr`` and equality omit secrets.

    ``host`` is the bucket or container deltalake reads (the URL's host unless the options
    name another); ``folder`` a local store's root folder.
    """

    name: str
    spec: ObjectStoreSpec
    host: str
    folder: str | None = None
    _storage_options: Mapping[str, str] = attrs.field(
        factory=dict, repr=False, eq=False, alias="storage_options"
    )
    _secrets: Mapping[str, str] = attrs.field(factory=dict, repr=False, eq=False, alias="secrets")

    @property
    def url(self) -> Location:
        """The URL the store is registered under."""
        return self.spec.url

    def owns(self, location: Location) -> bool:
        """Whether ``location`` is inside this store (same scheme and host)."""
        return location.scheme is not None and location.store_key == self.spec.url.store_key

    def local_path(self, location: Location) -> Path | None:
        """For a local store, the file path ``location`` names; ``None`` for other kinds."""
        return None if self.folder is None else Path(self.folder) / location.inner_path

    def delta_uri(self, location: Location) -> str:
        """``location`` as deltalake reads it: a file path for local stores, the real bucket."""
        path = self.local_path(location)
        if path is not None:
            return str(path)
        return location.text if self.host == location.host else location.on_host(self.host)

    def storage_options(self) -> dict[str, str]:
        """deltalake ``storage_options`` equivalent to this store (secret values included)."""
        return dict(self._storage_options)

    def scrub(self, text: str) -> str:
        """``text`` with every resolved secret value of this store masked as ``***``."""
        return _scrub(text, self._secrets)


class ObjectStores(Mapping[str, StoreAccess]):
    """The registered object stores by name: what the ``object_stores`` step provides.

    Read-only; empty when the profile declares none. Later steps and the query facade find
    the store a location lies in through it (``build.need(ObjectStores)``).
    """

    __slots__ = ("_stores",)

    def __init__(self, stores: Mapping[str, StoreAccess] | None = None) -> None:
        self._stores: dict[str, StoreAccess] = dict(stores or {})

    def __getitem__(self, name: str) -> StoreAccess:
        return self._stores[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._stores)

    def __len__(self) -> int:
        return len(self._stores)

    def __repr__(self) -> str:
        return f"ObjectStores({', '.join(map(repr, self._stores))})"

    def find(self, location: Location) -> StoreAccess | None:
        """The registered store ``location`` lies in, if any."""
        for store in self._stores.values():
            if store.owns(location):
                return store
        return None

    def local_path(self, location: Location) -> str | None:
        """The file path of a local location or of one in a local store; ``None`` if remote."""
        if location.is_local:
            return location.file_path
        store = self.find(location)
        found = None if store is None else store.local_path(location)
        return None if found is None else str(found)

    def delta_uri(self, location: Location) -> str:
        """The URI deltalake opens for ``location``."""
        if location.is_local:
            return location.file_path or ""
        store = self.find(location)
        return location.text if store is None else store.delta_uri(location)

    def storage_options(self, location: Location) -> dict[str, str] | None:
        """deltalake's storage options for ``location``: its store's; ``None`` when it has none."""
        store = None if location.is_local else self.find(location)
        return (store.storage_options() or None) if store is not None else None

    def scrub(self, text: str) -> str:
        """``text`` with every resolved secret value of every store masked as ``***``."""
        for store in self._stores.values():
            text = store.scrub(text)
        return text


def _given(options: Mapping[str, str | None]) -> dict[str, str]:
    """The options that have a value."""
    return {key: value for key, value in options.items() if value is not None}


def _flag(value: bool | None) -> str | None:
    """A yes/no option as deltalake reads it; ``None`` when not given."""
    if value is None:
        return None
    return "true" if value else "false"


#: The engine's store object for a spec, and how later steps reach the store.
Opened = tuple[Any, StoreAccess]


def _local(name: str, spec: LocalStore) -> Opened:
    prefix = spec.options.prefix
    if prefix is not None and not Path(prefix).is_dir():
        # LocalFileSystem panics (a BaseException) on a missing prefix: check first.
        raise ProfileError.at(
            f"object_stores.{name}.options.prefix",
            f"directory {prefix!r} does not exist; create it or fix the prefix",
        )
    access = StoreAccess(name, spec, spec.url.host, folder=prefix or "/")
    return LocalFileSystem(prefix=prefix), access


def _s3(name: str, spec: S3Store, secrets: Mapping[str, str]) -> Opened:
    options = spec.options
    bucket = spec.url.host if options.bucket is None else options.bucket
    store = AmazonS3(
        bucket_name=bucket,
        region=options.region,
        access_key_id=secrets.get("access_key_id"),
        secret_access_key=secrets.get("secret_access_key"),
        session_token=secrets.get("session_token"),
        endpoint=None if options.endpoint is None else options.endpoint.text,
        allow_http=bool(options.allow_http),
        imdsv1_fallback=bool(options.imdsv1_fallback),
    )
    delta = {
        "AWS_REGION": "us-east-1" if options.region is None else options.region,
        "AWS_ENDPOINT_URL": None if options.endpoint is None else options.endpoint.text,
        "AWS_ALLOW_HTTP": _flag(options.allow_http),
        "AWS_IMDSV1_FALLBACK": _flag(options.imdsv1_fallback),
        "AWS_ACCESS_KEY_ID": secrets.get("access_key_id"),
        "AWS_SECRET_ACCESS_KEY": secrets.get("secret_access_key"),
        "AWS_SESSION_TOKEN": secrets.get("session_token"),
    }
    return store, StoreAccess(name, spec, bucket, storage_options=_given(delta), secrets=secrets)


def _gcs(name: str, spec: GcsStore) -> Opened:
    options = spec.options
    account_file = options.service_account_path
    if account_file is not None and not Path(account_file).is_file():
        raise ProfileError.at(
            f"object_stores.{name}.options.service_account_path",
            f"file {account_file!r} does not exist; fix the path",
        )
    bucket = spec.url.host if options.bucket is None else options.bucket
    store = GoogleCloud(bucket_name=bucket, service_account_path=account_file)
    delta = _given({"google_service_account_path": account_file})
    return store, StoreAccess(name, spec, bucket, storage_options=delta)


def _azure(name: str, spec: AzureStore, secrets: Mapping[str, str]) -> Opened:
    options = spec.options
    container = spec.url.host if options.container is None else options.container
    store = MicrosoftAzure(
        container_name=container,
        account=options.account,
        access_key=secrets.get("access_key"),
        bearer_token=secrets.get("bearer_token"),
        client_id=options.client_id,
        client_secret=secrets.get("client_secret"),
        tenant_id=options.tenant_id,
        use_emulator=options.use_emulator,
        allow_http=options.allow_http,
        use_fabric_endpoint=options.use_fabric_endpoint,
    )
    delta = {
        "azure_storage_account_name": options.account,
        "azure_storage_client_id": options.client_id,
        "azure_storage_tenant_id": options.tenant_id,
        "azure_storage_use_emulator": _flag(options.use_emulator),
        "azure_allow_http": _flag(options.allow_http),
        "azure_use_fabric_endpoint": _flag(options.use_fabric_endpoint),
        "azure_storage_account_key": secrets.get("access_key"),
        "azure_storage_token": secrets.get("bearer_token"),
        "azure_storage_client_secret": secrets.get("client_secret"),
    }
    access = StoreAccess(name, spec, container, storage_options=_given(delta), secrets=secrets)
    return store, access


def _http(name: str, spec: HttpStore) -> Opened:
    return Http(spec.url.text), StoreAccess(name, spec, spec.url.host)


def open_store(name: str, spec: ObjectStoreSpec, secrets: Mapping[str, str]) -> Opened:
    """The engine's store object for one profile entry, and its ``StoreAccess``."""
    match spec:
        case LocalStore():
            return _local(name, spec)
        case S3Store():
            return _s3(name, spec, secrets)
        case GcsStore():
            return _gcs(name, spec)
        case AzureStore():
            return _azure(name, spec, secrets)
        case HttpStore():
            return _http(name, spec)
        case _:
            assert_never(spec)


def register_store(
    ctx: SessionContext, name: str, spec: ObjectStoreSpec, secrets: Mapping[str, str]
) -> StoreAccess:
    """Make one store and register it with ``ctx`` under its URL's scheme and host."""
    url = spec.url
    try:
        store, access = open_store(name, spec, secrets)
        ctx.register_object_store(url.prefix, store, url.host or None)
    except (KeyboardInterrupt, SystemExit, ProfileError):
        raise
    except BaseException as exc:  # the engine panics (a BaseException) on bad settings
        raise ProfileError.at(
            f"object_stores.{name}",
            "the engine rejected the store: " + _scrub(one_line(exc), secrets),
        ) from None
    return access


def require_path(name: str, path: str | None) -> None:
    """Fail, naming the dataset and the path, when a local path does not exist."""
    if path is not None and not Path(path).exists():
        raise ProfileError.at(
            f"datasets.{name}.location",
            f"dataset {name!r}: path {path!r} does not exist; "
            "write the data there or fix the location",
        )


def registration_failed(
    name: str, spec: LocatedDataset, exc: BaseException, stores: ObjectStores
) -> StepFailedError:
    """The error of a dataset the engine did not register, with credentials kept out of it."""
    location = spec.location
    where = location.redacted()
    reason = one_line(exc).replace(location.text, where)
    store = stores.find(location)
    if store is not None:
        reason = store.scrub(reason)
    elif not location.is_local:
        return StepFailedError(
            f"dataset {name!r} ({spec.format} at {where!r}): no [object_stores] entry covers "
            f"{location.root!r}; add one, such as [object_stores.x] url = {location.root!r} "
            "with its kind"
        )
    return StepFailedError(
        f"dataset {name!r} ({spec.format} at {where!r}): the engine could not register it: {reason}"
    )
