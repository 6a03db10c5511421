"""The PostgreSQL connection every database-backed part shares, and its schema versions.

One pool per process (psycopg_pool, a well-kept part of psycopg 3) opened from `database.url`.
The URL is a secret: errors and logs name it only through `DatabaseConfig.masked_url`.

Each part that keeps tables (the index store, the bot's shared state) names its component and
schema version; `ensure_schema` creates the tables of a new database, accepts its own version
and refuses another one with the command that migrates it (`citebot migrate`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg_pool import ConnectionPool

from index.config import DatabaseConfig
from index.errors import DatabaseUnavailableError, SchemaMismatchError

logger = logging.getLogger(__name__)
__all__ = [
    "DatabaseUnavailableError",
    "SchemaMismatchError",
    "close_pools",
    "ensure_schema",
    "migrate_component",
    "pool",
]

MIGRATE_HINT = "run `citebot migrate` to bring it to this version"


_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def pool(config: DatabaseConfig) -> ConnectionPool:
    """The process's pool for this URL, opened (and checked reachable) on first use."""
    if config.url is None:
        raise ValueError("database.url is not set")
    url = config.url.get_secret_value()
    with _pools_lock:
        existing = _pools.get(url)
        if existing is not None:
            return existing
        opened = ConnectionPool(
            url,
            min_size=1,
            max_size=config.pool_size,
            kwargs={"connect_timeout": max(1, round(config.connect_timeout)), "autocommit": True},
            open=False,
            name="citebot",
            # A connection is checked (one round trip) before it is handed out: after the
            # database was away, the pool still holds connections that died meanwhile.
            check=ConnectionPool.check_connection,
        )
        try:
            opened.open(wait=True, timeout=config.connect_timeout)
        except Exception as error:  # psycopg_pool.PoolTimeout or psycopg.OperationalError
            opened.close()
            raise DatabaseUnavailableError(
                f"cannot reach the database at database.url = {config.masked_url}: "
                f"{_reason(error, url)}"
            ) from None
        _pools[url] = opened
        return opened


def direct_connection(config: DatabaseConfig) -> psycopg.Connection:
    """A connection of its own (autocommit), outside the pool: while the pool is backing off
    after the database was away (psycopg_pool waits longer and longer between attempts), the
    database may be back well before the pool tries again. Raises psycopg.OperationalError."""
    if config.url is None:
        raise ValueError("database.url is not set")
    return psycopg.connect(
        config.url.get_secret_value(),
        autocommit=True,
        connect_timeout=max(1, round(config.connect_timeout)),
    )


def close_pools() -> None:
    with _pools_lock:
        for opened in _pools.values():
            opened.close()
        _pools.clear()


def _reason(error: BaseException, url: str) -> str:
    """The error's first line, with the URL's secret parts taken out."""
    from index.config import mask_url

    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.replace(url, mask_url(url))


def ensure_schema(
    connection: psycopg.Connection,
    component: str,
    version: int,
    create: Callable[[psycopg.Connection], None],
) -> None:
    """Create `component`'s tables in a new database, or check they are of `version`.

    Serialised across processes by an advisory lock, so two replicas starting at once do not
    both create the tables.
    """
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('citebot-schema'))")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS citebot_schema ("
            " component text PRIMARY KEY, version integer NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
        row = connection.execute(
            "SELECT version FROM citebot_schema WHERE component = %s", (component,)
        ).fetchone()
        if row is None:
            create(connection)
            connection.execute(
                "INSERT INTO citebot_schema (component, version) VALUES (%s, %s)",
                (component, version),
            )
            logger.info("created the %s tables (schema version %d)", component, version)
        elif int(row[0]) != version:
            raise SchemaMismatchError(
                f"the database's {component} tables are of schema version {row[0]}, this "
                f"citebot uses version {version}: {MIGRATE_HINT}"
            )


def migrate_component(
    connection: psycopg.Connection,
    component: str,
    version: int,
    create: Callable[[psycopg.Connection], None],
    migrations: dict[int, Callable[[psycopg.Connection], None]],
) -> str:
    """`citebot migrate` for one component: create its tables, or step them up to `version`
    (migrations[n] makes version n into n + 1), in one transaction; says what it did."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('citebot-schema'))")
        exists = connection.execute("SELECT to_regclass('citebot_schema')").fetchone()
        row = None
        if exists and exists[0] is not None:
            row = connection.execute(
                "SELECT version FROM citebot_schema WHERE component = %s", (component,)
            ).fetchone()
        if row is None:
            ensure_schema(connection, component, version, create)
            return f"created the {component} tables (schema version {version})"
        found = int(row[0])
        if found == version:
            return f"the database's {component} tables are current (schema version {found})"
        if found > version or any(v not in migrations for v in range(found, version)):
            raise SchemaMismatchError(
                f"the database's {component} tables are of schema version {found}, which this "
                f"citebot (schema version {version}) cannot migrate: use the citebot "
                "version that made them, or start from an empty database"
            )
        for step in range(found, version):
            migrations[step](connection)
        connection.execute(
            "UPDATE citebot_schema SET version = %s WHERE component = %s", (version, component)
        )
        return f"migrated the {component} tables from schema version {found} to {version}"
