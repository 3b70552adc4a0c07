"""The native-plugin guard: one check for every compiled library handing the engine FFI objects."""

from __future__ import annotations

from pathlib import Path

import datafusion
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from dfsession import IncompatibleVersionsError, SessionContextBuilder, SessionProfile
from dfsession.engine.versions import (
    DELTALAKE,
    PluginGuard,
    PluginVersion,
    engine_refusal,
    package_of,
)

INSTALLED = datafusion.__version__.split(".")[0]
#: The text datafusion 55 raises when handed a table provider built for DataFusion 54.
ENGINE_TEXT = f"Incompatible DataFusion table provider major version 54; expected {INSTALLED}"


def test_the_installed_deltalake_passes_and_says_what_it_was_built_for() -> None:
    plugin = PluginGuard().check(DELTALAKE, required=True)
    assert plugin.package == "deltalake"
    assert plugin.datafusion_major == int(INSTALLED)
    assert "deltalake" in plugin.source


def test_a_plugin_declaring_another_major_is_refused_naming_package_versions_and_fix() -> None:
    with pytest.raises(IncompatibleVersionsError) as caught:
        PluginGuard({"pyarrow": 54}).check("pyarrow")
    message = str(caught.value)
    assert (caught.value.package, caught.value.built_for) == ("pyarrow", 54)
    assert caught.value.installed == int(INSTALLED)
    assert "pyarrow" in message and "DataFusion 54" in message
    assert f"datafusion {datafusion.__version__}" in message
    assert "pip install 'datafusion>=54,<55'" in message


def test_a_plugin_that_declares_no_major_passes_unless_one_is_required() -> None:
    plugin = PluginGuard().check("pyarrow")
    assert plugin.datafusion_major is None
    with pytest.raises(
        IncompatibleVersionsError, match=r"PluginGuard\(overrides=\{'pyarrow': N\}\)"
    ):
        PluginGuard().check("pyarrow", required=True)


def test_declared_reports_a_mismatch_without_raising() -> None:
    plugin = PluginGuard({"pyarrow": 54}).declared("pyarrow")
    assert (plugin.datafusion_major, plugin.source) == (54, "the guard's override")


def test_the_engines_refusal_becomes_incompatible_versions_naming_the_package() -> None:
    plugin = PluginVersion("icepkg", "0.11.0", None, "undeclared")
    with pytest.raises(IncompatibleVersionsError) as caught, PluginGuard().handing(plugin):
        raise ImportError(ENGINE_TEXT)
    message = str(caught.value)
    assert "table provider from icepkg 0.11.0" in message
    assert "built for DataFusion 54" in message and f"expects DataFusion {INSTALLED}" in message
    assert "pip install 'datafusion>=54,<55'" in message
    assert isinstance(caught.value.__cause__, ImportError)
    assert (caught.value.package, caught.value.built_for) == ("icepkg", 54)


def test_other_import_errors_go_through_unchanged() -> None:
    plugin = PluginVersion("icepkg", "0.11.0", None, "undeclared")
    assert engine_refusal(ValueError(ENGINE_TEXT), plugin) is None
    with pytest.raises(ImportError, match="no module"), PluginGuard().handing(plugin):
        raise ImportError("no module named icepkg")


def test_package_of_names_the_distribution_an_object_comes_from() -> None:
    assert package_of(DeltaTable) == "deltalake"
    assert package_of(object()) is None


def test_report_versions_name_the_plugins_a_build_used(tmp_path: Path) -> None:
    write_deltalake(tmp_path / "t", pa.table({"id": [1]}))
    datasets = {"t": {"format": "delta", "location": str(tmp_path / "t")}}
    session = SessionContextBuilder(SessionProfile.from_dict({"datasets": datasets})).build()
    versions = session.report()["versions"]
    assert versions["deltalake.datafusion_major"] == INSTALLED
    plain = SessionContextBuilder(SessionProfile.from_dict({})).build()
    assert "deltalake.datafusion_major" not in plain.report()["versions"]


def test_handing_a_package_name_reads_what_it_declares_only_on_a_refusal() -> None:
    with pytest.raises(IncompatibleVersionsError) as caught, PluginGuard().handing(DELTALAKE):
        raise ImportError(ENGINE_TEXT)
    assert "table provider from deltalake" in str(caught.value)
