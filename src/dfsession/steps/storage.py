"""The ``object_stores`` step: register local, S3, GCS, Azure and HTTP stores under their URLs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from datafusion.object_store import AmazonS3, GoogleCloud, Http, LocalFileSystem, MicrosoftAzure

from dfsession.engine import one_line
from dfsession.errors import ProfileError
from dfsession.locations import ObjectStores, StoreAccess, redact_location
from dfsession.logs import get_logger
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.sections import ObjectStoreConfig
from dfsession.record import StepRecord

__all__ = [
    "ObjectStoresStep",
]

log = get_logger(__name__)


def _resolve_secrets(
    name: str, config: ObjectStoreConfig, environ: Mapping[str, str]
) -> dict[str, str]:
    """Every secret of one store, read now; a missing variable names its profile path."""
    values: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for key, secret in config.secrets.items():
        try:
            values[key] = secret.resolve(environ)
        except ValueError as exc:
            problems.append((f"object_stores.{name}.secrets.{key}", str(exc)))
    if problems:
        raise ProfileError(problems)
    return values


def _make_store(name: str, config: ObjectStoreConfig, secrets: Mapping[str, str]) -> Any:
    """The ``datafusion.object_store`` object for one profile entry."""
    options = dict(config.options)
    if config.kind == "local":
        prefix = options.get("prefix")
        if prefix is not None and not Path(str(prefix)).is_dir():
            # LocalFileSystem panics (a BaseException) on a missing prefix: check first.
            raise ProfileError(
                [
                    (
                        f"object_stores.{name}.options.prefix",
                        f"directory {prefix!r} does not exist; create it or fix the prefix",
                    )
                ]
            )
        return LocalFileSystem(prefix=None if prefix is None else str(prefix))
    if config.kind == "s3":
        return AmazonS3(
            bucket_name=str(options.get("bucket", config.host)),
            region=options.get("region"),
            access_key_id=secrets.get("access_key_id"),
            secret_access_key=secrets.get("secret_access_key"),
            session_token=secrets.get("session_token"),
            endpoint=options.get("endpoint"),
            allow_http=bool(options.get("allow_http", False)),
            imdsv1_fallback=bool(options.get("imdsv1_fallback", False)),
        )
    if config.kind == "gcs":
        account_file = options.get("service_account_path")
        if account_file is not None and not Path(str(account_file)).is_file():
            raise ProfileError(
                [
                    (
                        f"object_stores.{name}.options.service_account_path",
                        f"file {account_file!r} does not exist; fix the path",
                    )
                ]
            )
        return GoogleCloud(
            bucket_name=str(options.get("bucket", config.host)),
            service_account_path=options.get("service_account_path"),
        )
    if config.kind == "azure":
        return MicrosoftAzure(
            container_name=str(options.get("container", config.host)),
            account=options.get("account"),
            access_key=secrets.get("access_key"),
            bearer_token=secrets.get("bearer_token"),
            client_id=options.get("client_id"),
            client_secret=secrets.get("client_secret"),
            tenant_id=options.get("tenant_id"),
            use_emulator=options.get("use_emulator"),
            allow_http=options.get("allow_http"),
            use_fabric_endpoint=options.get("use_fabric_endpoint"),
        )
    return Http(config.url)


def _record(name: str, config: ObjectStoreConfig) -> dict[str, Any]:
    """What the record shows of a store: never a secret value, only where it comes from."""
    options = {
        key: redact_location(value) if isinstance(value, str) else value
        for key, value in config.options.items()
    }
    return {
        "name": name,
        "url": redact_location(config.url),
        "kind": config.kind,
        "options": options,
        "secrets": {key: secret.describe() for key, secret in config.secrets.items()},
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
        for name, config in stores.items():
            secrets = _resolve_secrets(name, config, environ)
            store_access = StoreAccess(
                name=name,
                url=config.url,
                kind=config.kind,
                options=dict(config.options),
                secrets=secrets,
            )
            try:
                store = _make_store(name, config, secrets)
                build.ctx.register_object_store(config.scheme, store, config.host or None)
            except (KeyboardInterrupt, SystemExit, ProfileError):
                raise
            except BaseException as exc:  # the engine panics (a BaseException) on bad settings
                raise ProfileError(
                    [
                        (
                            f"object_stores.{name}",
                            "the engine rejected the store: " + store_access.scrub(one_line(exc)),
                        )
                    ]
                ) from None
            access[name] = store_access
            records.append(_record(name, config))
            log.debug(
                "dfsession.object_store",
                store=name,
                kind=config.kind,
                url=redact_location(config.url),
            )
        build.provide(ObjectStores(access))
        return StepRecord(step=self.name, applied={"object_stores": records})
