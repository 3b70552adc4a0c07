"""SQL text read with sqlglot's tokenizer: a script's statements, a statement's placeholders."""

from __future__ import annotations

import pytest

from dfsession.sql_text import placeholders, split_statements


def test_placeholders_are_named_and_numbered_parameters() -> None:
    sql = "SELECT $1, $name FROM t WHERE a = $limit AND b = $2"
    assert placeholders(sql) == {"1", "2", "name", "limit"}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT '$id' AS s",
        "SELECT 1 -- $id",
        "SELECT /* $id */ 1",
        "SELECT $$ $id $$ AS s",
        "SELECT $tag$ $id $tag$ AS s",
        "SELECT E'it''s $id' AS s",
        'SELECT "$id" FROM t',
        "SELECT a$id FROM t",
    ],
)
def test_dollar_signs_in_literals_comments_and_names_are_not_placeholders(sql: str) -> None:
    assert placeholders(sql) == set()


def test_text_the_tokenizer_cannot_read_has_unknown_placeholders() -> None:
    assert placeholders("SELECT 'unterminated $id") is None


def test_a_script_splits_on_semicolons_outside_literals_and_comments() -> None:
    script = (
        "-- set up\n"
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'a;b.csv' OPTIONS ('delimiter' ';');\n"
        "SELECT ';' AS s /* ; */ FROM x;;\n"
        "SELECT $$;$$ AS t\n"
        "-- the end;\n"
    )
    assert split_statements(script) == [
        "-- set up\n"
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'a;b.csv' OPTIONS ('delimiter' ';')",
        "SELECT ';' AS s /* ; */ FROM x",
        "SELECT $$;$$ AS t",
    ]


def test_a_script_of_only_comments_has_no_statements() -> None:
    assert split_statements("-- nothing here;\n/* nor; here */") == []


def test_a_script_the_tokenizer_cannot_read_is_one_statement_for_the_engine_to_judge() -> None:
    assert split_statements("SELECT 'a; b") == ["SELECT 'a; b"]
