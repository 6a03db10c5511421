"""The bot's calls to PostgreSQL: on a worker thread, retried once on a fresh connection.

psycopg's pool is synchronous, so every call runs on a thread and the event loop never waits on
the database. A call that fails for want of a connection is tried once more (after a database
restart the pool's idle connections are all dead); a database that still cannot be reached
raises DatabaseUnavailableError, which the bot turns into a short notice (bot/update_gate.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from index.config import DatabaseConfig
from index.database import direct_connection
from index.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)
T = TypeVar("T")
# While the pool is failing, calls wait this long for one of its connections before making
# their own (rather than `database.connect_timeout` every time).
FAILING_POOL_WAIT_SECONDS = 0.2


class Database:
    """The process's pool, used the way every call here needs: on a thread, retried once."""

    def __init__(self, connections: ConnectionPool, config: DatabaseConfig) -> None:
        assert config.url is not None
        self.pool = connections
        self.checkout_seconds = config.connect_timeout
        self._config = config
        self._pool_failing = False

    def run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """`work` on a pooled connection (autocommit). A connection that breaks is replaced
        once; DatabaseUnavailableError when the database cannot be reached (the pool has no
        connection within `database.connect_timeout`, or a moment while it is failing, and
        none can be made) or the fresh connection breaks too."""
        for attempt in (1, 2):
            wait = FAILING_POOL_WAIT_SECONDS if self._pool_failing else self.checkout_seconds
            try:
                with self.pool.connection(timeout=wait) as connection:
                    self._pool_failing = False
                    return work(connection)
            except PoolTimeout:
                self._pool_failing = True
                return self._run_alone(work)
            except psycopg.OperationalError as error:
                if attempt == 2:
                    raise DatabaseUnavailableError(
                        f"the database is unreachable ({type(error).__name__})"
                    ) from error
                logger.info("database call failed (%s); trying a fresh connection", error)
        raise AssertionError("unreachable")

    def _run_alone(self, work: Callable[[psycopg.Connection], T]) -> T:
        """`work` on a connection of its own. After a database outage the pool waits longer
        and longer between attempts to reconnect (psycopg_pool's backoff doubles each time),
        so the database may be back well before the pool tries again; meanwhile calls connect
        themselves, and the bot recovers as soon as the database does."""
        try:
            with direct_connection(self._config) as connection:
                return work(connection)
        except psycopg.OperationalError as error:
            raise DatabaseUnavailableError("the database is unreachable") from error

    async def call(self, work: Callable[[psycopg.Connection], T]) -> T:
        return await asyncio.to_thread(self.run, work)

    async def reachable(self) -> bool:
        try:
            await self.call(lambda connection: connection.execute("SELECT 1"))
        except DatabaseUnavailableError:
            return False
        return True
