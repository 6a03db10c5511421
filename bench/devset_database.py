"""The dev set on the database store: with database.url set (CITEBOT_DATABASE__URL), each dev-set
corpus gets a database of its own on that server, `<database>_<corpus>`, seeded from the local
index of that corpus when there is one (as `citebot migrate --to-database`: nothing embedded)."""

from __future__ import annotations

import sys

import psycopg
from pydantic import SecretStr

from index.config import DatabaseConfig, IndexConfig
from index.errors import IndexNotFoundError
from index.pg_migrate import copy_local_index
from index.pg_store import PgStore
from index.retriever import LoadedIndex


def corpus_database(
    database: DatabaseConfig, index: IndexConfig, passages: object, name: str
) -> DatabaseConfig | None:
    """The corpus's own database (made if missing), or None without database.url."""
    if database.url is None:
        return None
    url = database.url.get_secret_value()
    base, _, dbname = url.rpartition("/")
    own = f"{dbname}_{name}"
    with psycopg.connect(url, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (own,)).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{own}"')
    config = database.model_copy(update={"url": SecretStr(f"{base}/{own}")})
    store = PgStore(index, passages, config)  # type: ignore[arg-type]
    if not store.has_index():
        try:
            local = LoadedIndex.open_current(index, verify_checksums=False)
        except IndexNotFoundError:
            return config
        report = copy_local_index(local, index, config)
        print(f"{name}: copied {report.passages} passages into the database in "
              f"{report.seconds} s ({report.passages / max(report.seconds, 1e-9):.0f}/s)",
              file=sys.stderr)  # fmt: skip
    return config
