"""Fuzzing the profile boundary: whatever ``from_dict`` or ``load_profile`` is fed, the answer is
a profile or a ``ProfileError``; a profile it accepts round-trips through dict and TOML with the
same fingerprint, and builds or fails with a ``DfSessionError``.

The normal run tries a few hundred inputs; ``nox -s fuzz`` sets ``DFSESSION_FUZZ_EXAMPLES`` for
a long run.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import traceback
import typing
from pathlib import Path
from typing import Any

import attrs
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dfsession import (
    DfSessionError,
    ProfileError,
    SessionContextBuilder,
    SessionProfile,
    load_profile,
)
from dfsession.profile import catalogs, datasets, sections, stores, values
from dfsession.testing import profiles

FUZZ_EXAMPLES = int(os.environ.get("DFSESSION_FUZZ_EXAMPLES", "150"))

_SECTION_CLASSES = [
    SessionProfile,
    sections.ExecutionConfig,
    sections.CatalogConfig,
    sections.SqlPolicy,
    sections.FeaturesConfig,
    sections.ViewConfig,
    sections.PreparedConfig,
    sections.UdfConfig,
    sections.PlannerConfig,
    sections.TracingConfig,
    catalogs.IcebergCatalog,
]
_SPEC_CLASSES = [
    cls
    for union in (stores.ObjectStoreSpec, datasets.DatasetSpec)
    for spec in map(attrs.resolve_types, typing.get_args(union))
    for cls in (
        spec,
        getattr(getattr(attrs.fields(spec), "options", None), "type", None),
        getattr(attrs.fields(spec), "secrets", None),
    )
    if isinstance(cls, type)
]
#: Every key a profile knows (options and secrets included), so that mutations hit real fields.
KEYS = sorted(
    {field.name for cls in _SECTION_CLASSES for field in attrs.fields(cls) if field.init}
    | {field.name for cls in _SPEC_CLASSES for field in attrs.fields(cls)}
    | {"env", "literal", "datafusion.optimizer.max_passes", "datafusion.runtime.memory_limit"}
)
#: Values a profile knows, and values near the edges the fuzzer found.
WORDS = sorted(
    {
        *sections.MEMORY_POOLS,
        *values.SPILL_MODES,
        *stores.STORE_KINDS,
        *catalogs.CATALOG_KINDS,
        *datasets.FORMATS,
        *datasets.SCHEMA_MODES,
        *sections.VOLATILITIES,
        *sections.EXPORTERS,
        "2GiB",
        "1.5KiB",
        "0.1b",
        "9007199254740993",
        "9007199254740993KiB",
        "99999999999999999999999TiB",
        "int64",
        "timestamp[us, UTC]",
        "decimal128(38, 10)",
        "struct<a: int64>",
        "s3://lake",
        "file:///",
        "pkg.mod:attr",
        "SELECT 1 AS x",
        "SELECT $1 AS x",
        "2024-05-01T12:00:00Z",
        "",
        " ",
        "a\ud800",
    }
)
#: An integer Python cannot print (4,300+ digits); built lazily so that reprs stay printable.
HUGE = st.builds(pow, st.just(10), st.just(4400))
_INTEGERS = st.one_of(
    st.integers(),
    st.sampled_from([-1, 0, 1, 2**53 + 1, 2**60 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64]),
    HUGE,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    _INTEGERS,
    st.floats(),
    st.text(st.characters(exclude_categories=()), max_size=8),
    st.sampled_from(WORDS),
    st.datetimes(),
    st.dates(),
    st.times(),
    st.binary(max_size=4),
)
#: Keys as YAML or a Python caller may give them: ``on:`` is ``True`` in YAML.
DICT_KEYS = st.one_of(
    st.sampled_from(KEYS),
    st.text(st.characters(exclude_categories=()), max_size=6),
    st.sampled_from([True, False, None, 1, 1.5]),
    HUGE,
)


def _nested(depth: int) -> Any:
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


TREES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(DICT_KEYS, children, max_size=4)
    ),
    max_leaves=12,
)
#: Nested past the loader's depth limit, yet shallow enough for a failure report to print.
VALUES = st.one_of(TREES, st.integers(30, 120).map(_nested))


def _nodes(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) pair in ``data``, the root's own keys included."""
    found: list[tuple[Any, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            found.append((node, key))
            if isinstance(node[key], dict | list):
                stack.append(node[key])
    return found


def _containers(data: Any) -> list[Any]:
    return [data, *(node[key] for node, key in _nodes(data) if isinstance(node[key], dict | list))]


@st.composite
def mutated_profiles(draw: st.DrawFn) -> dict[str, Any]:
    """A valid profile's dict with one to three changes: a value replaced, removed or added."""
    data = copy.deepcopy(draw(profiles(buildable=False)).to_dict())
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.sampled_from(["replace", "delete", "add"]))
        nodes = _nodes(data)
        if operation in ("replace", "delete") and nodes:
            node, key = draw(st.sampled_from(nodes))
            if operation == "replace" or isinstance(node, list):
                node[key] = draw(VALUES)
            else:
                del node[key]
        else:
            container = draw(st.sampled_from(_containers(data)))
            if isinstance(container, dict):
                container[draw(DICT_KEYS)] = draw(VALUES)
            else:
                container.append(draw(VALUES))
    return data


RANDOM_PROFILES = st.dictionaries(
    st.one_of(st.sampled_from([f.name for f in attrs.fields(SessionProfile) if f.init]), DICT_KEYS),
    VALUES,
    max_size=4,
)


def _offline(profile: SessionProfile, root: Path) -> SessionProfile:
    """The profile as a test machine can build it: no network, no folder outside ``root``.

    Remote object stores and an OTLP exporter would reach the network; a location or a local
    store's prefix such as ``/`` or ``..`` would list a whole disk: they move under ``root``. A
    provider dataset would call whatever its reference names: it is left out. Everything else
    is built as it is.
    """
    local = {
        name: attrs.evolve(store, options=stores.LocalOptions(prefix=str(root / f"store{index}")))
        for index, (name, store) in enumerate(profile.object_stores.items())
        if isinstance(store, stores.LocalStore)
    }
    tables = {
        name: (
            attrs.evolve(dataset, location=_under(root, f"dataset{index}", dataset.location.text))
            if isinstance(dataset, datasets.LocatedDataset)
            else dataset  # provider and Iceberg tables have no location
        )
        for index, (name, dataset) in enumerate(profile.datasets.items())
    }
    # Discovery lists its location: a whole disk, or a remote store, would be listed.
    found = {
        name: attrs.evolve(entry, location=_under(root, f"discover{index}", entry.location.text))
        for index, (name, entry) in enumerate(profile.discover.items())
        if entry.location.is_local
    }
    tracing = profile.tracing if profile.tracing.exporter != "otlp" else sections.TracingConfig()
    return attrs.evolve(
        profile, object_stores=local, datasets=tables, discover=found, tracing=tracing
    )


def _under(root: Path, name: str, location: str) -> str:
    """``location``, or a folder under ``root`` when it would lead out of it."""
    if location.startswith(("/", "~", "\\", "file:")) or ".." in location:
        return str(root / name)
    return location


def check_boundary(data: Any) -> None:
    """The property every input must keep; an escape is reported as text pytest can print."""
    try:
        _check(data)
    except AssertionError:
        raise
    except Exception as exc:  # its args may hold an integer too long to print: show type and frames
        frames = "".join(traceback.format_tb(exc.__traceback__))
        raise AssertionError(f"escaped as {type(exc).__name__}:\n{frames}") from None


def _check(data: Any) -> None:
    try:
        profile = load_profile(data) if isinstance(data, Path) else SessionProfile.from_dict(data)
    except ProfileError:
        event("refused: ProfileError")
        return
    event("accepted")
    _check_accepted(profile)


def _check_accepted(profile: SessionProfile) -> None:
    again = SessionProfile.from_dict(profile.to_dict())
    assert again == profile
    assert again.fingerprint() == profile.fingerprint()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        file = root / "profile.toml"
        file.write_text(profile.to_toml(), encoding="utf-8")
        loaded = load_profile(file)
        # Relative paths in a file lead from its folder.
        placed = SessionProfile.from_dict(profile.to_dict(), base_dir=root)
        assert loaded == placed
        assert loaded.fingerprint() == placed.fingerprint()
        with contextlib.chdir(root):
            try:
                SessionContextBuilder(_offline(profile, root)).build()
            except DfSessionError as exc:
                event(f"build failed: {type(exc).__name__}")
            else:
                event("built")


def _toml_text(data: Any) -> str:
    try:
        return tomli_w.dumps(data)
    except (TypeError, ValueError):  # not TOML-able (None, a key that is not a string...)
        return ""


@st.composite
def profile_files(draw: st.DrawFn) -> str | bytes | None:
    """File contents: a profile's TOML cut or spliced, deep nesting, long integers, bytes;
    ``None`` for a folder where the file should be."""
    text = _toml_text(draw(st.one_of(mutated_profiles(), RANDOM_PROFILES)))
    cut = draw(st.integers(0, len(text)))
    depth, digits = draw(st.integers(1, 1500)), draw(st.integers(1, 6000))
    return draw(
        st.one_of(
            st.just(text),
            st.text(st.characters(exclude_categories=()), max_size=8).map(
                lambda junk: text[:cut] + junk + text[cut:]
            ),
            st.just("x = " + "[" * depth + "]" * depth),
            st.just("x = " + "{ a = " * depth + "1" + " }" * depth),
            st.just("[execution]\nbatch_size = " + "9" * digits),
            st.binary(max_size=64),
            st.none(),
        )
    )


FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(st.one_of(mutated_profiles(), RANDOM_PROFILES))
def test_any_input_is_a_profile_or_a_profile_error(data: Any) -> None:
    check_boundary(data)


@FUZZ
@given(profile_files())
def test_any_file_is_a_profile_or_a_profile_error(content: str | bytes | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "profile.toml"
        if content is None:
            file.mkdir()
        elif isinstance(content, str):
            file.write_text(content, encoding="utf-8", errors="surrogatepass")
        else:
            file.write_bytes(content)
        check_boundary(file)
