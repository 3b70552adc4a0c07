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
from dfsession.engine.views import missing_table, order_views, plan_view, sql_type
from dfsession.profile.sections import CatalogConfig
from dfsession.steps.session import ContextStep
from dfsession.steps.sql_objects import ViewsStep

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


# --- the order the engine finds ----------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM base WHERE fare > 100",
        "SELECT t.id FROM trips t JOIN base b ON t.id = b.id LEFT JOIN trips u ON u.id = t.id",
        "SELECT bb.id FROM trips, base AS bb, (SELECT * FROM trips) x",
        "SELECT * FROM datafusion.public.Base",
        "SELECT * FROM public.base",
        'SELECT * FROM "base"',
        "WITH trips AS (SELECT * FROM base) SELECT * FROM trips",
        "SELECT extract(year FROM now()), 'FROM x' FROM base -- FROM y\n/* JOIN z */",
        "SELECT id IS DISTINCT FROM 1 AS d FROM base",
        "SELECT * FROM trips WHERE id IN (SELECT id FROM base) UNION ALL SELECT * FROM trips",
        "SELECT * FROM generate_series(1, 3) g, unnest((SELECT [id] FROM base LIMIT 1)) u",
    ],
)
def test_a_view_reading_a_later_view_anywhere_in_its_query_is_registered_after_it(
    trips: str, sql: str
) -> None:
    session = build(trips, views={"reader": sql, "base": "SELECT * FROM trips"})
    assert session.record("views").applied == {"views": ["base", "reader"]}
    session.ctx.sql("SELECT * FROM reader").collect()


def test_views_are_registered_each_after_the_views_it_reads(trips: str) -> None:
    views = {
        "top": "SELECT * FROM middle",
        "other": "SELECT 1",
        "middle": "SELECT base.* FROM base JOIN trips ON true",
        "base": "SELECT * FROM trips",
    }
    session = build(trips, views=views)
    assert session.record("views").applied == {"views": ["other", "base", "middle", "top"]}


def test_placeholders_inside_literals_and_comments_do_not_count(trips: str) -> None:
    sql = "SELECT fare, '$2' AS t FROM trips WHERE id = $1 -- $3"
    session = build(trips, prepared={"q": {"sql": sql, "params": ["int64"]}})
    assert session.execute_prepared("q", 2).to_pydict() == {"fare": [250.0], "t": ["$2"]}


def _chain(count: int) -> dict[str, str]:
    """Views ``v<count-1>`` ... ``v0`` declared in that order, each reading the next one."""
    return {
        f"v{i}": f"SELECT x + 1 AS x FROM v{i - 1}" if i else "SELECT 1 AS x"
        for i in reversed(range(count))
    }


@pytest.mark.parametrize(
    ("views", "plans"),
    [
        ({f"v{i}": "SELECT 1 AS x" for i in range(300)}, 300),  # independent: once each
        (_chain(300), 2 * 300 - 1),  # declared backwards: once more per dependency
    ],
    ids=["independent", "chain-declared-backwards"],
)
def test_each_view_is_planned_once_plus_once_per_dependency_it_waited_for(
    views: dict[str, str], plans: int
) -> None:
    ctx = SessionContext()
    planned: list[str] = []

    def register(name: str) -> None:
        planned.append(name)
        plan_view(ctx, name, views[name])

    order = order_views(list(views), register, lambda e: missing_table(e, CatalogConfig()))
    assert len(planned) == plans
    assert sorted(order.registered) == sorted(views)
    assert ctx.sql(f"SELECT x FROM v{len(views) - 1}").to_pydict()["x"][0] in (1, len(views))


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


@pytest.mark.parametrize(
    ("sql", "params"),
    [("SELECT $1, $2", ["int64"]), ("SELECT $1", ["int64", "int64"])],
    ids=["more-placeholders", "more-types"],
)
def test_placeholders_that_do_not_match_the_declared_parameters_are_refused(
    trips: str, sql: str, params: list[str]
) -> None:
    with pytest.raises(ProfileError) as caught:
        build(trips, prepared={"q": {"sql": sql, "params": params}})
    assert caught.value.path == "prepared.q.params"
    assert f"declares {len(params)} parameter type(s)" in str(caught.value)
    assert "$1" in str(caught.value)


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
