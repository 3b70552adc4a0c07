"""The pytest plugin, run inside pytest with ``pytester``: a profile per marker or ini option,
built once per run, closed at the end."""

from __future__ import annotations

import textwrap
import tomllib
from http.server import ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

PROFILE = """
[datasets.ids]
format = "parquet"
location = "data/ids.parquet"

[execution]
target_partitions = 2

[env.test.execution]
target_partitions = 3
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with conf/p.toml over conf/data/; pytest loads only this plugin by name."""
    # Named with -p, not found through the installed entry point: loaded once either way.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", str(SRC))
    conf = pytester.path / "conf"
    (conf / "data").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2, 3]}), conf / "data" / "ids.parquet")
    (conf / "p.toml").write_text(PROFILE, encoding="utf-8")
    return pytester


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    """pytest in a process of its own: the engine's native modules initialize once a process."""
    return pytester.runpytest_subprocess("-p", "dfsession.pytest_plugin", "-p", "no:cacheprovider")


def test_the_plugin_is_declared_as_a_pytest11_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"dfsession": "dfsession.pytest_plugin"}


def test_a_marker_names_the_profile_and_environment_built_once_per_run(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_queries=textwrap.dedent(
            """
            import pytest

            SEEN = []

            @pytest.mark.dfsession(profile="conf/p.toml", env="test")
            def test_first(dfsession_session):
                SEEN.append(dfsession_session)
                ids = dfsession_session.execute("SELECT sum(id) AS s FROM ids")
                assert ids.column("s").to_pylist() == [6]
                assert dfsession_session.profile.execution.target_partitions == 3

            @pytest.mark.dfsession(profile="conf/p.toml", env="test")
            def test_second(dfsession_session):
                SEEN.append(dfsession_session)

            @pytest.mark.dfsession("conf/p.toml")
            def test_base(dfsession_session):
                SEEN.append(dfsession_session)
                assert dfsession_session.profile.execution.target_partitions == 2

            def test_one_build_per_profile():
                assert SEEN[0] is SEEN[1]
                assert SEEN[2] is not SEEN[0]
            """
        )
    )
    project.makepyfile(
        test_zelsewhere=textwrap.dedent(
            """
            import pytest
            import test_queries

            @pytest.mark.dfsession(profile="conf/p.toml", env="test")
            def test_another_file_shares_the_session(dfsession_session):
                assert dfsession_session is test_queries.SEEN[0]
            """
        )
    )
    run(project).assert_outcomes(passed=5)


def test_the_ini_option_names_the_profile_of_tests_without_a_marker(
    project: pytest.Pytester,
) -> None:
    project.makeini("[pytest]\ndfsession_profile = conf/p.toml\n")
    project.makepyfile(
        test_ini="""
        def test_it(dfsession_session):
            assert dfsession_session.execute("SELECT count(*) AS n FROM ids").num_rows == 1
        """
    )
    run(project).assert_outcomes(passed=1)


def test_without_a_profile_the_fixture_says_how_to_name_one(project: pytest.Pytester) -> None:
    project.makepyfile(test_none="def test_it(dfsession_session):\n    pass\n")
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dfsession_session needs a profile: mark the test*"])


def test_a_bad_profile_fails_the_test_with_the_profiles_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.dfsession(profile="conf/p.toml", env="stage")
        def test_it(dfsession_session):
            pass
        """
    )
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*environment 'stage' is not defined; the profile defines: test*"])


def test_a_mistyped_marker_argument_is_named_with_the_closest_one(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.dfsession(profile="conf/p.toml", evn="test")
        def test_it(dfsession_session):
            pass
        """
    )
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.dfsession takes profile and env, not 'evn'; did you mean 'env'?*"]
    )


def test_every_session_is_closed_when_the_run_ends(
    project: pytest.Pytester, collector: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A closed session flushes its spans to the collector; one left open would flush them only
    # when the process exits, after pytest_unconfigure has said the run ended.
    url = f"http://127.0.0.1:{collector.server_address[1]}"
    monkeypatch.setenv("COLLECTOR", url)
    with (project.path / "conf" / "p.toml").open("a", encoding="utf-8") as profile:
        profile.write(f'\n[tracing]\nenabled = true\nexporter = "otlp"\nendpoint = "{url}"\n')
    project.makeconftest(
        """
        import os
        import urllib.request

        def pytest_unconfigure(config):
            ended = urllib.request.Request(os.environ["COLLECTOR"] + "/run-ended", data=b"")
            urllib.request.urlopen(ended).close()
        """
    )
    project.makepyfile(
        test_traced="""
        import pytest

        @pytest.mark.dfsession(profile="conf/p.toml")
        def test_it(dfsession_session):
            dfsession_session.execute("SELECT 1")
        """
    )
    run(project).assert_outcomes(passed=1)
    paths = [path for path, _body in collector.received]  # type: ignore[attr-defined]
    assert paths == ["/v1/traces", "/run-ended"]
