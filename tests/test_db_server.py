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


def test_an_unreachable_database_is_named_with_its_password_masked() -> None:
    import pytest

    from index.config import DatabaseConfig
    from index.database import DatabaseUnavailableError, pool

    config = DatabaseConfig(
        url="postgresql://citebot:s3cret-pw@127.0.0.1:9/citebot", connect_timeout=2
    )
    with pytest.raises(DatabaseUnavailableError) as caught:
        pool(config)
    message = str(caught.value)
    assert "s3cret-pw" not in message and "citebot:***@127.0.0.1:9/citebot" in message
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.model_dump())


def test_a_schema_of_another_version_is_refused_with_the_migrate_command(database_url: str) -> None:
    import pytest

    from index.config import DatabaseConfig
    from index.database import SchemaMismatchError, close_pools, ensure_schema, pool

    made: list[int] = []
    connections = pool(DatabaseConfig(url=database_url))
    try:
        with connections.connection() as connection:
            ensure_schema(connection, "demo", 1, lambda c: made.append(1))
            ensure_schema(connection, "demo", 1, lambda c: made.append(2))
            with pytest.raises(SchemaMismatchError, match="citebot migrate"):
                ensure_schema(connection, "demo", 2, lambda c: made.append(3))
    finally:
        close_pools()
    assert made == [1]
