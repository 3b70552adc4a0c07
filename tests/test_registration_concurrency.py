"""Datasets in an object store register several at once; what a build gives stays deterministic.

The store answers through a proxy that delays each request at random, so registrations finish
in a different order every build.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pytest

from conftest import S3Bucket, S3Server
from dfsession import ProfileError, SessionContextBuilder, SessionProfile, StepFailedError

DATASETS = 200
BUILDS = 50


def _table(i: int) -> pa.Table:
    """Dataset ``i``'s rows: its own column name and type, so that a mix-up shows."""
    kind = (pa.int64(), pa.float64(), pa.string())[i % 3]
    return pa.table({"id": pa.array([i], pa.int64()), f"c{i}": pa.array([None], kind)})


def _fill(bucket: S3Bucket, broken: tuple[int, ...] = ()) -> None:
    """One Parquet dataset per index; the ``broken`` ones hold bytes that are not Parquet."""

    def put(i: int) -> None:
        key = f"t{i}/part-0.parquet"
        if i in broken:
            bucket.client.put_object(Bucket=bucket.name, Key=key, Body=b"not parquet at all")
        else:
            bucket.put_parquet(key, _table(i))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(DATASETS)))


def _profile(bucket: S3Bucket, endpoint: str, **execution: Any) -> SessionProfile:
    store = bucket.store()
    store["options"] = {**store["options"], "endpoint": endpoint}
    return SessionProfile.from_dict(
        {
            "execution": execution,
            "object_stores": {"lake": store},
            "datasets": {
                f"t{i}": {"format": "parquet", "location": f"s3://{bucket.name}/t{i}/"}
                for i in range(DATASETS)
            },
        }
    )


def _without_durations(records: Any) -> list[tuple[str, str, Any]]:
    return [(r.step, r.status, r.applied) for r in records]


def test_concurrent_builds_give_the_same_records_and_runtime_hash(
    s3_bucket: S3Bucket, jittery_s3: S3Server
) -> None:
    _fill(s3_bucket)
    profile = _profile(s3_bucket, jittery_s3.endpoint)
    assert profile.execution.effective_registration_concurrency > 1
    sequential = SessionContextBuilder(
        _profile(s3_bucket, jittery_s3.endpoint, registration_concurrency=1)
    ).build()
    expected = _without_durations(sequential.records)
    datasets = next(r for r in sequential.records if r.step == "datasets").applied["datasets"]
    assert [d["name"] for d in datasets] == [f"t{i}" for i in range(DATASETS)]
    hashes = set()
    for _ in range(BUILDS):
        session = SessionContextBuilder(profile).build()
        assert _without_durations(session.records) == expected
        hashes.add(session.runtime_hash)
    assert len(hashes) == 1
    assert session.execute("SELECT c7 FROM t7").column_names == ["c7"]


def test_the_first_failing_dataset_in_declaration_order_is_the_error_every_time(
    s3_bucket: S3Bucket, jittery_s3: S3Server
) -> None:
    _fill(s3_bucket, broken=(57, 58, 140))
    profile = _profile(s3_bucket, jittery_s3.endpoint)
    messages = set()
    for _ in range(3):
        with pytest.raises(StepFailedError) as caught:
            SessionContextBuilder(profile).build()
        error = caught.value
        assert error.step == "datasets"
        assert "object_stores" in [r.step for r in error.records]
        assert "datasets" not in [r.step for r in error.records]
        messages.add(str(error))
        running = [t for t in threading.enumerate() if t.name.startswith("dfsession-register")]
        assert running == []  # every registration finished or was cancelled before the raise
    (message,) = messages
    assert message.startswith("dataset 't57' (parquet at ")


@pytest.mark.parametrize("value", [0, -1, True, "8"])
def test_registration_concurrency_must_be_a_positive_integer(value: object) -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict({"execution": {"registration_concurrency": value}})
    assert caught.value.path == "execution.registration_concurrency"
