"""The ``[engine]`` section, and what ``plan()`` refuses for a Ballista cluster before it runs.

Nothing here needs a cluster: a remote engine's refusals come from the profile and the steps
alone. The cluster itself is tested in test_ballista.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

from ballista_cluster import BALLISTA_MISSING
from dfsession import (
    SessionBuild,
    SessionCache,
    SessionContextBuilder,
    SessionProfile,
    StepRecord,
    default_steps,
)
from dfsession.errors import NotPortableError, ProfileError
from dfsession.pipeline.portability import DeclaresPortability, Unportable, unportable_items
from dfsession.profile.json_schema import profile_schema

CLUSTER = {"kind": "ballista", "url": "df://127.0.0.1:50050"}


@attrs.frozen
class MemoryTableStep:
    """A custom step that makes an in-memory table, and says nothing of engines."""

    name: str = "audit_tables"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"audit_tables"})

    def install(self, build: SessionBuild) -> StepRecord:
        build.ctx.from_pydict({"event": []}, name="audit")
        return StepRecord(step=self.name, applied={"tables": ["audit"]})


@attrs.frozen
class SpyStep:
    """Runs first and notes that it ran; it runs anywhere."""

    ran: list[str] = attrs.field(factory=list, eq=False, hash=False)
    name: str = "spy"
    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset({"spy"})

    def install(self, build: SessionBuild) -> StepRecord:
        self.ran.append(self.name)
        return StepRecord(step=self.name, applied={})

    def unportable(self, profile: SessionProfile) -> tuple[Unportable, ...]:
        return ()


def cluster_profile(**sections: Any) -> SessionProfile:
    return SessionProfile.from_dict({"engine": CLUSTER, **sections})


# --- the section ---------------------------------------------------------------------------------


def test_the_engine_is_local_unless_the_profile_says_otherwise() -> None:
    assert SessionProfile().engine.is_local
    assert SessionProfile().to_dict() == {}


def test_a_ballista_engine_keeps_its_scheduler_url_and_writes_it_back() -> None:
    profile = cluster_profile()
    assert (profile.engine.url.host, profile.engine.url.port) == ("127.0.0.1", 50050)
    assert SessionProfile.from_dict(profile.to_dict()) == profile
    assert profile.fingerprint() != SessionProfile().fingerprint()


@pytest.mark.parametrize(
    ("engine", "path", "words"),
    [
        ({"kind": "ballista"}, "engine.url", "needs a scheduler"),
        (
            {"kind": "ballista", "url": "df://h:1", "standalone": True},
            "engine.standalone",
            "not both",
        ),
        ({"kind": "ballista", "url": "http://h:50050"}, "engine.url", "'df://host:port'"),
        ({"kind": "ballista", "url": "df://h:70000"}, "engine.url", "port from 1 to 65535"),
        ({"kind": "ballista", "url": "df://h"}, "engine.url", "'df://host:port'"),
        ({"url": "df://h:1"}, "engine.url", "applies to kind = 'ballista' only"),
        ({"standalone": True}, "engine.standalone", "applies to kind = 'ballista' only"),
        ({"kind": "spark"}, "engine.kind", "expected one of local, ballista"),
    ],
)
def test_a_bad_engine_section_names_the_key_and_the_fix(
    engine: dict[str, Any], path: str, words: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict({"engine": engine})
    assert caught.value.path == path
    assert words in str(caught.value)


def test_the_json_schema_describes_the_engine_section() -> None:
    validator = jsonschema.Draft7Validator(profile_schema())
    assert not list(validator.iter_errors({"engine": {"kind": "ballista", "standalone": True}}))
    bad = {"engine": {"kind": "ballista", "url": "http://h:1", "nodes": 3}}
    assert len(list(validator.iter_errors(bad))) == 2


# --- what plan() refuses -------------------------------------------------------------------------


def test_every_default_step_declares_what_it_can_run_on_a_cluster() -> None:
    assert all(isinstance(step, DeclaresPortability) for step in default_steps())


def test_plan_refuses_a_udf_a_delta_table_and_an_in_memory_step_in_one_error() -> None:
    profile = cluster_profile(
        udfs=[
            {
                "ref": "udf_fixtures.functions:clean_name",
                "name": "clean_name",
                "args": ["string"],
                "returns": "string",
            }
        ],
        datasets={
            "orders": {"format": "delta", "location": "data/orders"},
            "trips": {"format": "parquet", "location": "data/trips/"},
        },
    )
    builder = SessionContextBuilder(profile, steps=(*default_steps(), MemoryTableStep()))
    with pytest.raises(NotPortableError) as caught:
        builder.plan()
    error = caught.value
    assert error.engine == "ballista"
    assert [path for path, _ in error.problems] == ["udfs.0", "datasets.orders", ""]
    text = str(error)
    assert text.startswith("3 items of this build cannot run on a 'ballista' engine")
    assert "udfs.0: 'clean_name': a Python function cannot run on a Ballista cluster" in text
    assert "datasets.orders: a 'delta' dataset" in text
    assert "step 'audit_tables' (test_portability.MemoryTableStep) does not say" in text
    assert isinstance(error, ProfileError) and isinstance(error, ValueError)


def test_build_refuses_the_same_before_any_step_runs_and_caches_nothing() -> None:
    spy = SpyStep()
    cache: SessionCache[Any] = SessionCache()
    profile = cluster_profile(udfs=[{"ref": "udf_fixtures.functions:plus_one"}])
    builder = SessionContextBuilder(profile, steps=(spy, *default_steps()), cache=cache)
    with pytest.raises(NotPortableError, match=r"udfs\.0: 'udf_fixtures\.functions:plus_one'"):
        builder.build()
    assert spy.ran == []
    assert cache.stats.misses == 1 and len(cache) == 0


def test_object_stores_and_the_datasets_in_them_are_refused() -> None:
    profile = cluster_profile(
        object_stores={"lake": {"url": "s3://lake", "kind": "s3"}},
        datasets={
            "trips": {"format": "parquet", "location": "s3://lake/trips/"},
            "zones": {"format": "csv", "location": "file:///data/zones.csv"},
        },
    )
    items = unportable_items(default_steps(), profile)
    assert [item.path for item in items] == ["object_stores.lake", "datasets.trips.location"]
    assert "do not reach a Ballista cluster" in items[0].reason
    assert "path every executor sees" in items[1].reason


def test_what_only_this_process_would_honour_is_refused() -> None:
    profile = cluster_profile(
        execution={"memory_limit": "1GiB", "spill": "disabled", "target_partitions": 4},
        settings={
            "datafusion.runtime.metadata_cache_limit": "64M",
            "datafusion.execution.batch_size": "1024",
        },
        features={"url_table": True, "udf_entry_points": True},
        planner={
            "disable_rules": ["push_down_limit"],
            "physical_rules": ["mypkg.native:RULE"],
            "query_planner": "mypkg.native:PLANNER",
            "codecs": ["mypkg.native:CODEC"],
            "bundles": ["mypkg.native:BUNDLE"],
            "optimizer": {"datafusion.optimizer.max_passes": "2"},
            "record_rules": True,
        },
    )
    paths = [item.path for item in unportable_items(default_steps(), profile)]
    assert paths == [
        "execution.memory_limit",
        "execution.spill",
        "settings.datafusion.runtime.metadata_cache_limit",
        "features.url_table",
        "planner.codecs.0",
        "planner.bundles.0",
        "planner.disable_rules.0",
        "planner.physical_rules.0",
        "planner.query_planner",
        "features.udf_entry_points",
    ]


def test_a_portable_profile_plans_on_a_cluster(tmp_path: Path) -> None:
    profile = cluster_profile(
        execution={"target_partitions": 4},
        catalog={"information_schema": True},
        settings={"datafusion.execution.batch_size": "1024"},
        datasets={
            "trips": {"format": "parquet", "location": str(tmp_path)},
            "zones": {"format": "csv", "location": str(tmp_path / "zones.csv")},
        },
        views={"big": {"sql": "SELECT * FROM trips"}},
        prepared={"one": {"sql": "SELECT * FROM trips WHERE id = $1", "params": ["int64"]}},
        tracing={"enabled": True},
    )
    assert SessionContextBuilder(profile).plan() == default_steps()


def test_a_local_engine_asks_no_step_about_portability() -> None:
    builder = SessionContextBuilder(SessionProfile(), steps=(*default_steps(), MemoryTableStep()))
    assert builder.plan()[-1] == MemoryTableStep()


@pytest.mark.skipif(BALLISTA_MISSING is None, reason="the Ballista client imports here")
def test_without_the_ballista_client_the_build_says_how_to_install_it(tmp_path: Path) -> None:
    builder = SessionContextBuilder(cluster_profile())
    with pytest.raises(ProfileError) as caught:
        builder.build()
    assert caught.value.path == "engine.kind"
    assert 'pip install "dfsession[ballista]"' in str(caught.value)
    assert ".ci/install-ballista" in str(caught.value)


def test_a_provider_dataset_is_refused_as_a_table_provider_of_this_process() -> None:
    profile = cluster_profile(
        datasets={"events": {"format": "provider", "ref": "provider_fixtures.sources:events"}}
    )
    (item,) = unportable_items(default_steps(), profile)
    assert item.path == "datasets.events"
    assert item.reason.startswith("a 'provider' dataset: it is read through a table provider")
