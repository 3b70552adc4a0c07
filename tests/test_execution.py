"""Each execution, catalog and settings value is checked against the live session."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dfsession import ProfileError, SessionContextBuilder, SessionProfile

SORT_QUERY = "SELECT v, s FROM big ORDER BY s DESC, v"


def settings_of(profile: SessionProfile) -> dict[str, str | None]:
    session = SessionContextBuilder(profile).build()
    found = session.effective_settings()
    assert found is not None
    return found


def test_target_partitions_batch_size_and_catalog_are_read_back_from_the_engine() -> None:
    profile = SessionProfile.from_dict(
        {
            "execution": {"target_partitions": 3, "batch_size": 1234},
            "catalog": {
                "default_catalog": "analytics",
                "default_schema": "core",
                "information_schema": True,
            },
        }
    )
    found = settings_of(profile)
    assert found["datafusion.execution.target_partitions"] == "3"
    assert found["datafusion.execution.batch_size"] == "1234"
    assert found["datafusion.catalog.default_catalog"] == "analytics"
    assert found["datafusion.catalog.default_schema"] == "core"


def test_raw_settings_and_runtime_settings_are_applied_and_recorded() -> None:
    profile = SessionProfile.from_dict(
        {
            "catalog": {"information_schema": True},
            "settings": {
                "datafusion.optimizer.max_passes": 7,
                "datafusion.runtime.metadata_cache_limit": "64M",
            },
        }
    )
    session = SessionContextBuilder(profile).build()
    found = session.effective_settings()
    assert found is not None
    assert found["datafusion.optimizer.max_passes"] == "7"
    assert found["datafusion.runtime.metadata_cache_limit"] == "64M"
    # SessionConfig takes the engine's keys, as plain code does; SET applies the runtime's.
    assert session.record("context").applied["settings"] == {"datafusion.optimizer.max_passes": "7"}
    assert session.record("settings").applied == {
        "settings": {"datafusion.runtime.metadata_cache_limit": "64M"}
    }


def test_settings_without_runtime_keys_leave_the_settings_step_idle() -> None:
    profile = SessionProfile.from_dict({"settings": {"datafusion.optimizer.max_passes": "5"}})
    session = SessionContextBuilder(profile).build()
    assert session.record("context").applied["settings"] == {"datafusion.optimizer.max_passes": "5"}
    assert session.record("settings").status == "skipped"


def test_unknown_setting_fails_naming_the_key() -> None:
    profile = SessionProfile.from_dict({"settings": {"datafusion.optimizer.bogus_knob": "1"}})
    with pytest.raises(ProfileError) as info:
        SessionContextBuilder(profile).build()
    assert info.value.path == "settings.datafusion.optimizer.bogus_knob"
    assert "bogus_knob" in str(info.value)
    assert info.value.step == "context"
    assert info.value.records == ()


def test_unknown_runtime_setting_fails_naming_the_key() -> None:
    profile = SessionProfile.from_dict({"settings": {"datafusion.runtime.bogus_knob": "1"}})
    with pytest.raises(ProfileError) as info:
        SessionContextBuilder(profile).build()
    assert info.value.path == "settings.datafusion.runtime.bogus_knob"
    assert info.value.step == "settings"


def test_bad_setting_value_fails_naming_key_and_value() -> None:
    profile = SessionProfile.from_dict({"settings": {"datafusion.optimizer.max_passes": "many"}})
    with pytest.raises(ProfileError, match=r"max_passes: the engine rejected 'many'"):
        SessionContextBuilder(profile).build()


def test_setting_value_with_a_quote_is_passed_as_a_literal() -> None:
    profile = SessionProfile.from_dict(
        {
            "catalog": {"information_schema": True},
            "settings": {"datafusion.catalog.location": "it's"},
        }
    )
    assert settings_of(profile)["datafusion.catalog.location"] == "it's"


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    rows = 1_500_000
    table = pa.table(
        {
            "v": pa.array(range(rows), pa.int64()),
            "s": pa.array([f"value-{i % 99991:08d}-padding" for i in range(rows)]),
        }
    )
    pq.write_table(table, path)
    return path


def sort_with(big: Path, execution: dict[str, object]) -> int:
    profile = SessionProfile.from_dict(
        {
            "execution": {"target_partitions": 1, **execution},
            "settings": {"datafusion.execution.sort_spill_reservation_bytes": "1048576"},
        }
    )
    session = SessionContextBuilder(profile).build()
    session.ctx.register_parquet("big", str(big))
    return session.ctx.sql(SORT_QUERY).to_arrow_table().num_rows


def test_small_memory_limit_with_spill_disabled_makes_a_large_sort_fail(big_parquet: Path) -> None:
    with pytest.raises(Exception, match=r"(?i)resources exhausted"):
        sort_with(
            big_parquet, {"memory_pool": "fair", "memory_limit": "20MiB", "spill": "disabled"}
        )


def test_same_limit_with_spill_to_a_directory_completes(big_parquet: Path, tmp_path: Path) -> None:
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    rows = sort_with(
        big_parquet, {"memory_pool": "fair", "memory_limit": "20MiB", "spill": [str(spill_dir)]}
    )
    assert rows == 1_500_000


def test_spill_directory_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    profile = SessionProfile.from_dict({"execution": {"spill": [str(missing)]}})
    with pytest.raises(ProfileError, match=r"nowhere.*does not exist"):
        SessionContextBuilder(profile).build()


def test_context_record_lists_the_execution_values_applied() -> None:
    profile = SessionProfile.from_dict(
        {"execution": {"memory_limit": "256MiB", "spill": "disabled"}}
    )
    applied = SessionContextBuilder(profile).build().record("context").applied
    assert applied["memory_pool"] == "greedy"
    assert applied["memory_limit"] == 256 * 1024**2
    assert applied["spill"] == "disabled"


def test_url_table_feature_gives_a_context_that_reads_file_paths(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    query = f"SELECT sum(a) AS total FROM '{path}'"
    with_feature = SessionContextBuilder(
        SessionProfile.from_dict({"features": {"url_table": True}})
    ).build()
    assert with_feature.ctx.sql(query).to_pydict() == {"total": [6]}
    assert with_feature.record("url_table").status == "applied"
    without = SessionContextBuilder(SessionProfile()).build()
    assert without.record("url_table").status == "skipped"
    with pytest.raises(Exception, match=r"(?i)not found|no table"):
        without.ctx.sql(query).collect()
