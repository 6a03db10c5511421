"""The project's own PostgreSQL server starts, has pgvector, and keeps its password."""

from __future__ import annotations

import psycopg


def test_the_test_server_has_pgvector_and_a_password(database_url: str) -> None:
    assert ":***@" not in database_url and "@127.0.0.1:" in database_url
    with psycopg.connect(database_url) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        row = connection.execute("SELECT '[1,2]'::vector <=> '[2,4]'::vector").fetchone()
        assert row is not None and abs(row[0]) < 1e-6
    wrong = database_url.replace("citebot:", "citebot:x", 1)
    try:
        psycopg.connect(wrong, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        assert "password authentication failed" in str(error)
    else:
        raise AssertionError("a wrong password was accepted")
