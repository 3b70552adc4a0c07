"""The ``views`` and ``prepared`` steps over real Parquet data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext

from dfsession import ProfileError, SessionBuild, SessionContextBuilder, SessionProfile
from dfsession.bootstrap import validate_profile
from dfsession.steps.session import ContextStep
from dfsession.steps.sql_objects import (
    ViewsStep,
    local_name,
    parameter_numbers,
    referenced_tables,
    sql_type,
    view_order,
)

TRIPS = pa.table(
    {"id": pa.array([1, 2, 3], pa.int64()), "fare": [10.0, 250.0, 99.5], "city": ["a", "b", "a"]}
)


@pytest.fixture
def trips(tmp_path: Path) -> str:
    path = tmp_path / "trips.parquet"
    pq.write_table(TRIPS, path)
    return str(path)


def build(trips: str, **sections: Any) -> Any:
    """A session over the trips file; a view may be given as its SQL text alone."""
    views = {
        k: {"sql": v} if isinstance(v, str) else v for k, v in sections.pop("views", {}).items()
    }
    data = {
        "datasets": {"trips": {"format": "parquet", "location": trips}},
        "views": views,
        **sections,
    }
    return SessionContextBuilder(SessionProfile.from_dict(data)).build()


def rows(session: Any, sql: str) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = session.ctx.sql(sql).to_pydict()
    return result


# --- finding what a query reads ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM trips WHERE fare > 100", {"trips"}),
        ("SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id)", {"a", "b", "c"}),
        ("SELECT * FROM a, b AS bb, (SELECT * FROM c) x", {"a", "b", "c"}),
        (
            'SELECT * FROM analytics.public.Trips t JOIN "Mixed" m ON true',
            {"analytics.public.trips", "Mixed"},
        ),
        ("WITH orders AS (SELECT * FROM orders) SELECT * FROM orders", {"orders"}),
        ("WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b", set()),
        ("WITH v AS (SELECT * FROM base) SELECT * FROM v", {"base"}),
        ("SELECT extract(year FROM ts), 'FROM x' FROM t -- FROM y\n/* JOIN z */", {"t"}),
        ("SELECT a IS DISTINCT FROM b FROM t", {"t"}),
        (
            "SELECT * FROM t WHERE id IN (SELECT id FROM u) UNION ALL SELECT * FROM w",
            {"t", "u", "w"},
        ),
        ("SELECT * FROM generate_series(1, 3) g, unnest((SELECT l FROM lists)) u", {"lists"}),
    ],
)
def test_referenced_tables_are_found_after_from_and_join(sql: str, tables: set[str]) -> None:
    assert referenced_tables(sql) == tables


def test_parameters_inside_literals_and_comments_do_not_count() -> None:
    assert parameter_numbers("SELECT $1, '$2' FROM t WHERE x = $3 -- $4") == {1, 3}


def test_view_order_puts_each_view_after_the_views_it_reads() -> None:
    views = {
        "top": "SELECT * FROM middle",
        "other": "SELECT 1",
        "middle": "SELECT * FROM base JOIN trips ON true",
        "base": "SELECT * FROM trips",
    }
    assert view_order(views) == ["other", "base", "middle", "top"]


# --- views -------------------------------------------------------------------------------------


def test_a_view_may_read_a_view_declared_later_in_the_file(trips: str) -> None:
    session = build(
        trips,
        views={
            "expensive_cities": "SELECT DISTINCT city FROM expensive",
            "expensive": "SELECT * FROM trips WHERE fare > 50",
        },
    )
    assert rows(session, "SELECT city FROM expensive_cities ORDER BY city") == {"city": ["a", "b"]}
    assert session.record("views").applied == {"views": ["expensive", "expensive_cities"]}


def test_a_view_may_call_a_profile_function(trips: str) -> None:
    session = build(
        trips,
        udfs=[{"ref": "udf_fixtures.functions:plus_one"}],
        views={"next_ids": {"sql": "SELECT plus_one(id) AS n FROM trips"}},
    )
    assert rows(session, "SELECT n FROM next_ids ORDER BY n") == {"n": [2, 3, 4]}


def test_a_cycle_names_every_view_in_it_before_any_view_is_registered() -> None:
    profile = SessionProfile.from_dict(
        {
            "views": {
                "fine": {"sql": "SELECT 1 AS x"},
                "a": {"sql": "SELECT * FROM b"},
                "b": {"sql": "SELECT * FROM c"},
                "c": {"sql": "SELECT * FROM a"},
                "selfish": {"sql": "SELECT * FROM selfish"},
            }
        }
    )
    build = SessionBuild(profile)
    ContextStep().install(build)
    with pytest.raises(ProfileError) as caught:
        ViewsStep().install(build)
    message = str(caught.value)
    assert "views 'a', 'b', 'c' form a dependency cycle (a -> b -> c -> a)" in message
    assert "view 'selfish' reads itself" in message
    assert caught.value.path == "views.a.sql"
    assert not build.ctx.table_exist("fine")


def test_a_cte_with_a_view_name_is_not_a_cycle(trips: str) -> None:
    session = build(
        trips,
        views={
            "totals": "WITH summary AS (SELECT sum(fare) AS s FROM trips) SELECT s FROM summary",
            "summary": "SELECT s FROM totals",
        },
    )
    assert rows(session, "SELECT s FROM summary") == {"s": [359.5]}


def test_a_view_that_fails_to_plan_names_the_view_and_the_engine_message(trips: str) -> None:
    with pytest.raises(ProfileError) as caught:
        build(trips, views={"broken": {"sql": "SELECT no_such_column FROM trips"}})
    assert caught.value.path == "views.broken.sql"
    assert caught.value.step == "views"
    assert "view 'broken' does not plan" in str(caught.value)
    assert "no_such_column" in str(caught.value)


def test_a_view_must_be_a_query_not_a_statement(trips: str) -> None:
    with pytest.raises(ProfileError) as caught:
        build(trips, views={"dropper": {"sql": "DROP TABLE trips"}})
    assert "view 'dropper' does not plan" in str(caught.value)
    assert "DDL" in str(caught.value)


def test_views_named_in_mixed_case_are_found(trips: str) -> None:
    session = build(
        trips,
        views={
            "Recent": "SELECT * FROM trips WHERE id > 1",
            "Top": "SELECT max(fare) m FROM recent",
        },
    )
    assert rows(session, "SELECT m FROM top") == {"m": [250.0]}


def test_no_views_means_a_skipped_record(trips: str) -> None:
    assert build(trips).record("views").status == "skipped"


# --- prepared statements ----------------------------------------------------------------------


def test_prepared_statements_are_installed_and_recorded(trips: str) -> None:
    session = build(
        trips,
        views={"expensive": "SELECT * FROM trips WHERE fare > 50"},
        prepared={
            "trip_by_id": {"sql": "SELECT fare FROM trips WHERE id = $1", "params": ["int64"]},
            "expensive_in": {
                "sql": "SELECT count(*) AS n FROM expensive WHERE city = $1 AND fare > $2",
                "params": ["string", "float64"],
            },
        },
    )
    assert rows(session, "EXECUTE trip_by_id(2)") == {"fare": [250.0]}
    assert rows(session, "EXECUTE expensive_in('a', 10.0)") == {"n": [1]}
    assert session.record("prepared").applied == {
        "prepared": [
            {
                "name": "trip_by_id",
                "sql": "SELECT fare FROM trips WHERE id = $1",
                "params": ["int64"],
                "sql_types": ["BIGINT"],
            },
            {
                "name": "expensive_in",
                "sql": "SELECT count(*) AS n FROM expensive WHERE city = $1 AND fare > $2",
                "params": ["string", "float64"],
                "sql_types": ["VARCHAR", "DOUBLE"],
            },
        ]
    }


def test_a_bad_parameter_type_name_is_a_load_error_with_its_position() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict({"prepared": {"q": {"sql": "SELECT $1", "params": ["int46"]}}})
    assert caught.value.path == "prepared.q.params.0"


def test_a_type_without_an_sql_name_names_the_parameter(trips: str) -> None:
    with pytest.raises(ProfileError) as caught:
        build(trips, prepared={"q": {"sql": "SELECT $1", "params": ["struct<a: int64>"]}})
    assert caught.value.path == "prepared.q.params.0"
    assert "no SQL type name" in str(caught.value)


def test_placeholders_beyond_the_declared_parameters_are_refused(trips: str) -> None:
    with pytest.raises(ProfileError) as caught:
        build(trips, prepared={"q": {"sql": "SELECT $1, $2", "params": ["int64"]}})
    assert caught.value.path == "prepared.q.params"
    assert "$2" in str(caught.value)


def test_a_statement_that_fails_to_plan_names_it_and_the_engine_message(trips: str) -> None:
    with pytest.raises(ProfileError) as caught:
        build(
            trips,
            prepared={"q": {"sql": "SELECT * FROM nowhere WHERE id = $1", "params": ["int64"]}},
        )
    assert caught.value.path == "prepared.q.sql"
    assert "prepared statement 'q' does not plan" in str(caught.value)
    assert "nowhere" in str(caught.value)


@pytest.mark.parametrize(
    ("arrow", "engine"),
    [
        (pa.int8(), "Int8"),
        (pa.uint32(), "UInt32"),
        (pa.float32(), "Float32"),
        (pa.bool_(), "Boolean"),
        (pa.date32(), "Date32"),
        (pa.binary(), "Binary"),
        (pa.decimal128(10, 2), "Decimal128(10, 2)"),
        (pa.timestamp("us"), "Timestamp(µs)"),
        (pa.list_(pa.int32()), "List(Int32)"),
    ],
)
def test_sql_type_names_are_read_back_by_the_engine_as_the_arrow_type(
    arrow: pa.DataType, engine: str
) -> None:
    ctx = SessionContext()
    ctx.sql(f"PREPARE q({sql_type(arrow)}) AS SELECT arrow_typeof($1) AS t")
    literal = {"Boolean": "true", "Date32": "'2020-01-01'", "Binary": "X'00'", "List(Int32)": "[1]"}
    value = literal.get(engine, "'2020-01-01'" if engine.startswith("Timestamp") else "1")
    assert ctx.sql(f"EXECUTE q({value})").to_pydict() == {"t": [engine]}


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("v", "v"),
        ("public.v", "v"),
        ("datafusion.public.v", "v"),
        ("information_schema.columns", "information_schema.columns"),
        ("other.public.v", "other.public.v"),
    ],
)
def test_references_in_the_default_schema_name_the_view(reference: str, name: str) -> None:
    assert local_name(reference) == name


def test_view_named_like_a_system_table_is_not_a_cycle() -> None:
    profile = SessionProfile.from_dict(
        {
            "catalog": {"information_schema": True},
            "views": {
                "columns": {"sql": "SELECT table_name FROM information_schema.columns LIMIT 1"}
            },
        }
    )
    session = SessionContextBuilder(profile).build()
    assert session.record("views").applied["views"] == ["columns"]


def test_cte_reading_a_view_of_its_own_name_orders_and_validates() -> None:
    profile = SessionProfile.from_dict(
        {
            "views": {
                "open_orders": {
                    "sql": "WITH orders AS (SELECT * FROM orders WHERE id > 1) SELECT * FROM orders"
                },
                "orders": {"sql": "SELECT 1 AS id UNION ALL SELECT 2"},
            }
        }
    )
    session = SessionContextBuilder(profile).build()
    assert session.execute("SELECT id FROM open_orders").to_pydict() == {"id": [2]}
    assert validate_profile(profile).ok
