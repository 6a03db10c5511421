"""What replicas share in PostgreSQL, two "replicas" in one test: claims, limits, answers, lock.

Each replica is the real shared state `citebot serve` opens (bot/shared_pg.py) on a database
of the session's real server; the database is cut away with a TCP proxy to see it lost.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bot.config import AppConfig, TelegramConfig
from bot.ratelimit import Verdict
from bot.shared_pg import (
    REINDEX_LOCK_KEY,
    PgSendPacer,
    migrate_bot_schema,
    next_window,
    pg_shared_state,
    reserve_slot,
)
from bot.shared_state import Claim, SharedState
from index.config import DatabaseConfig
from index.database import close_pools
from index.errors import DatabaseUnavailableError, SchemaMismatchError
from tests.tcp_proxy import TcpProxy

LEASE = 1.0


def replica_config(database_url: str) -> AppConfig:
    return AppConfig(
        database=DatabaseConfig(url=database_url, connect_timeout=2),
        telegram=TelegramConfig(update_lease_seconds=LEASE, user_questions_per_minute=3),
    )


@pytest.fixture
def replicas(database_url: str) -> Iterator[tuple[SharedState, SharedState]]:
    """Two replicas' shared state over one new database."""
    config = replica_config(database_url)
    yield pg_shared_state(config), pg_shared_state(config)
    close_pools()


async def test_an_update_is_handled_by_one_replica_once(
    replicas: tuple[SharedState, SharedState],
) -> None:
    a, b = replicas
    assert await a.claims.claim(1) is Claim.NEW
    assert await b.claims.claim(1) is Claim.BUSY  # delivered to b meanwhile: try later
    assert await a.claims.claim(1) is Claim.BUSY  # delivered twice to a, at once
    await a.claims.finish(1)
    assert await b.claims.claim(1) is Claim.DUPLICATE
    assert await a.claims.claim(1) is Claim.DUPLICATE
    # Two deliveries reaching one replica at the same moment.
    both = await asyncio.gather(a.claims.claim(2), a.claims.claim(2))
    assert sorted(c.value for c in both) == ["busy", "new"]


async def test_an_update_a_dead_replica_claimed_is_taken_over_after_its_lease(
    replicas: tuple[SharedState, SharedState],
) -> None:
    dead, alive = replicas
    assert await dead.claims.claim(7) is Claim.NEW  # and then it never renews nor finishes
    assert await alive.claims.claim(7) is Claim.BUSY
    await asyncio.sleep(LEASE + 0.3)
    assert await alive.claims.claim(7) is Claim.NEW
    await dead.claims.finish(7)  # too late: the claim is no longer its own
    assert await dead.claims.claim(7) is Claim.BUSY
    await alive.claims.finish(7)
    assert await dead.claims.claim(7) is Claim.DUPLICATE


async def test_a_working_replica_keeps_its_claim_past_the_lease(
    replicas: tuple[SharedState, SharedState],
) -> None:
    working, other = replicas
    assert await working.claims.claim(9) is Claim.NEW
    for _ in range(4):
        await asyncio.sleep(LEASE / 3)
        await working.claims.renew()
    assert await other.claims.claim(9) is Claim.BUSY


async def test_an_abandoned_claim_is_handled_afresh_by_the_same_replica(
    replicas: tuple[SharedState, SharedState],
) -> None:
    a, b = replicas
    assert await a.claims.claim(11) is Claim.NEW
    a.claims.abandon(11)  # the database failed mid-way; Telegram delivers it again
    assert await a.claims.claim(11) is Claim.NEW
    assert await b.claims.claim(11) is Claim.BUSY


async def test_rate_limits_count_the_questions_every_replica_received(
    replicas: tuple[SharedState, SharedState],
) -> None:
    a, b = replicas
    verdicts = [await (a, b)[n % 2].user_limit.take(2001) for n in range(5)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.NOTIFY, Verdict.SILENT]
    assert await b.user_limit.take(2002) is Verdict.ALLOW  # another user
    assert await a.group_limit.take(2001) is Verdict.ALLOW  # another scope, same number
    assert await a.greeting_limit.take(-100) is Verdict.ALLOW
    assert await b.greeting_limit.take(-100) is Verdict.NOTIFY


async def test_a_button_made_by_one_replica_finds_its_answer_on_another(
    replicas: tuple[SharedState, SharedState],
) -> None:
    a, b = replicas
    answer_id = await asyncio.to_thread(
        a.feedback.record_answer, 2001, "who \x00 pays?", "build-1", "roscosmos"
    )
    assert answer_id is not None
    record = await asyncio.to_thread(b.feedback.find_answer, answer_id)
    assert record is not None
    assert (record.chat_id, record.question, record.build_id, record.doc_id) == (
        2001, "who \ufffd pays?", "build-1", "roscosmos",
    )  # fmt: skip
    assert await asyncio.to_thread(b.feedback.find_answer, answer_id + 1) is None
    assert await asyncio.to_thread(b.feedback.vote, answer_id, 2001, 1)
    assert await asyncio.to_thread(a.feedback.vote, answer_id, 2001, -1)  # changed their mind
    assert await asyncio.to_thread(a.feedback.vote, answer_id, 2002, -1)
    assert await asyncio.to_thread(b.feedback.vote_counts) == (0, 2)


async def test_one_reindex_at_a_time_across_replicas(
    replicas: tuple[SharedState, SharedState],
) -> None:
    a, b = replicas
    async with a.reindex_guard.hold() as held:
        assert held
        async with b.reindex_guard.hold() as also:
            assert not also
        async with a.reindex_guard.hold() as again:
            assert not again  # not even the same replica twice
    async with b.reindex_guard.hold() as held:
        assert held


async def test_the_reindex_lock_goes_with_a_replica_that_dies(
    replicas: tuple[SharedState, SharedState], database_url: str
) -> None:
    a, b = replicas
    async with a.reindex_guard.hold() as held:
        assert held
        with psycopg.connect(database_url, autocommit=True) as admin:  # the replica is killed
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND objid = %s",
                (REINDEX_LOCK_KEY & 0xFFFFFFFF,),
            )
        async with b.reindex_guard.hold() as taken_over:
            assert taken_over
    async with b.reindex_guard.hold() as free:
        assert free


async def test_a_database_lost_while_serving_is_unavailable_then_back(database_url: str) -> None:
    address = urlsplit(database_url)
    assert address.hostname is not None and address.port is not None
    proxy = await TcpProxy(address.hostname, address.port).start()
    through = address._replace(netloc=address.netloc.replace(f":{address.port}", f":{proxy.port}"))
    try:
        # Opened off the loop: the proxy runs on it.
        state = await asyncio.to_thread(pg_shared_state, replica_config(urlunsplit(through)))
        assert await state.claims.claim(1) is Claim.NEW
        proxy.cut()
        with pytest.raises(DatabaseUnavailableError):
            await state.claims.claim(2)
        with pytest.raises(DatabaseUnavailableError):
            await state.user_limit.take(2001)
        assert state.database is not None and not await state.database.reachable()
        assert await asyncio.to_thread(state.feedback.record_answer, 1, "q", "b", "d") is None
        proxy.restore()
        assert await state.claims.claim(2) is Claim.NEW  # the dead connections are replaced
        assert await state.user_limit.take(2001) is Verdict.ALLOW
    finally:
        close_pools()
        await proxy.stop()


@pytest.mark.parametrize(
    ("times", "notified", "now", "expected"),
    [
        ([], False, 100.0, ([100.0], False, Verdict.ALLOW)),
        ([50.0, 90.0], False, 100.0, ([50.0, 90.0], True, Verdict.NOTIFY)),
        ([50.0, 90.0], True, 100.0, ([50.0, 90.0], True, Verdict.SILENT)),
        ([30.0, 90.0], True, 100.0, ([90.0, 100.0], False, Verdict.ALLOW)),  # 30 slid out
        ([40.0, 90.0], False, 100.0, ([90.0, 100.0], False, Verdict.ALLOW)),  # exactly 60 s
    ],
)
def test_the_sliding_window_rule(
    times: list[float], notified: bool, now: float, expected: tuple[list[float], bool, Verdict]
) -> None:
    assert next_window(times, notified, now, limit=2, period=60.0) == expected


async def test_replicas_keep_telegrams_flood_limits_together(database_url: str) -> None:
    """Messages from three replicas at once share one schedule: at most `messages_per_second`
    in any second for the bot, `group_messages_per_minute` in any minute for one group."""
    config = AppConfig(
        database=DatabaseConfig(url=database_url, connect_timeout=2),
        telegram=TelegramConfig(messages_per_second=10, group_messages_per_minute=3),
    )
    replicas = [pg_shared_state(config) for _ in range(3)]
    pacers = [r.send_pacer for r in replicas]
    assert all(isinstance(p, PgSendPacer) for p in pacers)
    try:
        private = await asyncio.gather(
            *(pacers[n % 3].reserve(1000 + n) for n in range(30))  # type: ignore[union-attr]
        )
        group = await asyncio.gather(*(pacers[n % 3].reserve(-42) for n in range(9)))  # type: ignore[union-attr]
        assert 0.0 <= await pacers[0].slot(1) <= 3.0  # type: ignore[union-attr]
    finally:
        close_pools()
    # The moments reserved, on the database's clock: a group's also count for the bot.
    moments = sorted(at for _, at in private + group)
    assert_paced(moments, limit=10, period=1.0, slack=1e-6)
    assert_paced(sorted(at for _, at in group), limit=3, period=60.0, slack=1e-6)
    first = min(now for now, _ in private)
    assert max(at for _, at in private) - first >= 2.0 - 1e-6  # 30 at 10 a second
    assert max(at for _, at in group) - first >= 120.0 - 1e-6  # the 7th to 9th, 2 minutes on


def assert_paced(moments: list[float], limit: int, period: float, slack: float = 0.25) -> None:
    for first, later in zip(moments, moments[limit:], strict=False):
        assert later - first >= period - slack, moments


@pytest.mark.parametrize("seed", range(20))
def test_reserved_moments_never_crowd_a_window(seed: int) -> None:
    """Random arrivals, some behind a later earliest moment (a group's), against the rule."""
    rng = random.Random(seed)
    times: list[float] = []
    moments = []
    now = 0.0
    for _ in range(200):
        now += rng.expovariate(20.0)
        earliest = now + (rng.choice([0.0, 0.0, 0.0, rng.uniform(0, 3)]))
        times, at = reserve_slot(times, now, earliest, limit=5, period=1.0)
        assert at >= earliest
        moments.append(at)
    moments.sort()
    assert_paced(moments, limit=5, period=1.0, slack=1e-9)


async def test_an_upload_held_by_one_replica_is_replaced_by_another(
    replicas: tuple[SharedState, SharedState],
) -> None:
    """The "Replace it" press may reach another replica than the upload did."""
    a, b = replicas
    first = await a.uploads.hold(5, "notes.md", b"old plan")
    held = await a.uploads.hold(5, "notes.md", b"# Notes\n\nnew text")  # sent again: replaces
    assert await b.uploads.take(5, first.token) is None
    assert await b.uploads.take(6, held.token) is None  # another chat's press
    taken = await b.uploads.take(5, held.token)
    assert taken is not None and (taken.file_name, taken.data) == ("notes.md", held.data)
    assert await a.uploads.take(5, held.token) is None  # pressed twice: once only


def test_the_bot_tables_of_version_1_are_migrated(database_url: str) -> None:
    config = replica_config(database_url)
    pg_shared_state(config)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DROP TABLE bot_pending_uploads")
        connection.execute("UPDATE citebot_schema SET version = 1 WHERE component = 'bot'")
    close_pools()
    with pytest.raises(SchemaMismatchError, match="`citebot migrate`"):
        pg_shared_state(config)
    assert migrate_bot_schema(config) == "migrated the bot tables from schema version 1 to 2"
    assert migrate_bot_schema(config) == "the database's bot tables are current (schema version 2)"
    pg_shared_state(config)
    close_pools()
