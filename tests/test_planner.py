"""The ``extensions`` and ``planner`` steps: codecs, bundles, optimizer settings and rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import DATAFUSION_MAJOR, needs_datafusion_55
from dfsession import (
    BuiltSession,
    IncompatibleVersionsError,
    ProfileError,
    SessionContextBuilder,
    SessionProfile,
    StepOrderError,
    default_steps,
)
from dfsession.steps.planner import ExtensionsStep, PlannerStep, effective_rules
from dfsession.steps.session import ContextStep

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # the fixture package lives next to this file
    sys.path.insert(0, str(TESTS))

PARTS = "udf_fixtures.planner_parts"
STEPS = (ContextStep(), ExtensionsStep(), PlannerStep())


def build(planner: dict[str, Any], **sections: Any) -> BuiltSession:
    profile = SessionProfile.from_dict({"planner": planner, **sections})
    return SessionContextBuilder(profile, steps=STEPS).build()


def build_error(planner: dict[str, Any], step: str = "planner") -> ProfileError:
    with pytest.raises(ProfileError) as caught:
        build(planner)
    assert caught.value.step == step
    return caught.value


def logical_rules(session: BuiltSession) -> list[str]:
    return effective_rules(session.ctx)["logical"]


# --- order --------------------------------------------------------------------------------------


def test_planner_step_requires_the_extensions_step_before_it() -> None:
    profile = SessionProfile()
    with pytest.raises(StepOrderError, match="'planner' requires 'extensions'"):
        SessionContextBuilder(
            profile, steps=(ContextStep(), PlannerStep(), ExtensionsStep())
        ).plan()


def test_default_steps_install_extensions_then_the_planner() -> None:
    names = [step.name for step in default_steps()]
    assert names.index("context") < names.index("extensions") < names.index("planner")


def test_both_steps_are_skipped_with_a_reason_when_the_profile_has_no_planner_section() -> None:
    session = build({})
    for name in ("extensions", "planner"):
        assert session.record(name).status == "skipped"
        assert session.record(name).applied["reason"]


# --- optimizer settings -------------------------------------------------------------------------


def test_optimizer_settings_are_applied_and_recorded() -> None:
    session = build(
        {
            "optimizer": {
                "datafusion.optimizer.max_passes": 7,
                "datafusion.optimizer.prefer_hash_join": False,
            }
        },
        catalog={"information_schema": True},
    )
    settings = session.effective_settings()
    assert settings is not None
    assert settings["datafusion.optimizer.max_passes"] == "7"
    assert settings["datafusion.optimizer.prefer_hash_join"] == "false"
    assert session.record("planner").applied["optimizer"] == {
        "datafusion.optimizer.max_passes": "7",
        "datafusion.optimizer.prefer_hash_join": "false",
    }


def test_unknown_optimizer_key_is_an_error_naming_the_key() -> None:
    error = build_error({"optimizer": {"datafusion.optimizer.max_passez": "3"}})
    assert error.path == "planner.optimizer.datafusion.optimizer.max_passez"
    assert "max_passez" in str(error)


def test_bad_optimizer_value_is_an_error_naming_the_key_and_the_value() -> None:
    error = build_error({"optimizer": {"datafusion.optimizer.max_passes": "many"}})
    assert error.path == "planner.optimizer.datafusion.optimizer.max_passes"
    assert "'many'" in str(error)


def test_a_non_optimizer_key_is_refused_when_the_profile_loads() -> None:
    with pytest.raises(ProfileError, match=r"planner\.optimizer\.datafusion\.execution"):
        SessionProfile.from_dict(
            {"planner": {"optimizer": {"datafusion.execution.batch_size": "10"}}}
        )


# --- logical rules ------------------------------------------------------------------------------


def test_disabled_rule_is_removed_from_the_logical_optimizer() -> None:
    assert "push_down_limit" in logical_rules(build({"record_rules": True}))
    session = build({"disable_rules": ["push_down_limit", "eliminate_limit"]})
    assert "push_down_limit" not in logical_rules(session)
    assert "eliminate_limit" not in logical_rules(session)
    assert session.record("planner").applied["removed_rules"] == [
        "push_down_limit",
        "eliminate_limit",
    ]


def test_removing_a_rule_changes_the_plan() -> None:
    query = "SELECT * FROM (SELECT 1 AS a UNION ALL SELECT 2 AS a) LIMIT 1"

    def plan(session: BuiltSession) -> str:
        table = session.ctx.sql(f"EXPLAIN {query}").to_arrow_table().to_pydict()
        return table["plan"][table["plan_type"].index("logical_plan")]

    assert plan(build({"disable_rules": ["push_down_limit"]})) != plan(
        build({"record_rules": True})
    )


def test_unknown_rule_name_is_an_error_listing_the_known_names() -> None:
    error = build_error({"disable_rules": ["push_down_limits"]})
    assert error.path == "planner.disable_rules.0"
    message = str(error)
    assert "unknown logical optimizer rule 'push_down_limits'" in message
    assert "did you mean 'push_down_limit'?" in message
    assert "known rules:" in message and "optimize_projections" in message


def test_analyzer_rule_cannot_be_removed_and_the_error_says_why() -> None:
    error = build_error({"disable_rules": ["type_coercion"]})
    assert "'type_coercion' is an analyzer rule" in str(error)


def test_rule_listed_twice_is_an_error() -> None:
    error = build_error({"disable_rules": ["push_down_limit", "push_down_limit"]})
    assert error.path == "planner.disable_rules.1"
    assert "listed twice" in str(error)


def test_record_rules_records_the_effective_rule_names_after_the_changes() -> None:
    session = build({"disable_rules": ["push_down_limit"], "record_rules": True})
    rules = session.record("planner").applied["effective_rules"]
    assert set(rules) == {"analyzer", "logical", "physical"}
    assert "type_coercion" in rules["analyzer"]
    assert "push_down_filter" in rules["logical"]
    assert "push_down_limit" not in rules["logical"]
    assert "ProjectionPushdown" in rules["physical"]
    json.dumps(session.record("planner").to_dict())


def test_rule_names_are_not_recorded_unless_asked() -> None:
    session = build({"disable_rules": ["push_down_limit"]})
    assert "effective_rules" not in session.record("planner").applied


# --- codecs, bundles, planners from compiled extensions -----------------------------------------


@needs_datafusion_55
def test_codecs_install_on_a_new_context_handed_back_through_the_build() -> None:
    session = build({"codecs": [f"{PARTS}:LOGICAL_CODEC", f"{PARTS}:PHYSICAL_CODEC"]})
    assert session.ctx.logical_extension_codec_ids() == ["udf_fixtures.logical.v1"]
    assert session.ctx.physical_extension_codec_ids() == ["udf_fixtures.physical.v1"]
    applied = session.record("extensions").applied
    assert applied["codecs"] == [
        {"ref": f"{PARTS}:LOGICAL_CODEC", "logical": True, "physical": False},
        {"ref": f"{PARTS}:PHYSICAL_CODEC", "logical": False, "physical": True},
    ]
    assert applied["logical_codec_ids"] == ["udf_fixtures.logical.v1"]
    assert session.ctx.sql("SELECT 1 AS n").to_arrow_table().to_pylist() == [{"n": 1}]


@needs_datafusion_55
def test_bundle_installs_through_with_extensions() -> None:
    session = build({"codecs": [f"{PARTS}:LOGICAL_CODEC"], "bundles": [f"{PARTS}:BUNDLE"]})
    assert session.ctx.logical_extension_codec_ids() == [
        "udf_fixtures.logical.v1",
        "udf_fixtures.bundle.v1",
    ]
    assert session.record("extensions").applied["bundles"] == [f"{PARTS}:BUNDLE"]


@needs_datafusion_55
def test_query_planner_is_installed_after_the_codecs_and_queries_run() -> None:
    session = build(
        {"codecs": [f"{PARTS}:LOGICAL_CODEC"], "query_planner": f"{PARTS}:QUERY_PLANNER"}
    )
    assert [r.step for r in session.records] == ["context", "extensions", "planner"]
    assert session.record("planner").applied["query_planner"] == f"{PARTS}:QUERY_PLANNER"
    assert session.ctx.logical_extension_codec_ids() == ["udf_fixtures.logical.v1"]
    assert session.ctx.sql("SELECT 40 + 2 AS n").to_arrow_table().to_pylist() == [{"n": 42}]


@pytest.mark.parametrize(
    ("section", "value", "path", "protocol"),
    [
        (
            "codecs",
            [f"{PARTS}:NO_CAPSULE"],
            "planner.codecs.0",
            "__datafusion_logical_extension_codec__",
        ),
        (
            "bundles",
            [f"{PARTS}:NO_CAPSULE"],
            "planner.bundles.0",
            "__datafusion_session_components__",
        ),
        (
            "physical_rules",
            [f"{PARTS}:NO_CAPSULE"],
            "planner.physical_rules.0",
            "__datafusion_physical_optimizer_rule__",
        ),
        (
            "query_planner",
            f"{PARTS}:NO_CAPSULE",
            "planner.query_planner",
            "__datafusion_query_planner__",
        ),
    ],
)
@needs_datafusion_55
def test_python_object_without_the_capsule_names_the_reference_and_the_missing_protocol(
    section: str, value: Any, path: str, protocol: str
) -> None:
    step = "extensions" if section in ("codecs", "bundles") else "planner"
    error = build_error({section: value}, step=step)
    assert error.path == path
    assert f"'{PARTS}:NO_CAPSULE' is PlainObject" in str(error)
    assert protocol in str(error)
    assert "PyCapsule" in str(error)


@needs_datafusion_55
def test_class_instead_of_an_instance_is_named_as_such() -> None:
    error = build_error({"query_planner": f"{PARTS}:QueryPlanner"})
    assert "is the class udf_fixtures.planner_parts.QueryPlanner" in str(error)
    assert "instance" in str(error)


@needs_datafusion_55
def test_capsule_of_the_wrong_kind_is_an_error_with_the_engine_reason() -> None:
    error = build_error({"physical_rules": [f"{PARTS}:WRONG_CAPSULE_RULE"]})
    assert error.path == "planner.physical_rules.0"
    assert f"'{PARTS}:WRONG_CAPSULE_RULE'" in str(error)
    assert "datafusion_query_planner" in str(error)


def test_unresolvable_extension_reference_names_the_reference() -> None:
    error = build_error({"codecs": [f"{PARTS}:MISSING"]}, step="extensions")
    assert error.path == "planner.codecs.0"
    assert f"'{PARTS}:MISSING'" in str(error)


def test_a_failed_extension_leaves_the_session_unbuilt() -> None:
    profile = SessionProfile.from_dict(
        {"planner": {"codecs": [f"{PARTS}:LOGICAL_CODEC", f"{PARTS}:NO_CAPSULE"]}}
    )
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile, steps=STEPS).build()
    assert [r.step for r in caught.value.records] == ["context"]


@pytest.mark.skipif(DATAFUSION_MAJOR >= 55, reason="DataFusion 55 has set_query_planner")
def test_a_query_planner_on_datafusion_54_is_refused_naming_the_version() -> None:
    with pytest.raises(IncompatibleVersionsError, match="set_query_planner, which datafusion 54"):
        build({"query_planner": f"{PARTS}:QUERY_PLANNER"})
