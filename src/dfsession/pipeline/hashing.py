"""The runtime hash: what a session was built from and what its steps applied, in one digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from dfsession.errors import StepFailedError
from dfsession.record import StepRecord

__all__ = ["runtime_hash"]


def runtime_hash(
    fingerprint: str, records: Iterable[StepRecord], versions: Mapping[str, str]
) -> str:
    """Hash of the profile fingerprint, every record's payload and the versions; order-blind.

    Records enter sorted by step name, so independent steps in any valid order hash alike;
    durations take no part. A record whose ``applied`` is not JSON-able fails with
    ``StepFailedError`` naming its step.
    """
    records = tuple(records)
    payloads = sorted(((r.step, r.status, r.applied) for r in records), key=lambda p: p[0])
    try:
        document = json.dumps(
            [fingerprint, payloads, versions], sort_keys=True, separators=(",", ":")
        )
    except (TypeError, ValueError):
        _check_json_able(records)
        raise
    return hashlib.sha256(document.encode()).hexdigest()


def _check_json_able(records: Iterable[StepRecord]) -> None:
    """Name the step whose record cannot be hashed (only called once hashing failed)."""
    for record in records:
        try:
            json.dumps(record.applied, sort_keys=True)
        except (TypeError, ValueError) as exc:
            error = StepFailedError(
                f"step {record.step!r} returned a record whose 'applied' is not JSON-able "
                f"({exc}); record plain strings, numbers, booleans, lists and tables"
            )
            error.step = record.step
            raise error from exc
