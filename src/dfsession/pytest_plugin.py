"""The pytest plugin (entry point ``pytest11``): a ``dfsession_session`` fixture.

A test names its profile with ``@pytest.mark.dfsession(profile="conf/test.toml", env="test")``
(the path relative to the test's file), or the run names one for every test with the
``dfsession_profile`` ini option (relative to the ini file). Each profile is built once per
run, through a ``SessionCache``, and every session is closed when the run ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dfsession.pipeline.cache import SessionCache, profile_key
from dfsession.profile.model import SessionProfile, load_profile
from dfsession.profile.values import did_you_mean
from dfsession.session import BuiltSession, SessionContextBuilder

__all__ = [
    "MARKER",
    "PROFILE_OPTION",
    "dfsession_session",
    "pytest_addoption",
    "pytest_configure",
]

MARKER = "dfsession"
PROFILE_OPTION = "dfsession_profile"
_MARKER_ARGUMENTS = ("profile", "env")
#: More profiles than a test suite uses: none is evicted, so none is built twice in a run.
_MAX_PROFILES = 1024


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``dfsession_profile`` ini option."""
    parser.addini(
        PROFILE_OPTION,
        "the profile dfsession_session builds for tests without a dfsession marker "
        "(relative to the ini file)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``dfsession`` marker."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(profile=None, env=None): the profile (relative to the test file) and "
        "environment the dfsession_session fixture builds",
    )


class _Sessions:
    """The run's sessions: each profile built once, through a cache; all closed at the end."""

    def __init__(self) -> None:
        self.cache: SessionCache[BuiltSession] = SessionCache(maxsize=_MAX_PROFILES)
        self.built: dict[str, BuiltSession] = {}

    def session(self, profile: SessionProfile) -> BuiltSession:
        """The session of ``profile``: built the first time, the same one after."""
        session = SessionContextBuilder(profile, cache=self.cache).build()
        self.built.setdefault(profile_key(profile), session)
        return session

    def close(self) -> None:
        """Close every session the run built."""
        for session in self.built.values():
            session.close()
        self.built.clear()
        self.cache.clear()


@pytest.fixture(scope="session")
def _dfsession_sessions() -> Iterator[_Sessions]:
    sessions = _Sessions()
    yield sessions
    sessions.close()


@pytest.fixture
def dfsession_session(
    request: pytest.FixtureRequest, _dfsession_sessions: _Sessions
) -> BuiltSession:
    """The session of the test's profile (its ``dfsession`` marker, or ``dfsession_profile``)."""
    return _dfsession_sessions.session(_profile(request))


def _profile(request: pytest.FixtureRequest) -> SessionProfile:
    marker = request.node.get_closest_marker(MARKER)
    given = dict(marker.kwargs) if marker is not None else {}
    for name in given.keys() - _MARKER_ARGUMENTS:
        pytest.fail(
            f"@pytest.mark.{MARKER} takes profile and env, not {name!r}"
            + did_you_mean(name, _MARKER_ARGUMENTS),
            pytrace=False,
        )
    if marker is not None and marker.args:
        given.setdefault("profile", marker.args[0])
    path: str | None = given.get("profile")
    folder = request.node.path.parent
    if path is None:
        config = request.config
        path = str(config.getini(PROFILE_OPTION)) or None
        folder = config.inipath.parent if config.inipath is not None else config.rootpath
    if path is None:
        pytest.fail(
            "dfsession_session needs a profile: mark the test "
            f'@pytest.mark.{MARKER}(profile="conf/test.toml") or set {PROFILE_OPTION} in the '
            "pytest ini file",
            pytrace=False,
        )
    return load_profile(Path(folder, path), env=given.get("env"))
