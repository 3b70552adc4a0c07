"""Object store specs: one frozen class per kind, with typed options and secret references.

Every option and secret is optional: ``None`` is "not given", so the profile writes back
exactly what it was given (an explicit ``false`` stays, and so does the fingerprint).
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar, Literal

import attrs

from dfsession.profile.locations import Location
from dfsession.profile.values import FieldError, SecretRef, doc, optional_field, parsed_field

__all__ = [
    "STORE_KINDS",
    "AzureOptions",
    "AzureSecrets",
    "AzureStore",
    "GcsOptions",
    "GcsSecrets",
    "GcsStore",
    "HttpOptions",
    "HttpSecrets",
    "HttpStore",
    "LocalOptions",
    "LocalSecrets",
    "LocalStore",
    "ObjectStoreConfig",
    "ObjectStoreSpec",
    "S3Options",
    "S3Secrets",
    "S3Store",
]


def _option(text: str, example: Any = None) -> Any:
    return attrs.field(default=None, metadata=doc(text, example))


def _secret(text: str) -> Any:
    return optional_field(SecretRef.parse, text)


def _url(_inst: Any, _attribute: attrs.Attribute[Any], value: Location) -> None:
    if value.scheme is None:
        raise FieldError("url", f"expected a URL such as 's3://bucket' (got {value.text!r})")


def _kind_field(kind: str) -> Any:
    return attrs.field(default=kind, init=False, metadata=doc("the kind of object store"))


# --- options and secrets, per kind ------------------------------------------------------------


@attrs.frozen
class LocalOptions:
    """Options of a local file system store."""

    unknown_key: ClassVar[str] = "option for a local store"
    prefix: str | None = _option("the folder the store's paths are under (default: /)", "/data")


@attrs.frozen
class LocalSecrets:
    """A local store takes no secrets."""

    unknown_key: ClassVar[str] = "secret for a local store"


@attrs.frozen
class S3Options:
    """Options of an Amazon S3 (or S3-compatible) store."""

    unknown_key: ClassVar[str] = "option for an S3 store"
    bucket: str | None = _option(
        "the real bucket name, when the URL's host is another name", "lake-prod"
    )
    region: str | None = _option("the AWS region (deltalake defaults to us-east-1)", "eu-west-1")
    endpoint: Location | None = optional_field(
        Location.parse, "the URL of an S3-compatible server", example="http://127.0.0.1:9000"
    )
    allow_http: bool | None = _option("allow plain http to the endpoint")
    imdsv1_fallback: bool | None = _option("fall back to IMDSv1 for instance credentials")


@attrs.frozen
class S3Secrets:
    """Credentials of an S3 store, as secret references."""

    unknown_key: ClassVar[str] = "secret for an S3 store"
    access_key_id: SecretRef | None = _secret("the access key id")
    secret_access_key: SecretRef | None = _secret("the secret access key")
    session_token: SecretRef | None = _secret("a session token of temporary credentials")


@attrs.frozen
class GcsOptions:
    """Options of a Google Cloud Storage store."""

    unknown_key: ClassVar[str] = "option for a GCS store"
    bucket: str | None = _option(
        "the real bucket name, when the URL's host is another name", "lake-prod"
    )
    service_account_path: str | None = _option(
        "the service account JSON key file", "/secrets/gcs.json"
    )


@attrs.frozen
class GcsSecrets:
    """A GCS store takes no secrets (its key file is an option)."""

    unknown_key: ClassVar[str] = "secret for a GCS store"


@attrs.frozen
class AzureOptions:
    """Options of an Azure Blob Storage store."""

    unknown_key: ClassVar[str] = "option for an Azure store"
    container: str | None = _option(
        "the real container name, when the URL's host is another", "lake-prod"
    )
    account: str | None = _option("the storage account name", "lakeaccount")
    client_id: str | None = _option(
        "the service principal's client id", "00000000-0000-0000-0000-000000000001"
    )
    tenant_id: str | None = _option(
        "the service principal's tenant id", "00000000-0000-0000-0000-000000000002"
    )
    use_emulator: bool | None = _option("use the Azurite emulator")
    allow_http: bool | None = _option("allow plain http")
    use_fabric_endpoint: bool | None = _option("use the Microsoft Fabric endpoint")


@attrs.frozen
class AzureSecrets:
    """Credentials of an Azure store, as secret references."""

    unknown_key: ClassVar[str] = "secret for an Azure store"
    access_key: SecretRef | None = _secret("the storage account access key")
    bearer_token: SecretRef | None = _secret("a bearer token")
    client_secret: SecretRef | None = _secret("the service principal's client secret")


@attrs.frozen
class HttpOptions:
    """An HTTP store takes no options."""

    unknown_key: ClassVar[str] = "option for an HTTP store"


@attrs.frozen
class HttpSecrets:
    """An HTTP store takes no secrets."""

    unknown_key: ClassVar[str] = "secret for an HTTP store"


# --- the stores -------------------------------------------------------------------------------

_OPTIONS = "the store's options"
_SECRETS = "the store's credentials, as secret references"


@attrs.frozen
class _Store:
    """What every object store has: the URL it is registered under."""

    url: Location = parsed_field(
        Location.parse,
        "the URL the store is registered under; its scheme and host are the key",
        validator=_url,
    )


@attrs.frozen
class LocalStore(_Store):
    """A local file system registered under a URL (``local://data``), its paths under a prefix."""

    kind: Literal["local"] = _kind_field("local")
    options: LocalOptions = attrs.field(factory=LocalOptions, metadata=doc(_OPTIONS))
    secrets: LocalSecrets = attrs.field(factory=LocalSecrets, metadata=doc(_SECRETS))


@attrs.frozen
class S3Store(_Store):
    """An Amazon S3 (or S3-compatible) bucket."""

    kind: Literal["s3"] = _kind_field("s3")
    options: S3Options = attrs.field(factory=S3Options, metadata=doc(_OPTIONS))
    secrets: S3Secrets = attrs.field(factory=S3Secrets, metadata=doc(_SECRETS))


@attrs.frozen
class GcsStore(_Store):
    """A Google Cloud Storage bucket."""

    kind: Literal["gcs"] = _kind_field("gcs")
    options: GcsOptions = attrs.field(factory=GcsOptions, metadata=doc(_OPTIONS))
    secrets: GcsSecrets = attrs.field(factory=GcsSecrets, metadata=doc(_SECRETS))


@attrs.frozen
class AzureStore(_Store):
    """An Azure Blob Storage container."""

    kind: Literal["azure"] = _kind_field("azure")
    options: AzureOptions = attrs.field(factory=AzureOptions, metadata=doc(_OPTIONS))
    secrets: AzureSecrets = attrs.field(factory=AzureSecrets, metadata=doc(_SECRETS))


@attrs.frozen
class HttpStore(_Store):
    """A web server read over HTTP(S)."""

    kind: Literal["http"] = _kind_field("http")
    options: HttpOptions = attrs.field(factory=HttpOptions, metadata=doc(_OPTIONS))
    secrets: HttpSecrets = attrs.field(factory=HttpSecrets, metadata=doc(_SECRETS))


ObjectStoreSpec = LocalStore | S3Store | GcsStore | AzureStore | HttpStore
#: The name the profile used for an object store entry before the specs were typed.
ObjectStoreConfig = ObjectStoreSpec

#: The ``kind`` of each store spec, in the order the union lists them.
STORE_KINDS: tuple[str, ...] = tuple(
    attrs.fields(cls).kind.default for cls in typing.get_args(ObjectStoreSpec)
)
