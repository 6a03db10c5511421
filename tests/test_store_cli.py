"""The database store from the command line: `citebot migrate --to-database` copies the local
index without embedding and answers as it did, `citebot migrate` checks the schema, and the
database's faults (unreachable, another schema version, a build already running) are one line
with an exit code, the password never shown.

The server is the session's real PostgreSQL (tests/postgres_fixtures.py); each test has a
database of its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest

from bot.config import load_config
from index.config import DatabaseConfig
from index.database import close_pools
from index.pg_build import build_lock
from index.pg_schema import SCHEMA_VERSION, Connections
from index.service import CitebotService
from tests.index_fixtures import (
    CORE_CONFIG_FILE,
    SHIPPED_CORPUS,
    assert_answer_json,
    citebot_env,
    run_citebot,
)
from tests.test_core_answers import QUESTIONS


def password_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def assert_secret_kept(url: str, *outputs: str) -> None:
    secret = password_of(url)
    assert len(secret) > 8
    for output in outputs:
        assert secret not in output


def test_migrate_to_database_answers_as_the_local_index_without_embedding(
    database_url: str, core_service: CitebotService, core_index_dir: Path, tmp_path: Path
) -> None:
    env = citebot_env(
        CITEBOT_CORPUS__PATH=SHIPPED_CORPUS,
        CITEBOT_INDEX__PATH=core_index_dir,
        CITEBOT_DATABASE__URL=database_url,
    )
    copied = run_citebot("migrate", "--to-database", env=env, cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert "without embedding" in copied.stdout and ":***@" in copied.stdout

    asked = run_citebot("ask", "--json", "-", env=env, cwd=tmp_path, stdin="\n".join(QUESTIONS))
    assert asked.returncode == 0, asked.stderr
    for line, question in zip(asked.stdout.splitlines(), QUESTIONS, strict=True):
        database = assert_answer_json(line)
        local = json.loads(json.dumps(core_service.answer(question).to_json()))
        for citation in database["citations"] + local["citations"]:
            citation["score"] = round(citation["score"], 4)
        assert database == local, question

    index = run_citebot("index", env=env, cwd=tmp_path)  # the copy knows the corpus files
    assert index.returncode == 0, index.stderr
    assert "up to date" in index.stdout.lower(), index.stdout
    schema = run_citebot("migrate", env=env, cwd=tmp_path)
    assert schema.returncode == 0
    assert f"current (schema version {SCHEMA_VERSION})" in schema.stdout
    assert_secret_kept(database_url, copied.stdout + copied.stderr, asked.stdout + asked.stderr,
                       index.stdout + index.stderr, schema.stdout + schema.stderr)  # fmt: skip

    # The same index as schema version 1 kept it (a row per posting), stepped up again.
    as_version_1(database_url)
    refused = run_citebot("ask", QUESTIONS[0], env=env, cwd=tmp_path)
    assert refused.returncode == 3 and "`citebot migrate`" in refused.stderr
    migrated = run_citebot("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "from schema version 1 to 2" in migrated.stdout
    again = run_citebot("ask", "--json", "-", env=env, cwd=tmp_path, stdin="\n".join(QUESTIONS))
    assert again.returncode == 0, again.stderr
    assert again.stdout == asked.stdout


def as_version_1(url: str) -> None:
    """Turn a version-2 index into the tables citebot 1 made: index_terms, a row per posting."""
    with psycopg.connect(url, autocommit=True) as connection, connection.transaction():
        connection.execute(
            "CREATE TABLE index_terms (term text NOT NULL,"
            " passage_id bigint NOT NULL REFERENCES index_passages ON DELETE CASCADE,"
            " tf integer NOT NULL, length integer NOT NULL,"
            " PRIMARY KEY (term, passage_id) INCLUDE (tf, length))"
        )
        connection.execute("CREATE INDEX index_terms_passage ON index_terms (passage_id)")
        with connection.cursor(binary=True) as cursor:
            rows = cursor.execute("SELECT term, ids, tfs, lengths FROM index_postings").fetchall()
        with connection.cursor().copy("COPY index_terms FROM STDIN") as copy:
            for term, ids, tfs, lengths in rows:
                columns = [np.frombuffer(c, dtype=t) for c, t in
                           ((ids, "<i8"), (tfs, "<i4"), (lengths, "<i4"))]  # fmt: skip
                for passage, tf, length in zip(*columns, strict=True):
                    copy.write_row((term, int(passage), int(tf), int(length)))
        connection.execute("DROP TABLE index_postings, index_segments, index_dead")
        connection.execute("DROP SEQUENCE index_segment_ids")
        connection.execute("UPDATE citebot_schema SET version = 1 WHERE component = 'index'")


def test_an_unreachable_database_is_one_line_with_exit_code_5(tmp_path: Path) -> None:
    url = "postgresql://citebot:s3cret-pw-123@127.0.0.1:9/citebot"
    env = citebot_env(
        CITEBOT_CORPUS__PATH=SHIPPED_CORPUS,
        CITEBOT_INDEX__PATH=tmp_path / "index",
        CITEBOT_DATABASE__URL=url,
        CITEBOT_DATABASE__CONNECT_TIMEOUT="1",
    )
    for command in (["ask", "--json", "Who is Rogozin?"], ["index"], ["sources"], ["migrate"]):
        result = run_citebot(*command, env=env, cwd=tmp_path)

        assert result.returncode == 5, (command, result.stderr)
        assert result.stdout == ""
        [line] = result.stderr.strip().splitlines()
        assert "database.url = postgresql://citebot:***@127.0.0.1:9/citebot" in line
        assert_secret_kept(url, result.stderr)


def test_tables_of_another_schema_version_are_refused_with_the_migrate_command(
    database_url: str, tmp_path: Path
) -> None:
    env = citebot_env(
        CITEBOT_CORPUS__PATH=SHIPPED_CORPUS,
        CITEBOT_INDEX__PATH=tmp_path / "index",
        CITEBOT_DATABASE__URL=database_url,
    )
    created = run_citebot("migrate", env=env, cwd=tmp_path)
    assert created.returncode == 0 and "created the index tables" in created.stdout
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("UPDATE citebot_schema SET version = 99 WHERE component = 'index'")

    asked = run_citebot("ask", "Who is Rogozin?", env=env, cwd=tmp_path)
    assert asked.returncode == 3
    assert "schema version 99" in asked.stderr and "`citebot migrate`" in asked.stderr
    migrated = run_citebot("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 3 and "cannot migrate" in migrated.stderr
    assert_secret_kept(database_url, asked.stderr, migrated.stderr)


def test_a_build_while_another_holds_the_database_exits_4(
    database_url: str, tmp_path: Path
) -> None:
    env = citebot_env(
        CITEBOT_CORPUS__PATH=SHIPPED_CORPUS,
        CITEBOT_INDEX__PATH=tmp_path / "index",
        CITEBOT_DATABASE__URL=database_url,
    )
    index = load_config(CORE_CONFIG_FILE).index
    connections = Connections(DatabaseConfig(url=database_url), index)
    try:
        with build_lock(connections, wait=False):
            result = run_citebot("index", env=env, cwd=tmp_path)
    finally:
        close_pools()
    assert result.returncode == 4
    assert "another build of this index is already running" in result.stderr
    assert_secret_kept(database_url, result.stdout + result.stderr)


@pytest.mark.parametrize("flag", [[], ["--to-database"]])
def test_migrate_without_a_database_url_says_which_setting(flag: list[str], tmp_path: Path) -> None:
    env = citebot_env(CITEBOT_INDEX__PATH=tmp_path / "index")
    result = run_citebot("migrate", *flag, env=env, cwd=tmp_path)
    assert result.returncode == 2 and "database.url is not set" in result.stderr
