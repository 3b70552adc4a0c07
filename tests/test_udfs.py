"""The ``udfs`` step: functions named by import reference, checked, installed and snapshotted."""

from __future__ import annotations

import json
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pytest
from datafusion import ScalarUDF, udf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import needs_datafusion_55
from dfsession import (
    BuiltSession,
    DfSessionError,
    ProfileError,
    SessionContextBuilder,
    SessionProfile,
    default_steps,
)
from dfsession.errors import QueryError
from dfsession.faults import UdfFault, UdfFaults
from dfsession.pipeline.ordering import validate_order
from dfsession.pipeline.step import InstallStep, SessionBuild
from dfsession.record import StepRecord
from dfsession.steps.functions import UdfsStep
from dfsession.steps.session import ContextStep
from dfsession.testing import step_orders

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # the fixture package lives next to this file
    sys.path.insert(0, str(TESTS))

import udf_fixtures.functions as fixture_functions  # noqa: E402

FIXTURES = "udf_fixtures.functions"
STEPS = (ContextStep(), UdfsStep())


def build(udfs: list[dict[str, Any]], **sections: Any) -> BuiltSession:
    profile = SessionProfile.from_dict({"udfs": udfs, **sections})
    return SessionContextBuilder(profile, steps=STEPS).build()


def build_error(udfs: list[dict[str, Any]], **sections: Any) -> ProfileError:
    with pytest.raises(ProfileError) as caught:
        build(udfs, **sections)
    assert caught.value.step == "udfs"
    return caught.value


def snapshot(session: BuiltSession) -> list[dict[str, Any]]:
    return list(session.record("udfs").applied["functions"])


def by_name(session: BuiltSession) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in snapshot(session)}


def rows(session: BuiltSession, sql: str) -> list[dict[str, Any]]:
    return session.ctx.sql(sql).to_arrow_table().to_pylist()


def explain(session: BuiltSession, sql: str) -> str:
    plans = session.ctx.sql(f"EXPLAIN {sql}").to_arrow_table().to_pydict()
    return plans["plan"][plans["plan_type"].index("logical_plan")]


# --- installing ---------------------------------------------------------------------------------


def test_scalar_aggregate_window_and_table_functions_from_a_module_answer_queries() -> None:
    session = build(
        [
            {"ref": f"{FIXTURES}:plus_one"},
            {"ref": f"{FIXTURES}:sum_of_squares"},
            {"ref": f"{FIXTURES}:row_index"},
            {"ref": f"{FIXTURES}:numbers"},
        ]
    )
    assert rows(session, "SELECT plus_one(41) AS v") == [{"v": 42}]
    assert rows(session, "SELECT sum_of_squares(CAST(n AS DOUBLE)) AS v FROM numbers(4)") == [
        {"v": 14.0}
    ]
    assert rows(session, "SELECT row_index(n) OVER (ORDER BY n) AS i FROM numbers(3)") == [
        {"i": 0},
        {"i": 1},
        {"i": 2},
    ]


def test_snapshot_records_name_kind_types_volatility_and_source_of_each_function() -> None:
    session = build(
        [
            {"ref": f"{FIXTURES}:plus_one"},
            {"ref": f"{FIXTURES}:sum_of_squares"},
            {"ref": f"{FIXTURES}:row_index"},
            {"ref": f"{FIXTURES}:numbers"},
            {"ref": f"{FIXTURES}:volatile_plus_one"},
        ]
    )
    assert snapshot(session) == [
        {
            "name": "numbers",
            "kind": "table",
            "args": None,
            "returns": None,
            "volatility": None,
            "source": f"{FIXTURES}:numbers",
        },
        {
            "name": "plus_one",
            "kind": "scalar",
            "args": ["Int64"],
            "returns": "Int64",
            "volatility": "immutable",
            "source": f"{FIXTURES}:plus_one",
        },
        {
            "name": "row_index",
            "kind": "window",
            "args": ["Int64"],
            "returns": "Int64",
            "volatility": "immutable",
            "source": f"{FIXTURES}:row_index",
        },
        {
            "name": "sum_of_squares",
            "kind": "aggregate",
            "args": ["Float64"],
            "returns": "Float64",
            "volatility": "immutable",
            "source": f"{FIXTURES}:sum_of_squares",
        },
        {
            "name": "volatile_plus_one",
            "kind": "scalar",
            "args": ["Int64"],
            "returns": "Int64",
            "volatility": "stable or volatile",
            "source": f"{FIXTURES}:volatile_plus_one",
        },
    ]
    json.dumps(session.record("udfs").to_dict())  # the record is JSON-able


def test_bundle_installs_every_member_and_names_each_by_its_position() -> None:
    session = build([{"ref": f"{FIXTURES}:BUNDLE"}])
    functions = by_name(session)
    assert set(functions) == {"times_two", "negate", "sum_of_squares"}
    assert functions["negate"]["source"] == f"{FIXTURES}:BUNDLE[1]"
    assert rows(session, "SELECT negate(times_two(3)) AS v") == [{"v": -6}]


def test_plain_callable_is_wrapped_with_the_signature_the_profile_declares() -> None:
    session = build(
        [
            {
                "ref": f"{FIXTURES}:clean_name",
                "args": ["string"],
                "returns": "string",
                "volatility": "immutable",
            },
            {
                "ref": f"{FIXTURES}:add_one",
                "name": "increment",
                "args": ["int64"],
                "returns": "int64",
            },
        ]
    )
    assert rows(session, "SELECT clean_name('  Ada LOVELACE ') AS v, increment(1) AS w") == [
        {"v": "ada lovelace", "w": 2}
    ]
    assert by_name(session)["clean_name"] == {
        "name": "clean_name",
        "kind": "scalar",
        "args": ["string"],
        "returns": "string",
        "volatility": "immutable",
        "source": f"{FIXTURES}:clean_name",
    }
    assert by_name(session)["increment"]["volatility"] == "volatile"  # the profile's default


def test_report_gathers_the_function_snapshot() -> None:
    session = build([{"ref": f"{FIXTURES}:plus_one"}, {"ref": f"{FIXTURES}:BUNDLE"}])
    report = session.report()
    assert [f["name"] for f in report["functions"]] == [
        "negate",
        "plus_one",
        "sum_of_squares",
        "times_two",
    ]
    json.dumps(report)


def test_a_changed_function_signature_changes_the_runtime_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    udfs = [{"ref": f"{FIXTURES}:plus_one"}]
    before = build(udfs)
    monkeypatch.setattr(fixture_functions, "plus_one", fixture_functions.plus_one_float)
    after = build(udfs)
    assert after.fingerprint == before.fingerprint  # the profile is the same...
    assert by_name(after)["plus_one"]["args"] == ["Float64"]
    assert after.runtime_hash != before.runtime_hash  # ...the function it names is not


def test_same_functions_give_the_same_runtime_hash() -> None:
    udfs = [{"ref": f"{FIXTURES}:plus_one"}, {"ref": f"{FIXTURES}:numbers"}]
    assert build(udfs).runtime_hash == build(udfs).runtime_hash


def test_step_is_skipped_with_a_reason_when_the_profile_names_no_functions() -> None:
    record = build([]).record("udfs")
    assert record.status == "skipped"
    assert "udf_entry_points" in record.applied["reason"]


def test_default_steps_install_functions_after_the_context() -> None:
    names = [step.name for step in default_steps()]
    assert names.index("context") < names.index("udfs")
    profile = SessionProfile.from_dict({"udfs": [{"ref": f"{FIXTURES}:plus_one"}]})
    session = SessionContextBuilder(profile).build()
    assert rows(session, "SELECT plus_one(1) AS v") == [{"v": 2}]


# --- volatility ---------------------------------------------------------------------------------


def test_immutable_function_of_constants_is_folded_at_plan_time() -> None:
    session = build([{"ref": f"{FIXTURES}:plus_one"}])
    plan = explain(session, "SELECT plus_one(1) AS v")
    assert "Int64(2) AS v" in plan
    assert "plus_one(" not in plan


def test_volatile_function_of_constants_is_left_for_execution() -> None:
    session = build([{"ref": f"{FIXTURES}:volatile_plus_one"}])
    assert "volatile_plus_one(Int64(1))" in explain(session, "SELECT volatile_plus_one(1) AS v")


@pytest.mark.parametrize(("volatility", "folded"), [("immutable", True), ("volatile", False)])
def test_declared_volatility_of_a_plain_callable_decides_folding(
    volatility: str, folded: bool
) -> None:
    session = build(
        [
            {
                "ref": f"{FIXTURES}:add_one",
                "args": ["int64"],
                "returns": "int64",
                "volatility": volatility,
            }
        ]
    )
    plan = explain(session, "SELECT add_one(1) AS v")
    assert ("add_one(Int64(1))" not in plan) is folded


# --- entry points -------------------------------------------------------------------------------


def advertise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *entries: str) -> None:
    """A real installed distribution (a .dist-info on sys.path) advertising ``entries``."""
    dist = tmp_path / "dfsession_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dfsession-test-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[dfsession.udfs]\n" + "\n".join(entries) + "\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def test_entry_point_functions_install_when_the_profile_enables_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advertise(
        tmp_path,
        monkeypatch,
        "cube = udf_fixtures.plugin:cube",
        "negation = udf_fixtures.plugin:PLUGIN_BUNDLE",
    )
    session = build([], features={"udf_entry_points": True})
    assert rows(session, "SELECT cube(3) AS c, plugin_negate(2) AS n") == [{"c": 27, "n": -2}]
    functions = by_name(session)
    assert functions["cube"]["source"] == (
        "entry point cube = udf_fixtures.plugin:cube, package dfsession-test-plugin"
    )
    assert functions["plugin_negate"]["source"].endswith("dfsession-test-plugin [0]")
    assert session.record("udfs").applied["entry_point_group"] == "dfsession.udfs"


def test_entry_point_functions_are_ignored_unless_the_profile_enables_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advertise(tmp_path, monkeypatch, "cube = udf_fixtures.plugin:cube")
    session = build([{"ref": f"{FIXTURES}:plus_one"}])
    assert set(by_name(session)) == {"plus_one"}
    assert "cube" not in session.ctx.udfs()


def test_entry_point_clashing_with_a_profile_function_names_both_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advertise(tmp_path, monkeypatch, "clash = udf_fixtures.plugin:clash")
    error = build_error([{"ref": f"{FIXTURES}:plus_one"}], features={"udf_entry_points": True})
    assert f"'{FIXTURES}:plus_one'" in str(error)
    assert "entry point clash = udf_fixtures.plugin:clash" in str(error)
    assert error.path == "features.udf_entry_points"


def test_entry_point_advertising_a_plain_callable_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advertise(tmp_path, monkeypatch, "plain = udf_fixtures.plugin:plain")
    error = build_error([], features={"udf_entry_points": True})
    assert "entry point plain = udf_fixtures.plugin:plain" in str(error)
    assert "function" in str(error) and "plain callable" in str(error)


def test_entry_point_that_does_not_resolve_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advertise(tmp_path, monkeypatch, "gone = udf_fixtures.plugin:gone")
    error = build_error([], features={"udf_entry_points": True})
    assert "'udf_fixtures.plugin:gone'" in str(error)
    assert "no attribute 'gone'" in str(error)


# --- errors -------------------------------------------------------------------------------------


def test_reference_to_a_missing_module_names_the_reference_and_says_module_not_found() -> None:
    error = build_error([{"ref": "udf_fixtures.nowhere:plus_one"}])
    assert error.path == "udfs.0.ref"
    assert "'udf_fixtures.nowhere:plus_one'" in str(error)
    assert "module 'udf_fixtures.nowhere' not found" in str(error)


def test_reference_to_a_missing_attribute_names_it_and_lists_what_the_module_has() -> None:
    error = build_error([{"ref": f"{FIXTURES}:plus_two"}])
    assert f"'{FIXTURES}:plus_two'" in str(error)
    assert "has no attribute 'plus_two'" in str(error)
    assert "plus_one" in str(error)


def test_reference_to_a_module_whose_import_raises_gives_the_exception() -> None:
    error = build_error([{"ref": "udf_fixtures.broken:anything"}])
    assert "'udf_fixtures.broken:anything'" in str(error)
    assert "raised RuntimeError: this module is broken on purpose" in str(error)
    assert isinstance(error.__cause__, RuntimeError)


def test_module_importing_a_missing_dependency_is_not_reported_as_missing_itself() -> None:
    error = build_error([{"ref": "udf_fixtures.needs_missing:anything"}])
    assert "raised ModuleNotFoundError" in str(error)
    assert "dfsession_no_such_dependency" in str(error)


def test_object_of_the_wrong_kind_says_what_was_found() -> None:
    error = build_error([{"ref": f"{FIXTURES}:NOT_A_FUNCTION"}])
    assert f"'{FIXTURES}:NOT_A_FUNCTION' is int 42" in str(error)
    assert "ScalarUDF" in str(error)


def test_a_class_is_the_wrong_kind_and_the_error_says_how_to_wrap_it() -> None:
    error = build_error(
        [{"ref": f"{FIXTURES}:SumOfSquares", "args": ["float64"], "returns": "float64"}]
    )
    assert "the class udf_fixtures.functions.SumOfSquares" in str(error)
    assert "udaf" in str(error)


def test_plain_callable_without_a_declared_signature_asks_for_args_and_returns() -> None:
    error = build_error([{"ref": f"{FIXTURES}:clean_name"}])
    assert error.path == "udfs.0.args"
    assert "plain callable" in str(error) and "returns" in str(error)


def test_decorator_form_of_udf_gets_a_hint() -> None:
    error = build_error([{"ref": f"{FIXTURES}:decorated"}])
    assert "@udf(...) decorator" in str(error)


def test_signature_declared_for_a_function_object_is_an_error() -> None:
    error = build_error([{"ref": f"{FIXTURES}:plus_one", "args": ["int64"], "returns": "int64"}])
    assert error.path == "udfs.0.args"
    assert "carries its own signature" in str(error)


def test_renaming_a_function_object_is_an_error() -> None:
    error = build_error([{"ref": f"{FIXTURES}:plus_one", "name": "inc"}])
    assert error.path == "udfs.0.name"
    assert "'plus_one'" in str(error) and "'inc'" in str(error)


def test_bundle_member_that_is_a_plain_callable_is_an_error() -> None:
    error = build_error([{"ref": f"{FIXTURES}:BUNDLE_WITH_CALLABLE"}])
    assert f"'{FIXTURES}:BUNDLE_WITH_CALLABLE[1]' is function" in str(error)


def test_empty_bundle_is_an_error() -> None:
    error = build_error([{"ref": f"{FIXTURES}:EMPTY_BUNDLE"}])
    assert "is an empty list" in str(error)


def test_two_functions_with_the_same_name_name_both_sources() -> None:
    error = build_error([{"ref": f"{FIXTURES}:plus_one"}, {"ref": f"{FIXTURES}:CLASHING_BUNDLE"}])
    assert error.path == "udfs.1.ref"
    message = str(error)
    assert "two functions are named 'plus_one'" in message
    assert f"'{FIXTURES}:plus_one' (udfs.0.ref)" in message
    assert f"'{FIXTURES}:CLASHING_BUNDLE[0]'" in message


def test_shadowing_a_built_in_function_needs_override() -> None:
    error = build_error([{"ref": f"{FIXTURES}:my_abs"}])
    assert error.path == "udfs.0.ref"
    assert "'abs'" in str(error) and "override = true" in str(error)


def test_override_lets_a_function_shadow_a_built_in_and_the_record_says_so() -> None:
    session = build([{"ref": f"{FIXTURES}:my_abs", "override": True}])
    assert rows(session, "SELECT abs(-3) AS v") == [{"v": 30}]
    assert session.record("udfs").applied["shadowed"] == ["abs"]


@needs_datafusion_55
def test_shadowing_a_built_in_table_function_needs_override() -> None:
    error = build_error([{"ref": f"{FIXTURES}:my_range"}])
    assert "table function 'range'" in str(error)
    session = build([{"ref": f"{FIXTURES}:my_range", "override": True}])
    assert rows(session, "SELECT count(*) AS c FROM range(4)") == [{"c": 4}]


def test_table_functions_are_checked_without_leaving_information_schema_on() -> None:
    session = build([{"ref": f"{FIXTURES}:numbers"}])
    with pytest.raises(Exception, match="information_schema"):
        session.ctx.sql("SELECT * FROM information_schema.routines")


@needs_datafusion_55
def test_table_functions_are_checked_leaving_information_schema_on_when_the_profile_has_it() -> (
    None
):
    session = build([{"ref": f"{FIXTURES}:numbers"}], catalog={"information_schema": True})
    names = rows(session, "SELECT routine_name FROM information_schema.routines")
    assert {"routine_name": "numbers"} in names


@attrs.frozen
class EarlyFunctionStep:
    """A user step that installs a function named ``early`` before the ``udfs`` step runs."""

    name: str = "early_function"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"early_function"})

    def install(self, build: SessionBuild) -> StepRecord:
        build.ctx.register_udf(
            udf(fixture_functions.add_one, [pa.int64()], pa.int64(), "immutable", name="early")
        )
        return StepRecord(step=self.name, applied={"installed": ["early"]})


@pytest.mark.parametrize("others", [0, 5], ids=["few functions", "many functions"])
def test_replacing_a_function_an_earlier_step_installed_needs_override(others: int) -> None:
    """Checked by asking for each name when there are few, by one listing when there are many."""
    declared = {"ref": f"{FIXTURES}:add_one", "args": ["int64"], "returns": "int64"}
    udfs = [{**declared, "name": "early"}] + [
        {**declared, "name": f"other_{i}"} for i in range(others)
    ]
    steps = (ContextStep(), EarlyFunctionStep(), UdfsStep())
    with pytest.raises(
        ProfileError, match="'early' \\(a built-in, or one an earlier step"
    ) as caught:
        SessionContextBuilder(SessionProfile.from_dict({"udfs": udfs}), steps=steps).build()
    assert caught.value.path == "udfs.0.ref"
    udfs[0]["override"] = True
    profile = SessionProfile.from_dict({"udfs": udfs})
    session = SessionContextBuilder(profile, steps=steps).build()
    assert session.record("udfs").applied["shadowed"] == ["early"]
    assert rows(session, "SELECT early(1) AS v") == [{"v": 2}]


def test_a_function_named_like_a_built_in_table_function_is_checked_against_functions() -> None:
    # 'range' is both a built-in table function and a built-in scalar (array) function.
    udfs = [
        {"ref": f"{FIXTURES}:numbers"},
        {"ref": f"{FIXTURES}:add_one", "name": "range", "args": ["int64"], "returns": "int64"},
    ]
    error = build_error(udfs)
    assert error.path == "udfs.1.ref"
    assert "function 'range'" in str(error) and "table function" not in str(error)
    udfs[1]["override"] = True
    assert build(udfs).record("udfs").applied["shadowed"] == ["range"]


def test_a_function_object_the_engine_lists_under_another_name_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Misnamed(ScalarUDF):
        """A subclass whose name is not the one the engine registers it under."""

        @property
        def name(self) -> str:
            return "not_plus_one"

    fields, field = [pa.field("value_0", pa.int64())], pa.field("value", pa.int64())
    misnamed = Misnamed("plus_one", fixture_functions.add_one, fields, field, "immutable")
    monkeypatch.setattr(fixture_functions, "misnamed", misnamed, raising=False)
    with pytest.raises(DfSessionError, match="does not list: 'not_plus_one' \\(scalar"):
        build([{"ref": f"{FIXTURES}:misnamed"}])


def test_reference_to_a_missing_nested_attribute_names_the_part_that_has_it() -> None:
    error = build_error([{"ref": f"{FIXTURES}:SumOfSquares.nope"}])
    assert f"'{FIXTURES}:SumOfSquares' has no attribute 'nope'" in str(error)


def test_errors_are_dfsession_errors_carrying_the_step_and_earlier_records() -> None:
    error = build_error([{"ref": f"{FIXTURES}:NOT_A_FUNCTION"}])
    assert isinstance(error, DfSessionError)
    assert [r.step for r in error.records] == ["context"]


# --- properties ---------------------------------------------------------------------------------

PROPERTY_UDFS = [
    {"ref": f"{FIXTURES}:plus_one"},
    {"ref": f"{FIXTURES}:row_index"},
    {"ref": f"{FIXTURES}:numbers"},
    {"ref": f"{FIXTURES}:BUNDLE"},
    {"ref": f"{FIXTURES}:clean_name", "args": ["string"], "returns": "string"},
]
PROPERTY_PROFILE = SessionProfile.from_dict(
    {
        "udfs": PROPERTY_UDFS,
        "planner": {"disable_rules": ["push_down_limit"]},
        "settings": {"datafusion.optimizer.max_passes": "2"},
    }
)
REFERENCE_SNAPSHOT = snapshot(
    SessionContextBuilder(PROPERTY_PROFILE, steps=default_steps()).build()
)


def topological(priority: tuple[InstallStep, ...]) -> tuple[InstallStep, ...]:
    """The valid order that takes, at each point, the runnable step earliest in ``priority``."""
    remaining, provided, order = list(priority), set[str](), []
    while remaining:
        step = next(s for s in remaining if s.requires <= provided)
        remaining.remove(step)
        provided |= step.provides
        order.append(step)
    return tuple(order)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step_orders(default_steps()).map(topological))
def test_any_valid_order_of_the_step_list_gives_the_same_function_snapshot(
    steps: tuple[InstallStep, ...],
) -> None:
    validate_order(steps)
    session = SessionContextBuilder(PROPERTY_PROFILE, steps=steps).build()
    assert snapshot(session) == REFERENCE_SNAPSHOT


@settings(max_examples=25, deadline=None)
@given(st.permutations(PROPERTY_UDFS))
def test_any_order_of_the_udf_entries_gives_the_same_function_snapshot(
    udfs: list[dict[str, Any]],
) -> None:
    assert snapshot(build(udfs)) == REFERENCE_SNAPSHOT


def test_function_name_with_capitals_is_refused_as_unreachable() -> None:
    profile = SessionProfile.from_dict(
        {
            "udfs": [
                {
                    "ref": f"{FIXTURES}:add_one",
                    "name": "Upper",
                    "args": ["int64"],
                    "returns": "int64",
                }
            ]
        }
    )
    with pytest.raises(ProfileError, match=r"folds unquoted names to lower case") as info:
        SessionContextBuilder(profile).build()
    assert "'upper'" in str(info.value)


# --- functions misbehaving at query time --------------------------------------------------------

VALUES = "(VALUES (CAST(1 AS BIGINT)), (2), (3)) AS t(v)"


def declared(name: str, returns: str = "int64") -> dict[str, Any]:
    return {"ref": f"{FIXTURES}:{name}", "args": ["int64"], "returns": returns}


def query_error(session: BuiltSession, sql: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        session.execute(sql)
    return caught.value


@pytest.mark.parametrize("call", ["as_text(v)", "sum(as_text(v))"])
def test_a_function_returning_another_type_is_a_query_error_naming_it_and_both_types(
    call: str,
) -> None:
    session = build([declared("add_one"), declared("as_text")])
    error = query_error(session, f"SELECT {call} FROM {VALUES}")
    message = str(error)
    assert "function 'as_text'" in message
    assert "udfs.1.returns" in message
    assert "returned string" in message
    assert "expected int64" in message
    assert "panic" not in message


def test_a_function_returning_fewer_values_than_rows_is_a_query_error_naming_it() -> None:
    session = build([declared("first_only")])
    error = query_error(session, f"SELECT sum(first_only(v)) FROM {VALUES}")
    assert "function 'first_only' (udfs.0.ref" in str(error)
    assert "returned 1 value(s) for 3 row(s)" in str(error)
    assert "bug report" not in str(error)


def test_a_function_without_arguments_returning_too_few_values_is_named_without_a_bug_report() -> (
    None
):
    session = build([{"ref": f"{FIXTURES}:one_value", "args": [], "returns": "int64"}])
    error = query_error(session, f"SELECT one_value() FROM {VALUES}")
    assert "function 'one_value' returned 1 value(s) for 3 row(s)" in str(error)
    assert "bug report" not in str(error)


def test_an_exception_inside_a_function_is_the_cause_with_its_type_and_traceback() -> None:
    session = build([declared("explode")])
    for sql in (f"SELECT explode(v) FROM {VALUES}", f"SELECT sum(explode(v)) FROM {VALUES}"):
        error = query_error(session, sql)
        assert "function 'explode' (udfs.0.ref" in str(error)
        assert "raised KeyError: 'missing'" in str(error)
        assert "PyErr" not in str(error)
        cause = error.__cause__
        assert isinstance(cause, KeyError)
        frames = [frame.name for frame in traceback.extract_tb(cause.__traceback__)]
        assert "explode" in frames


def test_results_that_convert_safely_to_the_declared_type_are_accepted() -> None:
    session = build([declared("as_list"), declared("as_int32")])
    table = session.execute(f"SELECT as_list(v) AS a, as_int32(v) AS b FROM {VALUES} ORDER BY v")
    assert table.schema.types == [pa.int64(), pa.int64()]
    assert table.to_pydict() == {"a": [2, 4, 6], "b": [1, 2, 3]}


def test_a_result_that_would_lose_data_in_the_declared_type_is_refused() -> None:
    session = build([declared("as_fraction")])
    error = query_error(session, f"SELECT as_fraction(v) FROM {VALUES}")
    assert "function 'as_fraction' returned float64, expected int64 (udfs.0.returns" in str(error)


def test_an_engine_panic_from_a_function_object_is_a_query_error(tmp_path: Path) -> None:
    session = build([{"ref": f"{FIXTURES}:panicking"}])
    sql = f"SELECT sum(panicking(v)) FROM {VALUES}"
    assert "panicked" in str(query_error(session, sql))
    with pytest.raises(QueryError, match="panicked"):
        session.stream(sql).read_all()
    with pytest.raises(QueryError, match="panicked"):
        session.explain(sql, analyze=True)
    for format in ("delta", "parquet"):
        with pytest.raises(QueryError, match="panicked"):
            session.write(sql, tmp_path / format, format=format)


def test_faults_no_query_takes_are_dropped_once_newer_ones_are_kept() -> None:
    faults = UdfFaults(limit=2)
    tokens = [faults.keep(UdfFault(f"fault {n}")) for n in range(3)]
    assert faults.take(f"engine text {tokens[0]}") is None
    assert faults.take(tokens[1]) == UdfFault("fault 1")
    assert faults.take(f"engine text {tokens[2]}") == UdfFault("fault 2")
    assert faults.take(tokens[2]) is None


def test_faults_of_concurrent_queries_each_reach_their_own_query() -> None:
    names = ["explode", "as_text", "first_only", "as_fraction"]
    session = build([declared(name) for name in names])

    def run(name: str) -> tuple[str, str]:
        error = query_error(session, f"SELECT {name}(v) FROM {VALUES}")
        return name, str(error)

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(run, names * 10))
    for name, message in outcomes:
        assert f"function {name!r}" in message
        assert {n for n in names if f"function {n!r}" in message} == {name}
