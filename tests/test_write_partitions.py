"""``BuiltSession.write(..., partition_by=...)``: Hive-style folders for files, Delta partitions."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from conftest import S3Bucket
from dfsession import SessionContextBuilder, SessionProfile
from dfsession.errors import QueryError
from dfsession.session import BuiltSession

QUERY = "SELECT id, id % 3 AS part FROM unnest(range(9)) AS t(id)"


@pytest.fixture
def session() -> BuiltSession:
    return SessionContextBuilder(SessionProfile()).build()


def ids_by_folder(target: Path) -> dict[str, list[int]]:
    return {
        folder.name: sorted(pq.read_table(folder).column("id").to_pylist())
        for folder in sorted(target.iterdir())
    }


def test_files_are_written_in_a_folder_per_value(session: BuiltSession, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = session.write(QUERY, target, format="parquet", partition_by=["part"])
    assert (result.rows, result.partition_by) == (9, ("part",))
    assert ids_by_folder(target) == {"part=0": [0, 3, 6], "part=1": [1, 4, 7], "part=2": [2, 5, 8]}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left aside


def test_append_adds_files_into_the_existing_partition_folders(
    session: BuiltSession, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    session.write(QUERY, target, format="parquet", partition_by=["part"])
    session.write(QUERY, target, format="parquet", mode="append", partition_by=["part"])
    assert ids_by_folder(target)["part=1"] == [1, 1, 4, 4, 7, 7]
    session.write(QUERY + " WHERE id < 2", target, format="parquet", mode="overwrite",
                  partition_by=["part"])  # fmt: skip
    assert ids_by_folder(target) == {"part=0": [0], "part=1": [1]}


def test_an_arrow_stream_is_partitioned_too(session: BuiltSession, tmp_path: Path) -> None:
    data = pa.table({"id": [1, 2, 3], "city": ["oslo", "lima", "oslo"]})
    session.write(data.to_reader(), tmp_path / "out", format="csv", partition_by=["city"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["city=lima", "city=oslo"]


def test_a_delta_table_gets_partition_columns(session: BuiltSession, tmp_path: Path) -> None:
    target = tmp_path / "delta"
    result = session.write(QUERY, target, format="delta", partition_by=["part"])
    assert result.partition_by == ("part",)
    table = DeltaTable(str(target))
    assert table.metadata().partition_columns == ["part"]
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == list(range(9))


def test_partition_errors_name_the_column_and_change_nothing(
    session: BuiltSession, tmp_path: Path
) -> None:
    with pytest.raises(
        QueryError, match=r"'nope' is not a column of the result \(columns: id, part\)"
    ):
        session.write(QUERY, tmp_path / "a", format="parquet", partition_by=["nope"])
    spaced = 'SELECT id, id % 2 AS "odd one" FROM unnest(range(4)) AS t(id)'
    with pytest.raises(QueryError, match="'odd one' must be a plain name"):
        session.write(spaced, tmp_path / "b", format="parquet", partition_by=["odd one"])
    with pytest.raises(QueryError, match="names one file; give a folder target"):
        session.write(QUERY, tmp_path / "c.parquet", format="parquet", partition_by=["part"])
    assert list(tmp_path.iterdir()) == []


def test_partitioned_files_in_an_object_store(s3_bucket: S3Bucket) -> None:
    profile = SessionProfile.from_dict({"object_stores": {"lake": s3_bucket.store()}})
    session = SessionContextBuilder(profile).build()
    target = f"s3://{s3_bucket.name}/parts/"
    session.write(QUERY, target, format="parquet", mode="append", partition_by=["part"])
    keys = [o["Key"] for o in s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]]
    assert sorted({key.split("/")[1] for key in keys}) == ["part=0", "part=1", "part=2"]
