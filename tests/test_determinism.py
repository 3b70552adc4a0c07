"""The same profile and step list give the same fingerprint and runtime hash in any process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dfsession import SessionContextBuilder, load_profile

SRC = Path(__file__).resolve().parents[1] / "src"
SEEDS = ("0", "1", "4242")

BUILD = textwrap.dedent(
    """
    import json, sys
    from dfsession import SessionContextBuilder, load_profile
    profile = load_profile(sys.argv[1])
    session = SessionContextBuilder(profile).build()
    print(json.dumps({
        "fingerprint": profile.fingerprint(),
        "runtime_hash": session.runtime_hash,
        "records": [[r.step, r.status, r.applied] for r in session.records],
    }))
    """
)


@pytest.fixture
def profile_path(tmp_path: Path) -> Path:
    """A profile touching many sections: sets, maps and lists where hash order could leak in."""
    data = tmp_path / "trips"
    data.mkdir()
    pq.write_table(
        pa.table({"id": pa.array([1, 2], pa.int64()), "fare": [5.0, 150.0]}),
        data / "part-0.parquet",
    )
    (tmp_path / "det_udfs.py").write_text(
        "def clean(values):\n    return values\n", encoding="utf-8"
    )
    path = tmp_path / "profile.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [execution]
            target_partitions = 3
            batch_size = 4096
            memory_pool = "fair"
            memory_limit = "512MiB"

            [catalog]
            default_catalog = "analytics"
            default_schema = "public"
            information_schema = true

            [settings]
            "datafusion.optimizer.max_passes" = "3"
            "datafusion.execution.coalesce_batches" = "false"
            "datafusion.sql_parser.enable_ident_normalization" = "true"
            "datafusion.runtime.metadata_cache_limit" = "64M"

            [sql_policy]
            allow_ddl = false

            [features]
            url_table = true

            [datasets.trips]
            format = "parquet"
            location = "{data.as_posix()}/"
            schema = {{ id = "int64", fare = "float64" }}

            [views.big_trips]
            sql = "SELECT * FROM trips WHERE fare > 100"

            [views.ids]
            sql = "SELECT id FROM big_trips"

            [prepared.trip_by_id]
            sql = "SELECT * FROM trips WHERE id = $1"
            params = ["int64"]

            [[udfs]]
            ref = "det_udfs:clean"
            name = "clean"
            args = ["string"]
            returns = "string"
            volatility = "immutable"

            [planner]
            record_rules = true

            [tracing]
            enabled = true
            """
        ),
        encoding="utf-8",
    )
    return path


def build_in_subprocess(profile_path: Path, seed: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONHASHSEED": seed,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(profile_path.parent)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(profile_path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=profile_path.parent,
    )
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


def test_fingerprint_and_runtime_hash_agree_across_processes_with_different_hash_seeds(
    profile_path: Path,
) -> None:
    runs = {seed: build_in_subprocess(profile_path, seed) for seed in SEEDS}

    first = runs[SEEDS[0]]
    for seed, run in runs.items():
        assert run["records"] == first["records"], f"records differ with PYTHONHASHSEED={seed}"
        assert run["fingerprint"] == first["fingerprint"], seed
        assert run["runtime_hash"] == first["runtime_hash"], seed
    assert load_profile(profile_path).fingerprint() == first["fingerprint"]


def test_rebuilding_in_one_process_gives_the_same_runtime_hash(
    profile_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(profile_path.parent))
    monkeypatch.chdir(profile_path.parent)
    profile = load_profile(profile_path)
    first = SessionContextBuilder(profile).build()
    second = SessionContextBuilder(load_profile(profile_path)).build()
    assert second.fingerprint == first.fingerprint
    assert second.runtime_hash == first.runtime_hash
    assert [(r.step, r.status, r.applied) for r in second.records] == [
        (r.step, r.status, r.applied) for r in first.records
    ]
