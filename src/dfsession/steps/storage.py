"""The ``object_stores`` step: register local, S3, GCS, Azure and HTTP stores under their URLs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import attrs

from dfsession.engine.cluster import REASONS
from dfsession.engine.stores import ObjectStores, StoreAccess, register_store
from dfsession.logs import get_logger
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.locations import Location
from dfsession.profile.model import SessionProfile
from dfsession.profile.stores import ObjectStoreSpec
from dfsession.profile.values import SecretRef, given_fields, resolve_secrets
from dfsession.record import StepRecord

__all__ = [
    "ObjectStoresStep",
]

log = get_logger(__name__)


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
        access: dict[str, StoreAccess] = {}
        for name, spec in stores.items():
            secrets = resolve_secrets(
                given_fields(spec.secrets), f"object_stores.{name}", os.environ
            )
            access[name] = register_store(build.ctx, name, spec, secrets)
            log.debug("dfsession.object_store", store=name, kind=spec.kind, url=spec.url.redacted())
        build.provide(ObjectStores(access))
        records = [_record(name, spec) for name, spec in stores.items()]
        return StepRecord(step=self.name, applied={"object_stores": records})

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Every store: a store registered by the client does not reach a cluster."""
        for name in profile.object_stores:
            yield Unportable(f"object_stores.{name}", REASONS["object_store"])
