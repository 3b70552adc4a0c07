"""Hypothesis strategies for testing code built on dfsession.

``profiles()`` draws valid ``SessionProfile`` values; ``step_orders(steps)`` draws orderings
of a step list (valid dependency orders and arbitrary permutations), to check that your own
steps declare ``requires``/``provides`` correctly::

    from hypothesis import given
    from dfsession import SessionContextBuilder, StepOrderError, default_steps
    from dfsession.testing import profiles, step_orders

    from custom_step import AuditTablesStep  # your own step; this one is examples/custom_step.py

    @given(profiles(), step_orders((*default_steps(), AuditTablesStep())))
    def test_my_step_order(profile, steps):
        try:
            SessionContextBuilder(profile, steps=steps).plan()
        except StepOrderError:
            pass  # an order some requirement forbids; plan() said so before running anything

Needs Hypothesis (``pip install 'dfsession[testing]'``).
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dfsession.testing needs Hypothesis: pip install 'dfsession[testing]'"
    ) from exc

from dfsession.pipeline.step import InstallStep
from dfsession.profile.discovery import DISCOVER_FORMATS, LAYOUTS
from dfsession.profile.model import SessionProfile

__all__ = ["profiles", "step_orders"]

# Engine settings known to accept these values on every supported DataFusion version.
_SETTINGS: dict[str, list[str]] = {
    "datafusion.optimizer.max_passes": ["1", "2", "3", "5"],
    "datafusion.optimizer.skip_failed_rules": ["true", "false"],
    "datafusion.execution.collect_statistics": ["true", "false"],
    "datafusion.sql_parser.enable_ident_normalization": ["true", "false"],
    "datafusion.explain.show_statistics": ["true", "false"],
    "datafusion.runtime.metadata_cache_limit": ["16M", "64M"],
}
# Names like [a-z][a-z0-9_]{0,11}, drawn from explicit characters: ``from_regex`` and ``text``
# make Hypothesis build its Unicode tables on a cold start, over a second of input generation
# that fails the ``too_slow`` health check in the user's first run.
_NAME = st.builds(
    lambda first, rest: first + "".join(rest),
    st.sampled_from(string.ascii_lowercase),
    st.lists(st.sampled_from(string.ascii_lowercase + string.digits + "_"), max_size=11),
)
_TYPES = st.sampled_from(
    [
        "int32",
        "int64",
        "float64",
        "string",
        "bool",
        "date32",
        "timestamp[us, UTC]",
        "decimal128(10, 2)",
        "list<int64>",
        "struct<a: int64, b: string>",
    ]
)


def _execution() -> st.SearchStrategy[dict[str, Any]]:
    pool = st.sampled_from([None, "greedy", "fair", "unbounded"])

    def shape(drawn: tuple[Any, ...]) -> dict[str, Any]:
        partitions, batch, memory_pool, limit_mib, spill = drawn
        out: dict[str, Any] = {}
        if partitions is not None:
            out["target_partitions"] = partitions
        if batch is not None:
            out["batch_size"] = batch
        if memory_pool is not None:
            out["memory_pool"] = memory_pool
        if memory_pool in ("greedy", "fair") or (memory_pool is None and limit_mib):
            out["memory_limit"] = f"{limit_mib or 256}MiB"
        if spill is not None:
            out["spill"] = spill
        return out

    return st.tuples(
        st.none() | st.integers(1, 16),
        st.none() | st.sampled_from([1024, 4096, 8192]),
        pool,
        st.none() | st.integers(64, 4096),
        st.sampled_from([None, "os", "disabled"]),
    ).map(shape)


def _settings() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(sorted(_SETTINGS)), st.just("")).flatmap(
        lambda keys: st.fixed_dictionaries({key: st.sampled_from(_SETTINGS[key]) for key in keys})
    )


#: Time-travel timestamps as profiles write them (RFC 3339, with and without a zone).
_TIMESTAMPS = st.sampled_from(["2024-05-01T12:00:00Z", "2000-01-01T00:00:00+02:00", "2024-05-01"])
#: The options each file format takes, with values the engine accepts.
_FORMAT_OPTIONS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "parquet": {"file_extension": st.just(".parquet"), "skip_metadata": st.booleans()},
    "csv": {
        "has_header": st.booleans(),
        "delimiter": st.sampled_from([",", ";", "|"]),
        "schema_infer_max_records": st.integers(0, 5000),
    },
    "json": {"schema_infer_max_records": st.integers(0, 5000)},
    "arrow": {"file_extension": st.just(".arrow")},
}


def _env_secret() -> st.SearchStrategy[dict[str, str]]:
    return _NAME.map(lambda n: {"env": n.upper()})


#: Per store kind: its URL scheme, the options drawn and the secrets drawn.
_STORE_KINDS: dict[str, tuple[str, dict[str, st.SearchStrategy[Any]], list[str]]] = {
    "s3": (
        "s3",
        {"region": _NAME, "allow_http": st.booleans(), "endpoint": st.just("http://127.0.0.1:9")},
        ["access_key_id", "secret_access_key"],
    ),
    "gcs": ("gs", {"bucket": _NAME}, []),
    "azure": ("az", {"account": _NAME, "use_emulator": st.booleans()}, ["access_key"]),
    "http": ("https", {}, []),
    "local": ("local", {"prefix": _NAME}, []),
}


def _dataset() -> st.SearchStrategy[dict[str, Any]]:
    schema = st.dictionaries(_NAME, _TYPES, min_size=1, max_size=4)
    files = st.sampled_from(sorted(_FORMAT_OPTIONS)).flatmap(
        lambda format_name: st.fixed_dictionaries(
            {"format": st.just(format_name), "location": _NAME},
            optional={
                "schema": schema,
                "partition_cols": st.dictionaries(
                    _NAME.map(lambda n: f"part_{n}"),
                    st.sampled_from(["int32", "string"]),
                    max_size=2,
                ),
                "options": st.fixed_dictionaries({}, optional=_FORMAT_OPTIONS[format_name]),
            },
        )
    )
    travel: st.SearchStrategy[dict[str, Any]] = st.one_of(
        st.just({}),
        st.integers(0, 50).map(lambda v: {"version": v}),
        _TIMESTAMPS.map(lambda t: {"timestamp": t}),
    )
    delta = st.tuples(
        st.fixed_dictionaries(
            {"format": st.just("delta"), "location": _NAME},
            optional={
                "schema": schema,
                "options": st.fixed_dictionaries({}, optional={"without_files": st.booleans()}),
            },
        ),
        travel,
    ).map(lambda parts: {**parts[0], **parts[1]})
    option_value = st.one_of(_NAME, st.integers(-5, 5), st.booleans(), st.lists(_NAME, max_size=2))
    provider = st.fixed_dictionaries(
        {"format": st.just("provider"), "ref": _NAME.map(lambda n: f"{n}.sources:{n}")},
        optional={"schema": schema, "options": st.dictionaries(_NAME, option_value, max_size=3)},
    )
    iceberg = st.tuples(
        st.fixed_dictionaries(
            {
                "format": st.just("iceberg"),
                "catalog": st.just(_CATALOG),
                "table": _NAME.map(lambda n: f"sales.{n}"),
            },
            optional={"schema": schema},
        ),
        st.one_of(
            st.just({}),
            st.integers(0, 2**62).map(lambda v: {"snapshot_id": v}),
            _TIMESTAMPS.map(lambda t: {"timestamp": t}),
        ),
    ).map(lambda parts: {**parts[0], **parts[1]})

    return st.one_of(files, delta, provider, iceberg)


#: The name of the Iceberg catalog drawn profiles declare (no ``_NAME`` draws it: no schema of
#: a drawn profile takes the name its ``include`` mounts under).
_CATALOG = "iceberg-lake"


def _catalog() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"kind": st.just("iceberg")},
        optional={
            "properties": st.fixed_dictionaries(
                {"type": st.just("sql")},
                optional={
                    "uri": st.just("sqlite:///catalog.db"),
                    "warehouse": st.just("s3://lake/warehouse"),
                    "s3.endpoint": st.just("http://127.0.0.1:9"),
                },
            ),
            "secrets": st.fixed_dictionaries({}, optional={"s3.secret-access-key": _env_secret()}),
            "include": st.lists(
                st.sampled_from(["sales.*", "*.orders", "sales.eu.*"]), max_size=2, unique=True
            ),
        },
    )


def _with_catalog(sections: dict[str, Any]) -> dict[str, Any]:
    """``sections`` with the Iceberg catalog its Iceberg datasets read declared."""
    datasets = sections.get("datasets", {}).values()
    if any(spec["format"] == "iceberg" for spec in datasets) and "catalogs" not in sections:
        return {**sections, "catalogs": {_CATALOG: {"kind": "iceberg"}}}
    return sections


def _store(name: str, kind: str) -> st.SearchStrategy[dict[str, Any]]:
    scheme, options, secrets = _STORE_KINDS[kind]
    return st.fixed_dictionaries(
        {"url": st.just(f"{scheme}://{name}"), "kind": st.just(kind)},
        optional={
            "options": st.fixed_dictionaries({}, optional=options),
            "secrets": st.fixed_dictionaries({}, optional={key: _env_secret() for key in secrets}),
        },
    )


def _stores() -> st.SearchStrategy[dict[str, Any]]:
    """Stores of every kind, one host each (the engine keeps one store per scheme and host)."""
    kinds = st.dictionaries(_NAME, st.sampled_from(sorted(_STORE_KINDS)), max_size=3)
    return kinds.flatmap(
        lambda drawn: st.fixed_dictionaries(
            {name: _store(name, kind) for name, kind in drawn.items()}
        )
    )


def _discover() -> st.SearchStrategy[dict[str, Any]]:
    """A ``[discover.NAME]`` entry of any format and layout, with globs over names."""
    globs = st.lists(_NAME.map(lambda n: f"{n}*"), max_size=2)
    return st.fixed_dictionaries(
        {"format": st.sampled_from(DISCOVER_FORMATS), "location": _NAME.map(lambda n: f"{n}/")},
        optional={"layout": st.sampled_from(LAYOUTS), "include": globs, "exclude": globs},
    )


def _data_sections() -> st.SearchStrategy[dict[str, Any]]:
    return _sections().map(_with_catalog)


def _sections() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "datasets": st.dictionaries(_NAME.map(lambda n: f"t_{n}"), _dataset(), max_size=4),
            "discover": st.dictionaries(_NAME.map(lambda n: f"d_{n}"), _discover(), max_size=2),
            "object_stores": _stores(),
            "catalogs": st.fixed_dictionaries({_CATALOG: _catalog()}),
            "views": st.dictionaries(
                _NAME.map(lambda n: f"v_{n}"), st.just({"sql": "SELECT 1 AS x"}), max_size=3
            ),
            "prepared": st.dictionaries(
                _NAME.map(lambda n: f"p_{n}"),
                st.just({"sql": "SELECT $1 AS x", "params": ["int64"]}),
                max_size=2,
            ),
            "udfs": st.lists(
                st.fixed_dictionaries({"ref": _NAME.map(lambda n: f"{n}.functions:f_{n}")}),
                max_size=2,
            ),
            "tracing": st.fixed_dictionaries({}, optional={"enabled": st.booleans()}),
            "engine": st.one_of(
                st.just({"kind": "local"}),
                st.just({"kind": "ballista", "standalone": True}),
                st.integers(1, 65535).map(
                    lambda port: {"kind": "ballista", "url": f"df://127.0.0.1:{port}"}
                ),
            ),
        },
    )


def profiles(*, buildable: bool = True) -> st.SearchStrategy[SessionProfile]:
    """Valid profiles.

    With ``buildable=True`` (the default) every profile builds with ``default_steps()`` on any
    machine: only execution, catalog, settings, sql_policy and features are drawn. With
    ``buildable=False`` datasets (every format, Delta and Iceberg time travel included), an
    Iceberg catalog, object stores (every kind, with options and secret references), views,
    prepared statements, functions, tracing and engines (local or Ballista) are drawn too: valid
    data, but pointing at files, modules and services that need not exist.
    """
    sections: dict[str, st.SearchStrategy[Any]] = {
        "execution": _execution(),
        "catalog": st.fixed_dictionaries(
            {},
            optional={
                "default_catalog": _NAME,
                "default_schema": _NAME,
                "information_schema": st.booleans(),
            },
        ),
        "settings": _settings(),
        "sql_policy": st.fixed_dictionaries(
            {},
            optional={
                "allow_ddl": st.booleans(),
                "allow_dml": st.booleans(),
                "allow_statements": st.booleans(),
            },
        ),
        "features": st.fixed_dictionaries({}, optional={"url_table": st.booleans()}),
    }
    base = st.fixed_dictionaries({}, optional=sections)
    if buildable:
        return base.map(SessionProfile.from_dict)
    return st.tuples(base, _data_sections()).map(
        lambda parts: SessionProfile.from_dict({**parts[0], **parts[1]})
    )


def step_orders(
    steps: Iterable[InstallStep], *, valid: bool | None = None
) -> st.SearchStrategy[tuple[InstallStep, ...]]:
    """Orderings of ``steps``: valid dependency orders and arbitrary permutations.

    A valid order has every step after the steps that provide what it requires; few random
    permutations of a real step list are valid, so about half the draws are valid orders,
    picked at random among the ready steps. ``valid=True`` draws only those, ``valid=False``
    only arbitrary permutations (shrinking toward the given order).
    """
    items = list(steps)

    def linearize(rnd: random.Random) -> tuple[InstallStep, ...]:
        remaining, provided, order = list(items), set[str](), []
        while remaining:
            ready = [step for step in remaining if step.requires <= provided]
            if not ready:  # no valid order exists: the given order, which plan() refuses
                return tuple(items)
            chosen = rnd.choice(ready)
            order.append(chosen)
            remaining.remove(chosen)
            provided |= chosen.provides
        return tuple(order)

    valid_orders = st.randoms(use_true_random=False).map(linearize)
    permutations = st.permutations(items).map(tuple)
    if valid is True:
        return valid_orders
    if valid is False:
        return permutations
    return st.one_of(valid_orders, permutations)
