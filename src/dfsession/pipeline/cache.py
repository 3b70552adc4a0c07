"""``SessionCache``: a bounded, thread-safe, single-flight cache of built sessions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from dfsession.pipeline.session import BuiltSession
    from dfsession.profile.model import SessionProfile


@attrs.frozen
class CacheStats:
    """Counters of a ``SessionCache``: waiters on an in-flight build count as hits."""

    hits: int
    misses: int
    evictions: int
    size: int


class _Flight:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: BuiltSession | None = None
        self.error: BaseException | None = None


class SessionCache:
    """Built sessions keyed on (profile fingerprint, steps); least recently used goes first."""

    def __init__(self, maxsize: int = 32) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"SessionCache maxsize must be a positive integer (got {maxsize!r})")
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, Hashable], BuiltSession] = OrderedDict()
        self._flights: dict[tuple[str, Hashable], _Flight] = {}
        self._hits = self._misses = self._evictions = 0

    def get_or_build(
        self, key: tuple[str, Hashable], build: Callable[[], BuiltSession]
    ) -> BuiltSession:
        """The cached session for ``key``, or the result of ``build()``, run once per key at a time."""
        with self._lock:
            session = self._entries.get(key)
            if session is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return session
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
                self._misses += 1
            else:
                self._hits += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result
        try:
            session = build()
        except BaseException as exc:
            with self._lock:
                del self._flights[key]
            flight.error = exc
            flight.done.set()
            raise
        with self._lock:
            del self._flights[key]
            self._entries[key] = session
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
                self._evictions += 1
        flight.result = session
        flight.done.set()
        return session

    def clear(self) -> None:
        """Forget every cached session (builds in flight finish and are cached)."""
        with self._lock:
            self._entries.clear()

    def invalidate(self, profile: SessionProfile) -> int:
        """Forget every session built from ``profile``; return how many were dropped."""
        fingerprint = profile.fingerprint()
        with self._lock:
            keys = [key for key in self._entries if key[0] == fingerprint]
            for key in keys:
                del self._entries[key]
        return len(keys)

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        stats = self.stats
        return (
            f"SessionCache(maxsize={self.maxsize}, size={stats.size}, hits={stats.hits}, "
            f"misses={stats.misses}, evictions={stats.evictions})"
        )
