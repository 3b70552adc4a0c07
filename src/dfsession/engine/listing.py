"""Listing folders: a local folder, or a prefix of an S3 store through ``pyarrow.fs``.

Discovery and the doctor read what lies under a location without reading a row. Local paths
(plain, ``file://`` or in a local store) are read from the disk; a location in an S3 store is
listed with the store's own settings and credentials (its ``StoreAccess``). Errors have the
store's secret values masked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import attrs
from pyarrow import fs

from dfsession.engine.stores import ObjectStores, StoreAccess
from dfsession.engine.text import one_line
from dfsession.profile.locations import Location
from dfsession.profile.stores import S3Store

__all__ = ["LISTABLE_KINDS", "Listing", "ListingError", "open_listing", "s3_filesystem"]

T = TypeVar("T")

#: The store kinds whose prefixes can be listed (besides local folders).
LISTABLE_KINDS = ("local", "s3")
#: Seconds to wait for an S3 server to connect and to answer: a listing is small.
_CONNECT_TIMEOUT = 5.0
_REQUEST_TIMEOUT = 30.0
_ATTEMPTS = 2


class ListingError(Exception):
    """A location that cannot be listed; the text names it (redacted) and says why."""


@attrs.frozen
class Listing:
    """What lies under one location: ``files()`` and ``exists()``.

    ``root`` is the location's path on ``filesystem`` (a local folder, or ``bucket/prefix``).
    """

    location: Location
    filesystem: fs.FileSystem = attrs.field(repr=False)
    root: str
    store: StoreAccess | None = attrs.field(default=None, repr=False)

    def exists(self) -> bool:
        """Whether the location is a file or a folder (a prefix with objects under it)."""
        info = self._call(lambda: self.filesystem.get_file_info(self.root))
        return bool(info.type != fs.FileType.NotFound)

    def files(self) -> list[str]:
        """Every file under the location, as a ``/``-separated path relative to it, sorted."""
        selector = fs.FileSelector(self.root, recursive=True)
        infos = self._call(lambda: self.filesystem.get_file_info(selector))
        base = self.root.rstrip("/") + "/"
        return sorted(
            info.path.removeprefix(base) for info in infos if info.type == fs.FileType.File
        )

    def answers(self) -> int:
        """List the location's first level (a store answering at all); how many entries."""
        selector = fs.FileSelector(self.root, recursive=False, allow_not_found=True)
        return len(self._call(lambda: self.filesystem.get_file_info(selector)))

    def _call(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as exc:
            reason = one_line(exc).replace(self.location.text, self.location.redacted())
            if self.store is not None:
                reason = self.store.scrub(reason)
            where = self.location.redacted()
            raise ListingError(f"{where!r} could not be listed: {reason}") from None


def open_listing(location: Location, stores: ObjectStores) -> Listing:
    """The listing of ``location``: a local folder, or a prefix in one of ``stores``.

    ``ListingError`` when no store covers a remote location or its kind cannot be listed.
    """
    path = stores.local_path(location)
    if path is not None:
        return Listing(location, fs.LocalFileSystem(), str(Path(path).absolute()))
    store = stores.find(location)
    if store is None:
        raise ListingError(
            f"no [object_stores] entry covers {location.root!r}; add one, such as "
            f"[object_stores.x] url = {location.root!r} with its kind"
        )
    if not isinstance(store.spec, S3Store):
        raise ListingError(
            f"{location.redacted()!r} lies in store {store.name!r} of kind {store.spec.kind!r}, "
            f"which cannot be listed (listed: local folders and {', '.join(LISTABLE_KINDS)} "
            "stores); declare its tables in [datasets]"
        )
    root = f"{store.host}/{location.inner_path}".rstrip("/")
    return Listing(location, s3_filesystem(store.storage_options()), root, store)


def s3_filesystem(options: Mapping[str, str]) -> fs.S3FileSystem:
    """A ``pyarrow.fs`` S3 file system from a store's storage options (deltalake's names)."""
    endpoint = options.get("AWS_ENDPOINT_URL")
    return fs.S3FileSystem(
        access_key=options.get("AWS_ACCESS_KEY_ID"),
        secret_key=options.get("AWS_SECRET_ACCESS_KEY"),
        session_token=options.get("AWS_SESSION_TOKEN"),
        region=options.get("AWS_REGION"),
        endpoint_override=endpoint,
        scheme="http" if endpoint is not None and endpoint.startswith("http://") else "https",
        connect_timeout=_CONNECT_TIMEOUT,
        request_timeout=_REQUEST_TIMEOUT,
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=_ATTEMPTS),
    )
