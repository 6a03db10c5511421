"""The shared state of replicas in PostgreSQL: update claims, rate limits and the reindex lock.

Every call runs on a worker thread (psycopg's pool is synchronous), so the event loop never
waits on the database. A connection that fails is tried once more with a fresh one (after a
database restart the pool's idle connections are all dead); a database that still cannot be
reached raises DatabaseUnavailableError. Answers and votes: bot/feedback_pg.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import PoolTimeout

from bot.config import AppConfig
from bot.feedback_pg import PgFeedbackStore
from bot.pg_database import Database
from bot.ratelimit import Verdict
from bot.shared_state import GREET_AGAIN_AFTER_SECONDS, MINUTE, Claim, SharedState
from bot.uploads import PendingUpload
from index.database import ensure_schema, migrate_component, pool
from index.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)

SCHEMA_COMPONENT = "bot"
SCHEMA_VERSION = 2  # 2: bot_pending_uploads
# Telegram gives up on an update after about a day; claims are kept a little longer.
KEEP_CLAIMS = "2 days"
KEEP_IDLE_WINDOWS = "1 day"
HOUSEKEEPING_EVERY_SECONDS = 3600.0
# A handler that runs longer than this is taken for stuck: its claim is no longer renewed.
MAX_HANDLING_SECONDS = 600.0
# The key of the advisory lock a reindex holds (any fixed 64-bit number of ours).
REINDEX_LOCK_KEY = 0x63697465_62_6F74  # "citebot"

# Schema version 2 (also the step from 1).
_PENDING_UPLOADS = """
CREATE TABLE bot_pending_uploads (
    chat_id bigint PRIMARY KEY,
    token bigint NOT NULL,
    file_name text NOT NULL,
    data bytea NOT NULL,
    held_at timestamptz NOT NULL DEFAULT now()
);
"""
_TABLES = """
CREATE TABLE bot_updates (
    update_id bigint PRIMARY KEY,
    replica text NOT NULL,
    claim text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL,
    done_at timestamptz
);
CREATE INDEX bot_updates_claimed_at ON bot_updates (claimed_at);
CREATE TABLE bot_rate_windows (
    scope text NOT NULL,
    subject bigint NOT NULL,
    times double precision[] NOT NULL DEFAULT '{}',
    notified boolean NOT NULL DEFAULT false,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, subject)
);
CREATE TABLE bot_answers (
    id bigserial PRIMARY KEY,
    chat_id bigint NOT NULL,
    question text NOT NULL,
    build_id text NOT NULL,
    doc_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bot_votes (
    answer_id bigint NOT NULL REFERENCES bot_answers (id) ON DELETE CASCADE,
    user_id bigint NOT NULL,
    vote smallint NOT NULL CHECK (vote IN (-1, 1)),
    voted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (answer_id, user_id)
);
"""


def create_tables(connection: psycopg.Connection) -> None:
    connection.execute(_TABLES + _PENDING_UPLOADS)


def _add_pending_uploads(connection: psycopg.Connection) -> None:
    """Version 1 -> 2: uploads waiting for "Replace it" move from each replica's memory here."""
    connection.execute(_PENDING_UPLOADS)


MIGRATIONS: dict[int, Callable[[psycopg.Connection], None]] = {1: _add_pending_uploads}


def migrate_bot_schema(config: AppConfig) -> str:
    """`citebot migrate` for the bot's tables (index/pg_migrate.py does the index's)."""
    with pool(config.database).connection() as connection:
        return migrate_component(
            connection, SCHEMA_COMPONENT, SCHEMA_VERSION, create_tables, MIGRATIONS
        )


class PgHeldUploads:
    """Uploads waiting for "Replace it", one per chat, in `bot_pending_uploads`: the press may
    reach any replica. Held a day at most (the button then answers as expired)."""

    KEEP = "1 day"

    def __init__(self, database: Database) -> None:
        self._database = database

    async def hold(self, chat_id: int, file_name: str, data: bytes) -> PendingUpload:
        token = secrets.randbelow(2**31 - 1) + 1
        await self._database.call(lambda c: self._hold(c, chat_id, token, file_name, data))
        return PendingUpload(token, chat_id, file_name, data)

    def _hold(
        self, connection: psycopg.Connection, chat_id: int, token: int, name: str, data: bytes
    ) -> None:
        with connection.transaction():
            connection.execute(
                f"DELETE FROM bot_pending_uploads WHERE held_at < now() - interval '{self.KEEP}'"
            )
            connection.execute(
                "INSERT INTO bot_pending_uploads (chat_id, token, file_name, data)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (chat_id) DO UPDATE SET"
                " token = excluded.token, file_name = excluded.file_name, data = excluded.data,"
                " held_at = now()",
                (chat_id, token, name, data),
            )

    async def take(self, chat_id: int, token: int) -> PendingUpload | None:
        row = await self._database.call(
            lambda c: c.execute(
                "DELETE FROM bot_pending_uploads WHERE chat_id = %s AND token = %s"
                f" AND held_at >= now() - interval '{self.KEEP}' RETURNING file_name, data",
                (chat_id, token),
            ).fetchone()
        )
        return None if row is None else PendingUpload(token, chat_id, row[0], bytes(row[1]))


class PgClaims:
    """Claims on updates in `bot_updates`, each with a lease this replica renews while it
    handles the update; a lease that ran out (the replica died) may be claimed again."""

    def __init__(self, database: Database, lease_seconds: float, replica: str) -> None:
        self._database = database
        self._lease = lease_seconds
        self.replica = replica
        self._handling: dict[int, tuple[float, str]] = {}  # update id -> (when, claim token)
        # Updates this replica claimed but could not handle (the database failed mid-way):
        # their claim tokens, so Telegram's next delivery here may take them up again at once.
        self._abandoned: dict[int, str] = {}
        self._housekept = time.monotonic()

    async def claim(self, update_id: int) -> Claim:
        # Each attempt has a token of its own: a second delivery to this same replica is
        # another attempt (BUSY), while our own insert whose answer a broken connection lost
        # is recognised when Database.run tries again (NEW).
        token = secrets.token_hex(8)
        ours = {token, self._abandoned.get(update_id, token)}
        claim = await self._database.call(lambda c: self._claim(c, update_id, token, ours))
        if claim is Claim.NEW:
            self._abandoned.pop(update_id, None)
            self._handling[update_id] = (time.monotonic(), token)
        return claim

    def _claim(
        self, connection: psycopg.Connection, update_id: int, token: str, ours: set[str]
    ) -> Claim:
        taken = connection.execute(
            "INSERT INTO bot_updates AS u (update_id, replica, claim, lease_until)"
            " VALUES (%(id)s, %(replica)s, %(token)s,"
            "  now() + make_interval(secs => %(lease)s))"
            " ON CONFLICT (update_id) DO UPDATE SET replica = excluded.replica,"
            "  claim = excluded.claim, lease_until = excluded.lease_until, claimed_at = now()"
            " WHERE u.done_at IS NULL AND u.lease_until < now()"
            " RETURNING update_id",
            {"id": update_id, "replica": self.replica, "token": token, "lease": self._lease},
        ).fetchone()
        if taken is not None:
            return Claim.NEW
        row = connection.execute(
            "SELECT done_at IS NOT NULL, claim FROM bot_updates WHERE update_id = %s",
            (update_id,),
        ).fetchone()
        if row is None:  # removed meanwhile by housekeeping: days old, long answered
            return Claim.DUPLICATE
        if bool(row[0]):
            return Claim.DUPLICATE
        if row[1] not in ours:
            return Claim.BUSY
        connection.execute(
            "UPDATE bot_updates SET claim = %s, lease_until = now() + make_interval(secs => %s)"
            " WHERE update_id = %s",
            (token, self._lease, update_id),
        )
        return Claim.NEW

    async def finish(self, update_id: int) -> None:
        self._handling.pop(update_id, None)
        await self._database.call(
            lambda c: c.execute(
                "UPDATE bot_updates SET done_at = now() WHERE update_id = %s AND replica = %s",
                (update_id, self.replica),
            )
        )

    def abandon(self, update_id: int) -> None:
        handling = self._handling.pop(update_id, None)  # no longer renewed
        if handling is not None:
            self._abandoned[update_id] = handling[1]

    async def renew(self) -> None:
        now = time.monotonic()
        for update_id, (since, _) in list(self._handling.items()):
            if now - since > MAX_HANDLING_SECONDS:
                logger.warning("update %s: still not handled after %.0f s", update_id, now - since)
                del self._handling[update_id]
        held = list(self._handling)
        housekeeping = now - self._housekept > HOUSEKEEPING_EVERY_SECONDS
        await self._database.call(lambda c: self._renew(c, held, housekeeping))
        if housekeeping:
            self._housekept = now

    def _renew(self, connection: psycopg.Connection, held: list[int], housekeeping: bool) -> None:
        if held:
            connection.execute(
                "UPDATE bot_updates SET lease_until = now() + make_interval(secs => %s)"
                " WHERE update_id = ANY(%s) AND replica = %s AND done_at IS NULL",
                (self._lease, held, self.replica),
            )
        if housekeeping:
            connection.execute(
                f"DELETE FROM bot_updates WHERE claimed_at < now() - interval '{KEEP_CLAIMS}'"
            )
            connection.execute(
                "DELETE FROM bot_rate_windows"
                f" WHERE seen_at < now() - interval '{KEEP_IDLE_WINDOWS}'"
            )


def next_window(
    times: list[float], notified: bool, now: float, limit: int, period: float
) -> tuple[list[float], bool, Verdict]:
    """The sliding-window rule of bot/ratelimit.py's UserRateLimiter, as a pure function:
    the window's question times and notice flag after one more question, and the verdict."""
    kept = [t for t in times if t > now - period]
    if len(kept) < limit:
        return [*kept, now], False, Verdict.ALLOW
    return kept, True, Verdict.SILENT if notified else Verdict.NOTIFY


class PgRateLimit:
    """A sliding window per subject in `bot_rate_windows`, counted on the database's clock
    under a row lock, so replicas count together and their clocks never disagree."""

    def __init__(self, database: Database, scope: str, limit: int, period: float) -> None:
        self._database = database
        self._scope, self._limit, self._period = scope, limit, period

    async def take(self, subject: int) -> Verdict:
        return await self._database.call(lambda c: self._take(c, subject))

    def _take(self, connection: psycopg.Connection, subject: int) -> Verdict:
        key = (self._scope, subject)
        with connection.transaction():
            times, notified, now = _locked_window(connection, key)
            times, notified, verdict = next_window(times, notified, now, self._limit, self._period)
            _store_window(connection, key, times, notified)
        return verdict


def _locked_window(
    connection: psycopg.Connection, key: tuple[str, int]
) -> tuple[list[float], bool, float]:
    """A window of `bot_rate_windows` (made if new), its row locked until the transaction ends:
    its times, its notice flag, and the database's clock now."""
    connection.execute(
        "INSERT INTO bot_rate_windows (scope, subject) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        key,
    )
    row = connection.execute(
        "SELECT times, notified, extract(epoch FROM now())::float8"
        " FROM bot_rate_windows WHERE scope = %s AND subject = %s FOR UPDATE",
        key,
    ).fetchone()
    assert row is not None
    return list(row[0]), bool(row[1]), float(row[2])


def _store_window(
    connection: psycopg.Connection, key: tuple[str, int], times: list[float], notified: bool
) -> None:
    connection.execute(
        "UPDATE bot_rate_windows SET times = %s, notified = %s, seen_at = now()"
        " WHERE scope = %s AND subject = %s",
        (times, notified, *key),
    )


def reserve_slot(
    times: list[float], now: float, earliest: float, limit: int, period: float
) -> tuple[list[float], float]:
    """A sliding window of send times, some reserved in the future: the first moment from
    `earliest` at which one more message keeps every window of `period` at `limit` messages or
    fewer, and the window's times with it. (With `limit` or more times kept, any window that
    holds the new moment starts after the limit-th latest: it holds at most `limit`.)"""
    kept = sorted(t for t in times if t > now - period)
    at = earliest if len(kept) < limit else max(earliest, kept[-limit] + period)
    return sorted([*kept, at]), at


class PgSendPacer:
    """Telegram's flood limits for every replica together: each message reserves a moment in
    `bot_rate_windows` ("send": all chats; "send-group": one group), on the database's clock
    under row locks, and waits for it."""

    def __init__(self, database: Database, per_second: int, group_per_minute: int) -> None:
        self._database = database
        self._per_second, self._group_per_minute = per_second, group_per_minute

    async def slot(self, chat_id: int | str) -> float:
        now, at = await self.reserve(chat_id)
        return max(0.0, at - now)

    async def reserve(self, chat_id: int | str) -> tuple[float, float]:
        """The database's clock now, and the moment reserved for a message to this chat."""
        if isinstance(chat_id, str):  # "@channelname"
            group: int | None = int.from_bytes(chat_id.encode()[:7], "big")
        else:
            group = chat_id if chat_id < 0 else None
        return await self._database.call(lambda c: self._reserve(c, group))

    def _reserve(self, connection: psycopg.Connection, group: int | None) -> tuple[float, float]:
        bot = ("send", 0)
        with connection.transaction():
            if group is None:
                times, _, now = _locked_window(connection, bot)
                times, at = reserve_slot(times, now, now, self._per_second, 1.0)
                _store_window(connection, bot, times, False)
                return now, at
            # The group's first free moment, then the bot's from there; the group's window
            # records the moment the message will really go.
            key = ("send-group", group)
            window, _, now = _locked_window(connection, key)
            _, first = reserve_slot(window, now, now, self._group_per_minute, MINUTE)
            times, _, _ = _locked_window(connection, bot)
            times, at = reserve_slot(times, now, first, self._per_second, 1.0)
            _store_window(connection, bot, times, False)
            window, _ = reserve_slot(window, now, at, self._group_per_minute, MINUTE)
            _store_window(connection, key, window, False)
        return now, at


class PgReindexGuard:
    """A session advisory lock, held on a connection of its own for the whole reindex. If the
    replica dies, PostgreSQL ends the session and the lock goes with it: nothing to expire."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        connection = await asyncio.to_thread(self._lock)
        if connection is None:
            yield False
            return
        try:
            yield True
        finally:
            await asyncio.to_thread(self._unlock, connection)

    def _lock(self) -> psycopg.Connection | None:
        try:
            connection = self._database.pool.getconn(timeout=self._database.checkout_seconds)
        except PoolTimeout as error:
            raise DatabaseUnavailableError("the database is unreachable") from error
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (REINDEX_LOCK_KEY,))
            locked = bool(row.fetchone()[0])  # type: ignore[index]
        except psycopg.OperationalError as error:
            self._database.pool.putconn(connection)
            raise DatabaseUnavailableError("the database is unreachable") from error
        if locked:
            return connection
        self._database.pool.putconn(connection)
        return None

    def _unlock(self, connection: psycopg.Connection) -> None:
        try:
            connection.execute("SELECT pg_advisory_unlock(%s)", (REINDEX_LOCK_KEY,))
        except psycopg.OperationalError as error:
            # The session is gone, and its lock with it.
            logger.warning("reindex lock: the database connection was lost (%s)", error)
        finally:
            self._database.pool.putconn(connection)


def replica_name() -> str:
    """This process's name in claims and logs: host, pid and a random tag (pids repeat)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def pg_shared_state(config: AppConfig) -> SharedState:
    """The database's shared state: checks the schema (creating the tables in a new
    database), then every call goes through the process's pool."""
    connections = pool(config.database)
    with connections.connection() as connection:
        ensure_schema(connection, SCHEMA_COMPONENT, SCHEMA_VERSION, create_tables)
    database = Database(connections, config.database)
    telegram = config.telegram
    return SharedState(
        claims=PgClaims(database, telegram.update_lease_seconds, replica_name()),
        user_limit=PgRateLimit(database, "user", telegram.user_questions_per_minute, MINUTE),
        group_limit=PgRateLimit(database, "group", telegram.group_questions_per_minute, MINUTE),
        greeting_limit=PgRateLimit(database, "greeting", 1, GREET_AGAIN_AFTER_SECONDS),
        feedback=PgFeedbackStore(database),
        reindex_guard=PgReindexGuard(database),
        uploads=PgHeldUploads(database),
        database=database,
        replicated=True,
        send_pacer=PgSendPacer(
            database, telegram.messages_per_second, telegram.group_messages_per_minute
        ),
    )
