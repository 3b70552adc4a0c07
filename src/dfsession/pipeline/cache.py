"""``SessionCache``: a bounded, thread-safe, single-flight cache of built sessions.

Generic over what it caches: whoever builds sessions hands it a build function returning the
session to share (read-only), and the cache keeps and hands out exactly that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any, Generic

import attrs
from typing_extensions import TypeVar

from dfsession.errors import DfSessionError
from dfsession.profile.model import SessionProfile

__all__ = ["CacheKey", "CacheStats", "SessionCache", "profile_key"]

#: What the cache holds (a built session); ``SessionCache()`` alone holds ``Any``.
S = TypeVar("S", default=Any)

#: ``(profile_key(profile), steps)``: the steps are hashable values, compared by name and fields.
CacheKey = tuple[str, Hashable]


def profile_key(profile: SessionProfile) -> str:
    """A profile's part of a cache key: its fingerprint, and the folder its relative paths mean.

    A loaded profile's paths are absolute, so the fingerprint alone tells folders apart; a
    profile given as data keeps relative paths, which mean the working directory of the build.
    """
    anchor = profile.anchor()
    fingerprint = profile.fingerprint()
    return fingerprint if anchor is None else f"{fingerprint} in {anchor}"


@attrs.frozen
class CacheStats:
    """Counters of a ``SessionCache``: waiters on an in-flight build count as hits."""

    hits: int
    misses: int
    evictions: int
    size: int


class _Entry(Generic[S]):
    """A cached session and when it was last used (a tick of the cache's clock)."""

    __slots__ = ("session", "used")

    def __init__(self, session: S, used: int) -> None:
        self.session = session
        self.used = used


class _Flight(Generic[S]):
    """One build in progress; threads asking for the same key wait on it."""

    __slots__ = ("cancelled", "done", "error", "owner", "result", "traceback")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.owner = threading.get_ident()
        self.result: S | None = None
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None
        self.cancelled = False


class SessionCache(Generic[S]):
    """Built sessions keyed on (profile, steps); the least recently used goes first.

    Single flight: while one thread builds a key, others asking for it wait and get the same
    session (counted as hits), or the same error; a failed build is never cached, so the next
    call builds again. ``clear()`` and ``invalidate()`` also stop builds in flight from being
    cached: a caller arriving after them starts a fresh build.
    """

    def __init__(self, maxsize: int = 32) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"SessionCache maxsize must be a positive integer (got {maxsize!r})")
        self.maxsize = maxsize
        self._lock = threading.Lock()
        # A plain dict and a use clock: a hit is one lookup (hashing a key of many steps and
        # comparing it is the hit's main cost); eviction scans for the oldest, once per build.
        self._entries: dict[CacheKey, _Entry[S]] = {}
        self._clock = 0
        self._flights: dict[CacheKey, _Flight[S]] = {}
        self._hits = self._misses = self._evictions = 0

    def get_or_build(self, key: CacheKey, build: Callable[[], S]) -> S:
        """The cached session for ``key``, else ``build()``, run once per key at a time.

        Every caller shares what ``build`` returns: it should be read-only (sealed).
        """
        while True:
            with self._lock:
                try:
                    entry = self._entries.get(key)
                except TypeError as exc:
                    raise _unhashable(key, exc) from exc
                if entry is not None:
                    self._clock += 1
                    entry.used = self._clock
                    self._hits += 1
                    return entry.session
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = _Flight()
                    self._misses += 1
                    break
                if flight.owner == threading.get_ident():
                    raise DfSessionError(
                        "a step asked the same SessionCache for the session being built "
                        "(recursive build); build inner sessions without the cache"
                    )
                self._hits += 1
            flight.done.wait()
            if flight.error is None:
                assert flight.result is not None
                return flight.result
            if isinstance(flight.error, Exception):
                # Each waiter raises from the build's own traceback, not one grown by the others.
                raise flight.error.with_traceback(flight.traceback)
            # The leader was interrupted (KeyboardInterrupt, SystemExit): build it here instead.
            with self._lock:
                self._hits -= 1
        return self._lead(key, flight, build)

    def _lead(self, key: CacheKey, flight: _Flight[S], build: Callable[[], S]) -> S:
        try:
            session = build()
        except BaseException as exc:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.error = exc
            flight.traceback = exc.__traceback__
            flight.done.set()
            raise
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
            if not flight.cancelled:
                self._clock += 1
                self._entries[key] = _Entry(session, self._clock)
                while len(self._entries) > self.maxsize:
                    del self._entries[min(self._entries, key=lambda k: self._entries[k].used)]
                    self._evictions += 1
        flight.result = session
        flight.done.set()
        return session

    def clear(self) -> None:
        """Forget every cached session; builds in flight finish but are not cached."""
        with self._lock:
            self._entries.clear()
            for flight in self._flights.values():
                flight.cancelled = True
            self._flights.clear()

    def invalidate(self, profile: SessionProfile) -> int:
        """Forget every session built from ``profile`` (any step list); return how many."""
        identity = profile_key(profile)
        with self._lock:
            keys = [key for key in self._entries if key[0] == identity]
            for key in keys:
                del self._entries[key]
            for key in [key for key in self._flights if key[0] == identity]:
                self._flights.pop(key).cancelled = True
        return len(keys)

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        stats = self.stats
        return (
            f"SessionCache(maxsize={self.maxsize}, size={stats.size}, hits={stats.hits}, "
            f"misses={stats.misses}, evictions={stats.evictions})"
        )


def _unhashable(key: CacheKey, exc: TypeError) -> DfSessionError:
    """An error naming the step that cannot be part of a cache key, and the fix."""
    steps = key[1] if isinstance(key[1], tuple) else ()
    for step in steps:
        try:
            hash(step)
        except TypeError:
            kind = f"{type(step).__module__}.{type(step).__qualname__}"
            return DfSessionError(
                f"step {getattr(step, 'name', '?')!r} ({kind}) is not hashable ({exc}), so "
                "SessionCache cannot key on it; make it an @attrs.frozen class with tuple or "
                "frozenset fields, and mark fields holding live objects attrs.field(eq=False)"
            )
    return DfSessionError(f"SessionCache key {key!r} is not hashable ({exc})")
