"""Data errors at query time name the dataset, the column, the field or the parameter to fix.

Real sessions over CSV files written in tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dfsession import BuiltSession, SessionContextBuilder, SessionProfile
from dfsession.errors import QueryError


@pytest.fixture
def session(tmp_path: Path) -> BuiltSession:
    """``airports`` has a code that is no number; ``flights`` and ``carriers`` are fine."""
    (tmp_path / "airports.csv").write_text("name,faa\nAlpha,12\nBeta,JFK\n")
    (tmp_path / "flights.csv").write_text("faa,dest\n12,Beta\n13,Alpha\n")
    (tmp_path / "carriers.csv").write_text("code,name\n1,Air\n")
    profile = SessionProfile.from_dict(
        {
            "datasets": {
                "airports": {
                    "format": "csv",
                    "location": str(tmp_path / "airports.csv"),
                    "schema": {"name": "string", "faa": "int64"},
                },
                "flights": {
                    "format": "csv",
                    "location": str(tmp_path / "flights.csv"),
                    "schema": {"faa": "int64", "dest": "string"},
                },
                "carriers": {"format": "csv", "location": str(tmp_path / "carriers.csv")},
            },
            "views": {"codes": {"sql": "SELECT faa FROM airports"}},
        }
    )
    return SessionContextBuilder(profile).build()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM airports",
        "SELECT f.dest FROM flights f JOIN airports a ON f.faa = a.faa",
        "SELECT * FROM codes",
    ],
)
def test_a_csv_value_that_does_not_parse_names_the_dataset_column_and_field(
    session: BuiltSession, query: str
) -> None:
    with pytest.raises(QueryError) as caught:
        session.execute(query)
    message = str(caught.value)
    assert "dataset 'airports'" in message
    assert "column 'faa'" in message
    assert "datasets.airports.schema.faa" in message
    assert "'JFK'" in message
    assert "'flights'" not in message
    assert "Parser error" in caught.value.engine_message


def test_the_csv_hint_reaches_streams_too(session: BuiltSession) -> None:
    with pytest.raises(QueryError, match=r"datasets\.airports\.schema\.faa"):
        session.stream("SELECT * FROM airports").read_all()


@pytest.mark.parametrize("run", ["execute", "stream"])
def test_a_parameter_that_does_not_cast_is_named(session: BuiltSession, run: str) -> None:
    query = "SELECT * FROM flights WHERE faa = $m AND dest = $d"
    params = {"m": "abc", "d": "Beta"}
    with pytest.raises(QueryError) as caught:
        if run == "execute":
            session.execute(query, params)
        else:
            session.stream(query, params).read_all()
    message = str(caught.value)
    assert "parameter $m = 'abc'" in message
    assert "$d" not in message.replace(query, "")


@pytest.mark.parametrize(
    ("query", "suggestion"),
    [
        ("SELECT * FROM airport", "airports"),
        ("SELECT * FROM flights f JOIN carrier c ON f.faa = c.code", "carriers"),
        ("SELECT * FROM cods", "codes"),
    ],
)
def test_an_unknown_table_gets_a_did_you_mean(
    session: BuiltSession, query: str, suggestion: str
) -> None:
    with pytest.raises(QueryError) as caught:
        session.execute(query)
    assert f"did you mean {suggestion!r}?" in str(caught.value)


def test_an_unknown_table_far_from_every_name_gets_no_guess(session: BuiltSession) -> None:
    with pytest.raises(QueryError) as caught:
        session.execute("SELECT * FROM zzzzzz")
    assert "did you mean" not in str(caught.value)
    assert "not found" in str(caught.value)
