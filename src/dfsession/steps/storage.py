"""The ``object_stores`` step: register local, S3, GCS, Azure and HTTP stores under their URLs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, assert_never

import attrs
from datafusion.object_store import AmazonS3, GoogleCloud, Http, LocalFileSystem, MicrosoftAzure

from dfsession.engine import one_line
from dfsession.errors import ProfileError
from dfsession.locations import ObjectStores, StoreAccess
from dfsession.logs import get_logger
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.locations import Location
from dfsession.profile.stores import (
    AzureStore,
    GcsStore,
    HttpStore,
    LocalStore,
    ObjectStoreSpec,
    S3Store,
)
from dfsession.profile.values import SecretRef, given_fields
from dfsession.record import StepRecord

__all__ = [
    "ObjectStoresStep",
]

log = get_logger(__name__)


def _resolve_secrets(
    name: str, spec: ObjectStoreSpec, environ: Mapping[str, str]
) -> dict[str, str]:
    """Every secret of one store, read now; a missing variable names its profile path."""
    values: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    secret: SecretRef
    for key, secret in given_fields(spec.secrets).items():
        try:
            values[key] = secret.resolve(environ)
        except ValueError as exc:
            problems.append((f"object_stores.{name}.secrets.{key}", str(exc)))
    if problems:
        raise ProfileError(problems)
    return values


def _local(name: str, spec: LocalStore) -> LocalFileSystem:
    prefix = spec.options.prefix
    if prefix is not None and not Path(prefix).is_dir():
        # LocalFileSystem panics (a BaseException) on a missing prefix: check first.
        raise ProfileError.at(
            f"object_stores.{name}.options.prefix",
            f"directory {prefix!r} does not exist; create it or fix the prefix",
        )
    return LocalFileSystem(prefix=prefix)


def _s3(spec: S3Store, secrets: Mapping[str, str]) -> AmazonS3:
    options = spec.options
    return AmazonS3(
        bucket_name=spec.url.host if options.bucket is None else options.bucket,
        region=options.region,
        access_key_id=secrets.get("access_key_id"),
        secret_access_key=secrets.get("secret_access_key"),
        session_token=secrets.get("session_token"),
        endpoint=None if options.endpoint is None else options.endpoint.text,
        allow_http=bool(options.allow_http),
        imdsv1_fallback=bool(options.imdsv1_fallback),
    )


def _gcs(name: str, spec: GcsStore) -> GoogleCloud:
    account_file = spec.options.service_account_path
    if account_file is not None and not Path(account_file).is_file():
        raise ProfileError.at(
            f"object_stores.{name}.options.service_account_path",
            f"file {account_file!r} does not exist; fix the path",
        )
    bucket = spec.options.bucket
    return GoogleCloud(
        bucket_name=spec.url.host if bucket is None else bucket,
        service_account_path=account_file,
    )


def _azure(spec: AzureStore, secrets: Mapping[str, str]) -> MicrosoftAzure:
    options = spec.options
    return MicrosoftAzure(
        container_name=spec.url.host if options.container is None else options.container,
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


def _make_store(name: str, spec: ObjectStoreSpec, secrets: Mapping[str, str]) -> Any:
    """The ``datafusion.object_store`` object for one profile entry."""
    match spec:
        case LocalStore():
            return _local(name, spec)
        case S3Store():
            return _s3(spec, secrets)
        case GcsStore():
            return _gcs(name, spec)
        case AzureStore():
            return _azure(spec, secrets)
        case HttpStore():
            return Http(spec.url.text)
        case _:
            assert_never(spec)


def _record(name: str, spec: ObjectStoreSpec) -> dict[str, Any]:
    """What the record shows of a store: never a secret value, only where it comes from."""
    options = {
        key: value.redacted() if isinstance(value, Location) else value
        for key, value in given_fields(spec.options).items()
    }
    secrets: dict[str, SecretRef] = given_fields(spec.secrets)
    return {
        "name": name,
        "url": spec.url.redacted(),
        "kind": spec.kind,
        "options": options,
        "secrets": {key: secret.describe() for key, secret in secrets.items()},
    }


@attrs.frozen(cache_hash=True)
class ObjectStoresStep:
    """Register each ``[object_stores]`` entry with the context under its URL's scheme and host.

    Secrets are resolved here, from the environment, and nowhere else; later steps (Delta)
    get them through ``build.need(ObjectStores)``.
    """

    name: str = "object_stores"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"object_stores"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Build and register every store; the record lists them with secrets described."""
        stores = build.profile.object_stores
        if not stores:
            build.provide(ObjectStores())
            return StepRecord.skipped(self.name, "no [object_stores] in the profile")
        environ = os.environ
        access: dict[str, StoreAccess] = {}
        records: list[dict[str, Any]] = []
        for name, spec in stores.items():
            secrets = _resolve_secrets(name, spec, environ)
            store_access = StoreAccess(name=name, spec=spec, secrets=secrets)
            _register(build, store_access, secrets)
            access[name] = store_access
            records.append(_record(name, spec))
            log.debug("dfsession.object_store", store=name, kind=spec.kind, url=spec.url.redacted())
        build.provide(ObjectStores(access))
        return StepRecord(step=self.name, applied={"object_stores": records})


def _register(build: SessionBuild, access: StoreAccess, secrets: Mapping[str, str]) -> None:
    """Make one store and register it with the context under its URL's scheme and host."""
    url = access.url
    try:
        store = _make_store(access.name, access.spec, secrets)
        build.ctx.register_object_store(url.prefix, store, url.host or None)
    except (KeyboardInterrupt, SystemExit, ProfileError):
        raise
    except BaseException as exc:  # the engine panics (a BaseException) on bad settings
        raise ProfileError.at(
            f"object_stores.{access.name}",
            "the engine rejected the store: " + access.scrub(one_line(exc)),
        ) from None
