"""Registered object stores and dataset locations: the store a location lies in, local paths,
Delta targets, secret scrubbing."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import assert_never

import attrs

from dfsession.errors import ProfileError
from dfsession.profile.locations import Location
from dfsession.profile.stores import (
    AzureStore,
    GcsStore,
    HttpStore,
    LocalStore,
    ObjectStoreSpec,
    S3Store,
)
from dfsession.profile.values import given_fields

__all__ = [
    "ObjectStores",
    "StoreAccess",
    "dataset_local_path",
    "delta_target",
    "find_store",
    "local_path",
    "require_path",
]


@attrs.frozen
class StoreAccess:
    """A registered object store as later steps need it: its spec and its resolved secrets.

    Built by the ``object_stores`` step, the only place secrets are resolved; ``repr`` and
    equality leave the resolved secrets out.
    """

    name: str
    spec: ObjectStoreSpec
    _secrets: Mapping[str, str] = attrs.field(repr=False, eq=False, alias="secrets")

    @property
    def url(self) -> Location:
        """The URL the store is registered under."""
        return self.spec.url

    def owns(self, location: Location) -> bool:
        """Whether ``location`` is inside this store (same scheme and host)."""
        return location.scheme is not None and location.store_key == self.spec.url.store_key

    def local_path(self, location: Location) -> Path | None:
        """For a local store, the file path ``location`` names; ``None`` for other kinds."""
        if not isinstance(self.spec, LocalStore):
            return None
        return Path(self.spec.options.prefix or "/") / location.inner_path

    def delta_uri(self, location: Location) -> str:
        """``location`` as deltalake reads it: a file path for local stores, the real bucket."""
        path = self.local_path(location)
        if path is not None:
            return str(path)
        real = _real_host(self.spec)
        if real and real != location.host:
            return location.on_host(real)
        return location.text

    def scrub(self, text: str) -> str:
        """``text`` with every resolved secret value of this store masked as ``***``."""
        for value in self._secrets.values():
            if value:
                text = text.replace(value, "***")
        return text

    def delta_storage_options(self) -> dict[str, str]:
        """deltalake ``storage_options`` equivalent to this store (secret values included)."""
        names = _DELTA_OPTION_NAMES.get(self.spec.kind, {})
        out: dict[str, str] = {}
        for key, value in (*given_fields(self.spec.options).items(), *self._secrets.items()):
            target = names.get(key)
            if target is not None:
                out[target] = _option_text(value)
        if isinstance(self.spec, S3Store) and "AWS_REGION" not in out:
            out["AWS_REGION"] = "us-east-1"
        return out


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

    def scrub(self, text: str) -> str:
        """``text`` with every resolved secret value of every store masked as ``***``."""
        for store in self._stores.values():
            text = store.scrub(text)
        return text


def _real_host(spec: ObjectStoreSpec) -> str | None:
    """The bucket or container a store's options name, when its URL's host is another name."""
    match spec:
        case S3Store():
            return spec.options.bucket
        case GcsStore():
            return spec.options.bucket
        case AzureStore():
            return spec.options.container
        case LocalStore() | HttpStore():
            return None
        case _:
            assert_never(spec)


# deltalake (object_store crate) option names for each profile option and secret, per store kind.
_DELTA_OPTION_NAMES: dict[str, dict[str, str]] = {
    "s3": {
        "region": "AWS_REGION",
        "endpoint": "AWS_ENDPOINT_URL",
        "allow_http": "AWS_ALLOW_HTTP",
        "imdsv1_fallback": "AWS_IMDSV1_FALLBACK",
        "access_key_id": "AWS_ACCESS_KEY_ID",
        "secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "session_token": "AWS_SESSION_TOKEN",
    },
    "gcs": {"service_account_path": "google_service_account_path"},
    "azure": {
        "account": "azure_storage_account_name",
        "client_id": "azure_storage_client_id",
        "tenant_id": "azure_storage_tenant_id",
        "use_emulator": "azure_storage_use_emulator",
        "allow_http": "azure_allow_http",
        "use_fabric_endpoint": "azure_use_fabric_endpoint",
        "access_key": "azure_storage_account_key",
        "bearer_token": "azure_storage_token",
        "client_secret": "azure_storage_client_secret",
    },
}


def _option_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def find_store(location: Location, stores: Mapping[str, StoreAccess]) -> StoreAccess | None:
    """The registered store ``location`` lies in, if any."""
    for store in stores.values():
        if store.owns(location):
            return store
    return None


def local_path(location: Location, stores: Mapping[str, StoreAccess]) -> str | None:
    """The local path of a dataset location, or ``None`` when it is remote."""
    if location.is_local:
        return location.file_path
    store = find_store(location, stores)
    found = store.local_path(location) if store is not None else None
    return None if found is None else str(found)


def require_path(name: str, path: str | None) -> None:
    """Fail, naming the dataset and the path, when a local path does not exist."""
    if path is not None and not os.path.exists(path):  # noqa: PTH110 - a third of Path's cost
        raise ProfileError.at(
            f"datasets.{name}.location",
            f"dataset {name!r}: path {path!r} does not exist; "
            "write the data there or fix the location",
        )


def dataset_local_path(
    name: str, location: Location, stores: Mapping[str, StoreAccess]
) -> str | None:
    """The local path of a dataset location (``None`` when remote); fail if it does not exist."""
    path = local_path(location, stores)
    require_path(name, path)
    return path


def delta_target(
    location: Location, stores: Mapping[str, StoreAccess]
) -> tuple[str, dict[str, str] | None]:
    """The URI deltalake opens for ``location``, and the storage options from its store."""
    if location.is_local:
        return location.file_path or "", None
    store = find_store(location, stores)
    if store is None:
        return location.text, None
    options = store.delta_storage_options()
    return store.delta_uri(location), options or None
