"""The session report, its shipped JSON Schema, and the diff of two reports."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import udf
from deltalake import write_deltalake

from dfsession import (
    DfSessionError,
    SessionBuild,
    SessionContextBuilder,
    SessionProfile,
    StepRecord,
    default_steps,
)
from dfsession.diff import diff_reports
from dfsession.session import REPORT_SCHEMA_VERSION, report_schema

SETTINGS = {"datafusion.optimizer.max_passes": "3"}


def validator() -> jsonschema.Draft202012Validator:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def profile(information_schema: bool = True, **settings: str) -> SessionProfile:
    return SessionProfile.from_dict(
        {
            "catalog": {"information_schema": information_schema},
            "settings": {**SETTINGS, **settings},
        }
    )


@attrs.frozen
class TablesAndFunctionsStep:
    """A real step that registers a parquet file and a UDF, and records them as steps should."""

    path: str
    name: str = "tables_and_functions"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"tables_and_functions"})

    def install(self, build: SessionBuild) -> StepRecord:
        build.ctx.register_parquet("trips", self.path)
        double = udf(
            lambda a: pa.compute.multiply(a, 2),
            [pa.int64()],
            pa.int64(),
            "immutable",
            name="double",
        )
        build.ctx.register_udf(double)
        schema = build.ctx.table("trips").schema()
        return StepRecord(
            step=self.name,
            applied={
                "datasets": (
                    {
                        "name": "trips",
                        "format": "parquet",
                        "location": self.path,
                        "schema_fingerprint": hashlib.sha256(schema.serialize()).hexdigest(),
                    },
                ),
                "functions": [
                    {
                        "name": "double",
                        "kind": "scalar",
                        "args": ("int64",),
                        "returns": "int64",
                        "volatility": "immutable",
                        "source": "tests.test_report:double",
                    }
                ],
            },
        )


@pytest.fixture
def trips(tmp_path: Path) -> str:
    path = tmp_path / "trips.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "fare": [5.0, 150.0, 20.0]}), path)
    return str(path)


def build(prof: SessionProfile, trips: str | None = None) -> Any:
    steps = default_steps() if trips is None else (*default_steps(), TablesAndFunctionsStep(trips))
    return SessionContextBuilder(prof, steps).build()


def test_report_has_the_fixed_keys_and_validates_against_the_shipped_schema(trips: str) -> None:
    session = build(profile(), trips)
    report = session.report()

    validator().validate(report)
    assert list(report) == [
        "schema_version",
        "fingerprint",
        "runtime_hash",
        "versions",
        "steps",
        "settings",
        "functions",
        "datasets",
        "provenance",
    ]
    assert report["schema_version"] == REPORT_SCHEMA_VERSION
    assert report["fingerprint"] == session.fingerprint
    assert report["runtime_hash"] == session.runtime_hash
    assert set(report["versions"]) >= {"dfsession", "datafusion", "deltalake", "pyarrow"}
    assert [s["step"] for s in report["steps"]] == [r.step for r in session.records]
    assert report["functions"][0]["name"] == "double"
    assert report["functions"][0]["args"] == ["int64"]  # tuples become JSON lists
    assert report["datasets"][0]["name"] == "trips"
    assert json.loads(json.dumps(report)) == report


def test_report_settings_are_the_engines_effective_settings(trips: str) -> None:
    report = build(profile(), trips).report()
    settings = report["settings"]
    assert settings["datafusion.optimizer.max_passes"] == "3"
    assert settings["datafusion.catalog.information_schema"] == "true"
    assert "datafusion.execution.batch_size" in settings
    assert list(settings) == sorted(settings)


def test_report_settings_are_null_when_information_schema_is_off() -> None:
    report = build(profile(information_schema=False)).report()
    assert report["settings"] is None
    validator().validate(report)


def test_the_schema_rejects_documents_that_are_not_reports() -> None:
    good = build(profile()).report()
    check = validator()
    missing = {k: v for k, v in good.items() if k != "datasets"}
    bad_hash = {**good, "fingerprint": "not-a-hash"}
    skipped_without_reason = copy.deepcopy(good)
    skipped_without_reason["steps"][0].update(status="skipped", applied={})
    extra_key = {**good, "extra": 1}
    for document in (missing, bad_hash, skipped_without_reason, extra_key):
        assert not check.is_valid(document)


def test_the_schema_ships_as_package_data_with_a_description_for_every_key() -> None:
    schema = report_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["enum"][-1] == REPORT_SCHEMA_VERSION
    for key, spec in schema["properties"].items():
        assert spec.get("description"), key


def test_two_builds_of_one_profile_diff_as_equal_whatever_the_durations() -> None:
    a, b = build(profile()).report(), build(profile()).report()
    b["steps"][0]["duration_ms"] = a["steps"][0]["duration_ms"] + 100.0
    result = diff_reports(a, b)
    assert result.equal
    assert result.differences == ()
    assert result.lines() == [
        f"A and B are the same session (fingerprint {a['fingerprint'][:12]}, "
        f"runtime hash {a['runtime_hash'][:12]})"
    ]
    assert result.to_dict()["equal"] is True


def test_diff_names_the_changed_setting_step_and_hashes_grouped_by_section(tmp_path: Path) -> None:
    a = build(profile()).report()
    b = build(profile(**{"datafusion.optimizer.max_passes": "4"})).report()
    # the same documents, read back from files as `dfsession diff A.json B.json` does
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    result = diff_reports(
        json.loads((tmp_path / "a.json").read_text()), json.loads((tmp_path / "b.json").read_text())
    )

    assert not result.equal
    settings = result.section("settings")
    assert [(d.path, d.kind, d.a, d.b) for d in settings] == [
        ("datafusion.optimizer.max_passes", "changed", "3", "4")
    ]
    (step,) = result.section("steps")
    # SessionConfig takes the key: the context step's record holds it.
    assert step.path == "context.applied.settings.datafusion.optimizer.max_passes"
    assert {d.section for d in result.differences} == {
        "provenance",
        "settings",
        "steps",
        "fingerprint",
        "runtime_hash",
    }
    lines = result.lines("a.json", "b.json")
    assert lines[0] == (
        "a.json and b.json differ in provenance (1), settings (1), steps (1), fingerprint (1), "
        "runtime_hash (1)"
    )
    assert lines[1:3] == [
        "provenance:",
        '  settings.datafusion.optimizer.max_passes: "3" (a.json, from <dict>) -> "4" '
        "(b.json, from <dict>)",
    ]
    assert lines[3] == "settings:"
    assert lines[4] == '  datafusion.optimizer.max_passes: "3" (a.json) -> "4" (b.json)'
    assert lines[5] == "steps:"
    headers = [line for line in lines if not line.startswith(" ")]
    assert headers[1:] == ["provenance:", "settings:", "steps:", "fingerprint:", "runtime_hash:"]
    as_dict = result.to_dict()
    assert as_dict["equal"] is False
    assert as_dict["differences"]["functions"] == []
    assert as_dict["differences"]["settings"] == [
        {
            "section": "settings",
            "path": "datafusion.optimizer.max_passes",
            "kind": "changed",
            "a": "3",
            "b": "4",
        }
    ]
    json.dumps(as_dict)


def test_diff_shows_functions_and_datasets_by_name(trips: str) -> None:
    a = build(profile(), trips).report()
    b = copy.deepcopy(a)
    b["datasets"][0]["schema_fingerprint"] = "other"
    b["functions"].append({"name": "triple", "kind": "scalar"})
    b["functions"][0]["volatility"] = "volatile"

    result = diff_reports(a, b)
    assert [(d.path, d.kind) for d in result.section("datasets")] == [
        ("trips.schema_fingerprint", "changed")
    ]
    assert [(d.path, d.kind) for d in result.section("functions")] == [
        ("double.volatility", "changed"),
        ("triple", "only_in_b"),
    ]
    lines = result.lines()
    assert '  triple: only in B: {"kind": "scalar"}' in lines
    assert '  double.volatility: "immutable" (A) -> "volatile" (B)' in lines


def test_diff_shows_steps_added_removed_or_reordered_and_versions() -> None:
    a = build(profile()).report()
    b = copy.deepcopy(a)
    b["steps"] = list(reversed(b["steps"]))
    b["versions"]["datafusion"] = "0.1.0"
    c = copy.deepcopy(a)
    removed = c["steps"].pop()

    reordered = diff_reports(a, b)
    assert [d.path for d in reordered.section("steps")] == ["(order)"]
    (version,) = reordered.section("versions")
    assert (version.path, version.b) == ("datafusion", "0.1.0")
    (gone,) = diff_reports(a, c).section("steps")
    assert (gone.path, gone.kind) == (removed["step"], "only_in_a")
    assert "duration_ms" not in gone.a


def test_diff_when_one_report_has_no_settings_says_so() -> None:
    a = build(profile()).report()
    b = build(profile(information_schema=False)).report()
    result = diff_reports(a, b)
    (settings,) = result.section("settings")
    assert settings.kind == "only_in_a"
    assert "information_schema is off" in settings.path


def test_diff_of_lists_of_values_shows_what_was_added_and_removed() -> None:
    a = build(profile()).report()
    b = copy.deepcopy(a)
    a["steps"][0]["applied"]["tags"] = ["x", "y", "y"]
    b["steps"][0]["applied"]["tags"] = ["y", "z"]
    found = [(d.kind, d.a, d.b) for d in diff_reports(a, b).section("steps")]
    assert found == [("only_in_a", "x", None), ("only_in_a", "y", None), ("only_in_b", None, "z")]
    b["steps"][0]["applied"]["tags"] = ["y", "x", "y"]
    (order,) = diff_reports(a, b).section("steps")
    assert order.path.endswith("tags.(order)")


def test_diff_refuses_a_document_that_is_not_a_report_naming_which() -> None:
    good = build(profile()).report()
    with pytest.raises(
        DfSessionError,
        match=r"report B is not a dfsession report: 'datasets' is a required property",
    ):
        diff_reports(good, {k: v for k, v in good.items() if k != "datasets"})
    with pytest.raises(DfSessionError, match=r"report A is not a dfsession report: .* not of type"):
        diff_reports([], good)  # type: ignore[arg-type]
    with pytest.raises(
        DfSessionError, match=r"report A is not a dfsession report: steps\.0: 1 is not of type"
    ):
        diff_reports({**good, "steps": [1]}, good)
    with pytest.raises(DfSessionError, match=r"report B .*: steps\.0\.status: 'done' is not one"):
        bad = copy.deepcopy(good)
        bad["steps"][0]["status"] = "done"
        diff_reports(good, bad)


def test_true_and_one_are_different_values_in_a_diff() -> None:
    a = build(profile()).report()
    b = copy.deepcopy(a)
    a["steps"][0]["applied"]["flag"] = True
    b["steps"][0]["applied"]["flag"] = 1
    assert not diff_reports(a, b).equal


def test_report_of_real_datasets_delta_tables_and_functions_validates_and_diffs(
    tmp_path: Path, trips: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "customers"
    write_deltalake(str(lake), pa.table({"id": [1, 2]}))
    write_deltalake(
        str(lake), pa.table({"id": [3], "name": ["c"]}), mode="append", schema_mode="merge"
    )
    (tmp_path / "report_udfs.py").write_text("def shout(values):\n    return values\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def session_at(version: int) -> Any:
        data = {
            "catalog": {"information_schema": True},
            "datasets": {
                "trips": {"format": "parquet", "location": trips, "schema": {"id": "int64"}},
                "customers": {"format": "delta", "location": str(lake), "version": version},
            },
            "udfs": [
                {
                    "ref": "report_udfs:shout",
                    "name": "shout",
                    "args": ["string"],
                    "returns": "string",
                    "volatility": "immutable",
                }
            ],
        }
        return SessionContextBuilder(SessionProfile.from_dict(data)).build()

    old, new = session_at(0).report(), session_at(1).report()
    for report in (old, new):
        validator().validate(report)
    assert {d["name"] for d in new["datasets"]} == {"trips", "customers"}
    assert [f["name"] for f in new["functions"]] == ["shout"]

    result = diff_reports(old, new)
    changed = {d.path for d in result.section("datasets")}
    assert {"customers.version", "customers.schema_fingerprint"} <= changed
    assert not result.section("functions")
    assert "datasets:" in result.lines()


def test_reports_of_two_builds_with_spill_directories_are_equal(tmp_path: Path) -> None:
    profile = SessionProfile.from_dict(
        {"catalog": {"information_schema": True}, "execution": {"spill": [str(tmp_path)]}}
    )
    first = SessionContextBuilder(profile).build().report()
    second = SessionContextBuilder(profile).build().report()
    assert first["settings"] != second["settings"]  # each session spills into its own folder
    assert diff_reports(first, second).equal
