"""Profiles in layers: extends, environments, variables, overrides, relative paths, provenance."""

from __future__ import annotations

import contextlib
import json
import sys
import textwrap
import uuid
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import needs_datafusion_55
from dfsession import (
    ProfileError,
    SessionCache,
    SessionContextBuilder,
    SessionProfile,
    load_profile,
)
from dfsession.diff import diff_reports
from dfsession.session import report_schema


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(exc: pytest.ExceptionInfo[ProfileError]) -> dict[str, str]:
    return dict(exc.value.problems)


# -- extends --------------------------------------------------------------------------------------


def test_extends_applies_layers_in_order_then_the_file_merging_tables_at_any_depth(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "base.toml",
        """
        [execution]
        target_partitions = 2
        batch_size = 1024
        spill = ["/a", "/b"]

        [datasets.trips]
        format = "parquet"
        location = "s3://lake/trips/"
        schema = { id = "int64", fare = "float64" }
        """,
    )
    write(
        tmp_path / "lake.toml",
        """
        [execution]
        target_partitions = 4
        spill = ["/c"]

        [datasets.trips.schema]
        fare = "float32"
        """,
    )
    profile = load_profile(
        write(
            tmp_path / "analytics.toml",
            """
            extends = ["base.toml", "lake.toml"]

            [execution]
            batch_size = 2048
            """,
        )
    )
    assert profile.execution.target_partitions == 4  # lake.toml over base.toml
    assert profile.execution.batch_size == 2048  # the file itself last
    assert profile.execution.spill == ("/c",)  # arrays replace
    schema = profile.datasets["trips"].schema
    assert schema == {"id": pa.int64(), "fare": pa.float32()}  # tables merge, key by key


def test_extends_names_files_relative_to_the_file_that_names_them(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "base.toml", 'extends = "deeper/engine.toml"\n')
    write(tmp_path / "shared" / "deeper" / "engine.toml", "[execution]\nbatch_size = 512\n")
    profile = load_profile(write(tmp_path / "conf" / "p.toml", 'extends = "../shared/base.toml"\n'))
    assert profile.execution.batch_size == 512
    assert profile.provenance() == {"execution.batch_size": "../shared/deeper/engine.toml"}


def test_a_layer_two_layers_extend_applies_once_where_it_is_first_reached(tmp_path: Path) -> None:
    write(tmp_path / "common.toml", "[execution]\ntarget_partitions = 1\nbatch_size = 1\n")
    write(tmp_path / "a.toml", 'extends = "common.toml"\n[execution]\ntarget_partitions = 8\n')
    write(tmp_path / "b.toml", 'extends = "common.toml"\n[execution]\nbatch_size = 16\n')
    profile = load_profile(write(tmp_path / "p.toml", 'extends = ["a.toml", "b.toml"]\n'))
    # Applied twice, common.toml would undo a.toml's target_partitions.
    assert (profile.execution.target_partitions, profile.execution.batch_size) == (8, 16)


def test_a_cycle_of_extends_is_an_error_naming_the_chain(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", 'extends = "b.toml"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path / "p.toml", 'extends = "a.toml"\n'))
    assert caught.value.path == "extends"
    assert "cycle: p.toml -> a.toml -> b.toml -> a.toml; remove one of these extends" in str(
        caught.value
    )


def test_a_missing_layer_is_an_error_naming_the_chain_and_the_path(tmp_path: Path) -> None:
    write(tmp_path / "lake.toml", 'extends = "bsae.toml"\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path / "p.toml", 'extends = ["lake.toml"]\n'))
    message = str(caught.value)
    assert "p.toml -> lake.toml extends 'bsae.toml', which does not exist" in message
    assert str(tmp_path / "bsae.toml") in message
    assert "paths in extends are relative to the folder of lake.toml" in message


def test_a_layer_that_is_a_folder_is_an_error_saying_so(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path / "p.toml", 'extends = "conf"\n'))
    assert problems(caught) == {
        "extends": f"p.toml extends 'conf', which is a folder ({tmp_path / 'conf'}); "
        "name a .toml file in it"
    }


def test_extends_must_be_a_file_name_or_a_list_of_them(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"extends: expected a file name or a list"):
        load_profile(write(tmp_path / "p.toml", "extends = 3\n"))


def test_a_mapping_extends_files_relative_to_its_base_dir(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", "[catalog]\ndefault_schema = 'lake'\n")
    profile = SessionProfile.from_dict({"extends": "base.toml"}, base_dir=tmp_path)
    assert profile.catalog.default_schema == "lake"
    assert profile.provenance() == {"catalog.default_schema": "base.toml"}


# -- environments ---------------------------------------------------------------------------------

ENVIRONMENTS = """
[execution]
target_partitions = 2

[env.prod.execution]
target_partitions = 16
memory_limit = "8GiB"

[env.ci.catalog]
information_schema = true
"""


def test_an_environment_lays_its_overlay_over_the_merged_profile(tmp_path: Path) -> None:
    file = write(tmp_path / "analytics.toml", ENVIRONMENTS)
    prod = load_profile(file, env="prod")
    assert prod.execution.target_partitions == 16
    assert prod.execution.memory_limit == 8 * 1024**3
    assert prod.provenance()["execution.target_partitions"] == "analytics.toml [env.prod]"
    base = load_profile(file, environ={})
    assert base.execution.target_partitions == 2  # none selected: the base
    assert base == SessionProfile.from_dict({"execution": {"target_partitions": 2}})


def test_dfsession_env_selects_the_environment_unless_one_is_given(tmp_path: Path) -> None:
    file = write(tmp_path / "analytics.toml", ENVIRONMENTS)
    assert load_profile(file, environ={"DFSESSION_ENV": "ci"}).catalog.information_schema
    chosen = load_profile(file, env="prod", environ={"DFSESSION_ENV": "ci"})
    assert not chosen.catalog.information_schema


def test_an_unknown_environment_is_an_error_listing_the_defined_ones(tmp_path: Path) -> None:
    file = write(tmp_path / "analytics.toml", ENVIRONMENTS)
    with pytest.raises(ProfileError) as caught:
        load_profile(file, env="prd")
    assert problems(caught) == {
        "env": "environment 'prd' is not defined; the profile defines: ci, prod; "
        "did you mean 'prod'?"
    }
    with pytest.raises(ProfileError, match=r"'stage' \(from DFSESSION_ENV\) is not defined"):
        load_profile(file, environ={"DFSESSION_ENV": "stage"})
    plain = write(tmp_path / "plain.toml", "[execution]\nbatch_size = 8\n")
    with pytest.raises(ProfileError, match=r"the profile has no \[env.NAME\] tables"):
        load_profile(plain, env="prod")


def test_environments_from_every_layer_merge_like_the_rest(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", "[env.prod.execution]\nbatch_size = 4096\n")
    file = write(
        tmp_path / "p.toml", 'extends = "base.toml"\n[env.prod.execution]\ntarget_partitions = 8\n'
    )
    profile = load_profile(file, env="prod")
    assert (profile.execution.batch_size, profile.execution.target_partitions) == (4096, 8)
    assert profile.provenance() == {
        "execution.batch_size": "base.toml [env.prod]",
        "execution.target_partitions": "p.toml [env.prod]",
    }


def test_an_environment_that_is_no_table_is_named(tmp_path: Path) -> None:
    file = write(tmp_path / "p.toml", 'env.prod = "fast"\n[env.dev.execution]\nbatch_size = 8\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(file, environ={})
    assert problems(caught) == {
        "env.prod": "expected a table of profile sections, such as [env.prod.execution], "
        "not a single value"
    }


def test_a_mistyped_key_in_any_environment_is_an_error_selected_or_not(tmp_path: Path) -> None:
    file = write(
        tmp_path / "p.toml",
        """
        [datasets.trips]
        format = "parquet"
        location = "/data/trips"

        [env.prod.exection]
        target_partitions = 16

        [env.prod.datasets.trips.options]
        skip_metadata = false

        [env.prod.datasets.fees]
        format = "csv"
        location = "/data/fees.csv"
        options = { delimeter = ";" }

        [env.dev.settings]
        "any.key" = "1"
        """,
    )
    for env in (None, "dev", "prod"):
        with pytest.raises(ProfileError) as caught:
            load_profile(file, env=env, environ={})
        assert problems(caught) == {
            "env.prod.exection": "unknown key; did you mean 'execution'? (in p.toml)",
            "env.prod.datasets.fees.options.delimeter": "unknown key; did you mean 'delimiter'? "
            "(in p.toml)",
        }


def test_an_environment_cannot_extend(tmp_path: Path) -> None:
    file = write(tmp_path / "p.toml", '[env.prod]\nextends = "x.toml"\n')
    with pytest.raises(ProfileError, match=r"env.prod.extends: an environment cannot hold"):
        load_profile(file, env="prod")


# -- interpolation --------------------------------------------------------------------------------


def test_variables_fill_any_string_value_with_defaults_and_dollar_escapes() -> None:
    profile = SessionProfile.from_dict(
        {
            "datasets": {
                "trips": {"format": "parquet", "location": "${LAKE:-s3://lake}/trips/"},
                "fees": {"format": "csv", "location": "${LAKE}/fees.csv"},
            },
            "views": {"v": {"sql": "SELECT '$$5' AS price, $$$${X} AS odd FROM trips"}},
            "prepared": {"p": {"sql": "SELECT * FROM trips WHERE id = $1", "params": ["int64"]}},
        },
        environ={"LAKE": "s3://prod-lake"},
    )
    assert str(profile.datasets["trips"].location) == "s3://prod-lake/trips/"
    assert str(profile.datasets["fees"].location) == "s3://prod-lake/fees.csv"
    assert profile.views["v"].sql == "SELECT '$5' AS price, $${X} AS odd FROM trips"
    assert profile.prepared["p"].sql == "SELECT * FROM trips WHERE id = $1"  # not a reference
    provenance = profile.provenance()
    assert provenance["datasets.trips.location"] == "${LAKE}"
    assert provenance["views.v.sql"] == "<dict>"


def test_a_default_is_used_when_the_variable_is_unset_or_empty() -> None:
    data = {"catalog": {"default_schema": "${SCHEMA:-public}"}}
    assert SessionProfile.from_dict(data, environ={}).catalog.default_schema == "public"
    empty = SessionProfile.from_dict(data, environ={"SCHEMA": ""})
    assert empty.catalog.default_schema == "public"
    assert empty.provenance() == {}  # public is the default value


def test_an_unset_variable_is_an_error_naming_it_and_the_field(tmp_path: Path) -> None:
    file = write(
        tmp_path / "p.toml",
        """
        [object_stores.lake]
        url = "s3://lake"
        kind = "s3"
        options = { endpoint = "${LAKE_ENDPOINT}", region = "${REGION}" }
        """,
    )
    with pytest.raises(ProfileError) as caught:
        load_profile(file, environ={})
    assert problems(caught) == {
        "object_stores.lake.options.endpoint": "${LAKE_ENDPOINT} is not set: export "
        "LAKE_ENDPOINT, or give a default such as ${LAKE_ENDPOINT:-value} (in p.toml)",
        "object_stores.lake.options.region": "${REGION} is not set: export REGION, or give a "
        "default such as ${REGION:-value} (in p.toml)",
    }


def test_a_malformed_reference_is_an_error_saying_how_to_write_one() -> None:
    for text in ("${1A}", "${A", "${A:default}"):
        with pytest.raises(ProfileError, match=r"catalog.default_schema: .* is not a variable"):
            SessionProfile.from_dict({"catalog": {"default_schema": text}}, environ={"A": "x"})


def test_secrets_are_references_never_filled_in() -> None:
    profile = SessionProfile.from_dict(
        {
            "object_stores": {
                "lake": {
                    "url": "s3://lake",
                    "kind": "s3",
                    "secrets": {"secret_access_key": {"literal": "a${B}c$$"}},
                }
            }
        },
        environ={"B": "filled"},
    )
    secret = profile.object_stores["lake"].secrets.secret_access_key
    assert secret is not None
    assert secret.literal == "a${B}c$$"


def test_a_credential_looking_field_refuses_variables_and_points_at_secrets() -> None:
    data = {
        "object_stores": {
            "lake": {"url": "s3://lake", "kind": "s3", "options": {"access_key_id": "${KEY}"}}
        }
    }
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(data, environ={"KEY": "AKIA-secret-value"})
    ((path, message),) = caught.value.problems
    assert path == "object_stores.lake.options.access_key_id"
    assert "looks like a credential" in message
    assert '[object_stores.lake.secrets] with { env = "VARIABLE" }' in message
    assert "AKIA-secret-value" not in str(caught.value)
    for name in ("api_token", "db_password", "client_secret"):
        with pytest.raises(ProfileError, match="looks like a credential"):
            SessionProfile.from_dict({"settings": {f"x.{name}": "${V:-1}"}}, environ={})


def test_environ_is_read_instead_of_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DFSESSION_TEST_SCHEMA", "from_process")
    data = {"catalog": {"default_schema": "${DFSESSION_TEST_SCHEMA:-unset}"}}
    assert SessionProfile.from_dict(data).catalog.default_schema == "from_process"
    given = SessionProfile.from_dict(data, environ={"DFSESSION_TEST_SCHEMA": "given"})
    assert given.catalog.default_schema == "given"


def test_plain_data_round_trips_values_that_hold_dollars() -> None:
    profile = SessionProfile.from_dict(
        {"views": {"v": {"sql": "SELECT '$$$$' AS a, '$${x}' AS b, $1 AS c"}}}, environ={}
    )
    assert profile.views["v"].sql == "SELECT '$$' AS a, '${x}' AS b, $1 AS c"
    assert SessionProfile.from_dict(profile.to_dict(), environ={}) == profile


# -- overrides ------------------------------------------------------------------------------------


def test_overrides_apply_last_over_layers_and_environments(tmp_path: Path) -> None:
    file = write(tmp_path / "analytics.toml", ENVIRONMENTS)
    profile = load_profile(
        file,
        env="prod",
        overrides={
            "execution.target_partitions": 32,
            "settings.datafusion.optimizer.max_passes": "5",
            'settings."datafusion.execution.collect_statistics"': True,
        },
    )
    assert profile.execution.target_partitions == 32
    assert profile.settings == {
        "datafusion.optimizer.max_passes": "5",
        "datafusion.execution.collect_statistics": "true",
    }
    provenance = profile.provenance()
    assert provenance["execution.target_partitions"] == "override"
    assert provenance["execution.memory_limit"] == "analytics.toml [env.prod]"
    assert provenance["settings.datafusion.optimizer.max_passes"] == "override"


def test_an_unknown_override_path_is_named_with_the_closest_key() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict({}, overrides={"execution.target_partition": 4, "excution.x": 1})
    assert problems(caught) == {
        "execution.target_partition": "unknown key; did you mean 'target_partitions'? "
        "(override 'execution.target_partition')",
        "excution": "unknown key; did you mean 'execution'? (override 'excution.x')",
    }


def test_an_override_into_a_missing_entry_names_the_entries_there() -> None:
    data = {"datasets": {"trips": {"format": "parquet", "location": "/data/trips"}}}
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(data, overrides={"datasets.trip.location": "/elsewhere"})
    assert problems(caught) == {
        "datasets.trip": "datasets has no 'trip'; did you mean 'trips'?; to add one, override "
        "it as a whole table (override 'datasets.trip.location')"
    }
    whole = {"format": "csv", "location": "/data/fees.csv"}
    added = SessionProfile.from_dict(data, overrides={"datasets.fees": whole})
    assert added.datasets["fees"].format == "csv"
    with pytest.raises(ProfileError, match="udfs: holds a value, not a table"):
        SessionProfile.from_dict({}, overrides={"udfs.0.ref": "a:b"})


def test_extends_and_environments_cannot_be_overridden_and_say_what_to_use() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {}, overrides={"extends": "base.toml", "env.prod.execution.batch_size": 8}
        )
    assert problems(caught) == {
        "extends": "layers are read before overrides apply, so extends cannot be overridden; "
        "name the layer in the profile's extends (override 'extends')",
        "env": "environments are laid over before overrides apply, so they cannot be "
        "overridden; select one with env= (--env), or override the key itself, such as "
        "execution.batch_size (override 'env.prod.execution.batch_size')",
    }


def test_an_override_of_the_wrong_type_is_an_error_naming_the_override(tmp_path: Path) -> None:
    file = write(tmp_path / "p.toml", "[execution]\ntarget_partitions = 4\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(file, overrides={"execution.target_partitions": "sixteen"})
    assert problems(caught) == {
        "execution.target_partitions": "expected an integer (got 'sixteen' that is a string) "
        "(from override)"
    }


def test_an_override_value_is_taken_as_it_is() -> None:
    profile = SessionProfile.from_dict(
        {}, overrides={"catalog.default_schema": "${NOT_READ}"}, environ={}
    )
    assert profile.catalog.default_schema == "${NOT_READ}"


# -- relative paths -------------------------------------------------------------------------------


def test_relative_paths_lead_from_the_file_that_declares_them(tmp_path: Path) -> None:
    write(
        tmp_path / "shared" / "lake.toml",
        """
        [execution]
        spill = ["spill", "/abs/spill"]

        [features]
        import_paths = ["."]

        [datasets.trips]
        format = "parquet"
        location = "data/trips/"
        """,
    )
    file = write(
        tmp_path / "conf" / "p.toml",
        """
        extends = "../shared/lake.toml"

        [datasets.fees]
        format = "csv"
        location = "${FEES:-fees}/all.csv"

        [datasets.remote]
        format = "parquet"
        location = "s3://lake/remote/"
        """,
    )
    profile = load_profile(file, environ={})
    assert str(profile.datasets["trips"].location) == f"{tmp_path}/shared/data/trips/"
    assert str(profile.datasets["fees"].location) == f"{tmp_path}/conf/fees/all.csv"
    assert str(profile.datasets["remote"].location) == "s3://lake/remote/"
    assert profile.execution.spill == (f"{tmp_path}/shared/spill", "/abs/spill")
    assert profile.features.import_paths == (f"{tmp_path}/shared",)


def test_relative_paths_in_overrides_lead_from_the_working_directory(tmp_path: Path) -> None:
    file = write(tmp_path / "conf" / "p.toml", "[execution]\nspill = 'os'\n")
    with contextlib.chdir(tmp_path):
        profile = load_profile(file, overrides={"execution.spill": ["scratch"]})
    assert profile.execution.spill == (f"{tmp_path}/scratch",)


def test_data_without_base_dir_keeps_relative_paths_as_written() -> None:
    data = {"datasets": {"t": {"format": "parquet", "location": "data/t"}}}
    assert str(SessionProfile.from_dict(data).datasets["t"].location) == "data/t"
    placed = SessionProfile.from_dict(data, base_dir="/srv/app")
    assert str(placed.datasets["t"].location) == "/srv/app/data/t"


def _parquet_folder(folder: Path, value: int) -> None:
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"v": [value]}), folder / "part.parquet")


def test_one_cache_never_hands_a_session_of_one_folder_to_a_profile_of_another(
    tmp_path: Path,
) -> None:
    text = '[datasets.t]\nformat = "parquet"\nlocation = "data/"\n'
    cache = SessionCache()
    values = []
    for name, value in (("a", 1), ("b", 2)):
        _parquet_folder(tmp_path / name / "data", value)
        profile = load_profile(write(tmp_path / name / "p.toml", text))
        session = SessionContextBuilder(profile, cache=cache).build()
        values.append(session.execute("SELECT v FROM t").column("v").to_pylist())
    assert values == [[1], [2]]
    assert cache.stats.misses == 2


def test_data_with_relative_paths_is_cached_per_working_directory(tmp_path: Path) -> None:
    profile = SessionProfile.from_dict({"datasets": {"t": {"format": "parquet", "location": "d/"}}})
    cache = SessionCache()
    values = []
    for name, value in (("a", 1), ("b", 2)):
        _parquet_folder(tmp_path / name / "d", value)
        with contextlib.chdir(tmp_path / name):
            session = SessionContextBuilder(profile, cache=cache).build()
            values.append(session.execute("SELECT v FROM t").column("v").to_pylist())
            assert cache.invalidate(profile) == 1
    assert values == [[1], [2]]


# -- provenance -----------------------------------------------------------------------------------


def test_provenance_names_the_file_environment_variable_or_override_of_each_key(
    tmp_path: Path,
) -> None:
    write(tmp_path / "base.toml", "[catalog]\ndefault_catalog = 'analytics'\n")
    file = write(
        tmp_path / "analytics.toml",
        """
        extends = "base.toml"

        [datasets.trips]
        format = "parquet"
        location = "${LAKE_ROOT:-s3://lake}/trips/"

        [env.prod.execution]
        target_partitions = 16
        """,
    )
    profile = load_profile(
        file,
        env="prod",
        environ={"LAKE_ROOT": "s3://prod"},
        overrides={"execution.batch_size": 4096},
    )
    assert profile.provenance() == {
        "execution.target_partitions": "analytics.toml [env.prod]",
        "execution.batch_size": "override",
        "catalog.default_catalog": "base.toml",
        "datasets.trips.format": "analytics.toml",
        "datasets.trips.location": "${LAKE_ROOT}",
    }


def test_profiles_that_end_up_equal_have_one_fingerprint_whatever_their_layers(
    tmp_path: Path,
) -> None:
    write(tmp_path / "base.toml", "[execution]\nbatch_size = 64\n")
    layered = load_profile(write(tmp_path / "a.toml", 'extends = "base.toml"\n'))
    flat = load_profile(write(tmp_path / "b.toml", "[execution]\nbatch_size = 64\n"))
    assert layered == flat
    assert layered.fingerprint() == flat.fingerprint()
    assert layered.provenance() != flat.provenance()


def test_a_profile_made_in_python_says_so() -> None:
    profile = SessionProfile(settings={"datafusion.optimizer.max_passes": "2"})
    assert profile.provenance() == {"settings.datafusion.optimizer.max_passes": "<python>"}


def test_errors_in_a_layered_profile_name_the_layer_that_set_the_value(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", "[execution]\nmemory_pool = 'fiar'\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path / "p.toml", 'extends = "base.toml"\n'))
    assert problems(caught)["execution.memory_pool"].endswith("(from base.toml)")


def test_a_profile_given_as_data_is_not_changed_by_loading() -> None:
    data = {"datasets": {"t": {"format": "csv", "location": "x"}}, "env": {"p": {}}}
    SessionProfile.from_dict(data, env="p", overrides={"datasets.t.location": "y"})
    assert data == {"datasets": {"t": {"format": "csv", "location": "x"}}, "env": {"p": {}}}


# -- import paths ---------------------------------------------------------------------------------


@needs_datafusion_55
def test_refs_resolve_from_import_paths_beside_the_profile_leaving_sys_path_alone(
    tmp_path: Path,
) -> None:
    module = f"beside_{uuid.uuid4().hex}"
    write(
        tmp_path / "conf" / "lib" / f"{module}.py",
        """
        from typing import Any

        from datafusion import SessionContext


        def double(x: Any) -> Any:
            return x * 2


        class Planner:
            def __datafusion_query_planner__(self, session: Any = None) -> Any:
                return SessionContext().__datafusion_query_planner__(session)


        PLANNER = Planner()
        """,
    )
    file = write(
        tmp_path / "conf" / "p.toml",
        f"""
        [features]
        import_paths = ["lib"]

        [[udfs]]
        ref = "{module}:double"
        args = ["int64"]
        returns = "int64"

        [planner]
        query_planner = "{module}:PLANNER"
        """,
    )
    before = list(sys.path)
    session = SessionContextBuilder(load_profile(file)).build()
    assert sys.path == before
    assert session.execute("SELECT double(21) AS v").column("v").to_pylist() == [42]
    assert session.record("planner").applied["query_planner"] == f"{module}:PLANNER"


def test_a_module_outside_the_import_paths_names_them_as_the_fix(tmp_path: Path) -> None:
    module = f"nowhere_{uuid.uuid4().hex}"
    file = write(tmp_path / "p.toml", f'[[udfs]]\nref = "{module}:f"\n')
    with pytest.raises(ProfileError, match=r"udfs.0.ref: .* add its folder to features.import_"):
        SessionContextBuilder(load_profile(file)).build()


# -- report and diff ------------------------------------------------------------------------------


def test_the_report_gives_each_key_its_value_and_origin_secrets_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFSESSION_TEST_TOKEN", "token-value")
    _parquet_folder(tmp_path / "data", 1)
    file = write(
        tmp_path / "p.toml",
        """
        [object_stores.lake]
        url = "s3://lake"
        kind = "s3"
        options = { region = "us-east-1", endpoint = "http://127.0.0.1:1", allow_http = true }

        [object_stores.lake.secrets]
        access_key_id = { literal = "AKIA-literal" }
        secret_access_key = { env = "DFSESSION_TEST_TOKEN" }

        [datasets.t]
        format = "parquet"
        location = "data/"

        [env.ci.execution]
        target_partitions = 3
        """,
    )
    report = SessionContextBuilder(load_profile(file, env="ci")).build().report()
    validator = jsonschema.Draft202012Validator(report_schema())
    validator.validate(report)
    provenance = report["provenance"]
    assert provenance["execution.target_partitions"] == {
        "value": 3,
        "origin": "p.toml [env.ci]",
    }
    assert provenance["datasets.t.location"] == {"value": f"{tmp_path}/data/", "origin": "p.toml"}
    assert provenance["object_stores.lake.secrets.access_key_id.literal"]["value"] == "***"
    token = provenance["object_stores.lake.secrets.secret_access_key.env"]
    assert token["value"] == "DFSESSION_TEST_TOKEN"
    assert "AKIA-literal" not in json.dumps(report)
    assert "token-value" not in json.dumps(report)


def test_diff_names_the_origin_of_each_differing_key_on_both_sides(tmp_path: Path) -> None:
    file = write(tmp_path / "analytics.toml", ENVIRONMENTS)
    dev = SessionContextBuilder(load_profile(file)).build().report()
    prod = SessionContextBuilder(load_profile(file, env="prod")).build().report()
    difference = diff_reports(dev, prod)
    changed = {d.path: d for d in difference.section("provenance")}
    assert set(changed) == {"execution.target_partitions", "execution.memory_limit"}
    partitions = changed["execution.target_partitions"]
    assert (partitions.a, partitions.origin_a) == (2, "analytics.toml")
    assert (partitions.b, partitions.origin_b) == (16, "analytics.toml [env.prod]")
    assert changed["execution.memory_limit"].kind == "only_in_b"
    lines = difference.lines("dev.json", "prod.json")
    assert lines[1:4] == [
        "provenance:",
        "  execution.target_partitions: 2 (dev.json, from analytics.toml) -> "
        "16 (prod.json, from analytics.toml [env.prod])",
        '  execution.memory_limit: only in prod.json: "8GiB" (from analytics.toml [env.prod])',
    ]
    assert difference.to_dict()["differences"]["provenance"][0] == {
        "section": "provenance",
        "path": "execution.target_partitions",
        "kind": "changed",
        "a": 2,
        "origin_a": "analytics.toml",
        "b": 16,
        "origin_b": "analytics.toml [env.prod]",
    }


def test_a_report_from_before_provenance_still_diffs() -> None:
    report = SessionContextBuilder(SessionProfile()).build().report()
    older = {key: value for key, value in report.items() if key != "provenance"}
    older["schema_version"] = 1
    difference = diff_reports(older, report)
    assert [d.section for d in difference.differences] == ["schema_version"]
