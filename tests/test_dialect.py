"""store.dialect: one SQL text for both backends, where only the placeholders differ."""

from __future__ import annotations

import pytest

from liveblog.store.dialect import POSTGRES, SQLITE


def test_sqlite_runs_the_text_as_written() -> None:
    text = "SELECT 1 FROM events WHERE id = ? AND type = 'a?b'"
    assert SQLITE.sql(text) is text


def test_postgres_placeholders_outside_string_literals_only() -> None:
    assert (
        POSTGRES.sql("SELECT 1 FROM events WHERE id = ? AND type = 'a?b' AND x = 'it''s' OR y = ?")
        == "SELECT 1 FROM events WHERE id = %s AND type = 'a?b' AND x = 'it''s' OR y = %s"
    )


def test_postgres_takes_a_text_without_question_marks_as_its_own() -> None:
    native = "SELECT 1 FROM events WHERE (data::json ->> %s::text) = %s"
    assert POSTGRES.sql(native) == native


def test_a_percent_beside_a_placeholder_is_refused() -> None:
    # psycopg reads `%` only when parameters are passed: no one text is right both ways.
    with pytest.raises(ValueError, match="may not hold '%'"):
        POSTGRES.sql("SELECT 1 FROM events WHERE id LIKE 'a%' AND type = ?")


def test_insert_ignoring_in_each_dialect() -> None:
    text = "INSERT INTO t (a, b) VALUES (?, ?)"
    assert SQLITE.insert_ignoring(text) == "INSERT OR IGNORE INTO t (a, b) VALUES (?, ?)"
    assert POSTGRES.insert_ignoring(text) == (
        "INSERT INTO t (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    )
