"""Three replicas behind one webhook behave as one bot (issue 11, item 4).

Real `citebot serve` processes in webhook mode with one PostgreSQL database, a round-robin load
balancer, and the emulator delivering updates by webhook, some of them twice. The stories run in
order on one cluster (starting three replicas is the slow part); each uses users of its own so
that the shared rate limit of one story does not reach into another.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bot.shared_pg import REINDEX_LOCK_KEY
from index.embedder import Embedder
from tests.bot_fixtures import ADMIN_ID, new_emulator
from tests.replica_harness import (
    SECRET,
    WEBHOOK_URL,
    Cluster,
    LoadBalancer,
    Replica,
    free_port,
)
from tests.serve_harness import BotHome, build, replies_to, run_citebot, write_news
from tests.tcp_proxy import TcpProxy
from tests.test_bot_buttons import buttons

pytestmark = pytest.mark.slow

QUESTIONS = (
    "How many people booked lighthouse tours?",
    "Who won the national chess final?",
    "What did the late frost destroy in the orchards?",
)
USER_LIMIT = 4
PACE = 6  # telegram.messages_per_second: low, so that three replicas could easily pass it
MAX_CONNECTIONS = 17  # set by `citebot webhook set`; a replica that set the webhook would reset it
RATE_LIMITED = "You're asking faster than I can keep up."
ALREADY_RUNNING = "A reindex is already running"
UNAVAILABLE = "Sorry, I can't answer just now: my database is temporarily unavailable."


@pytest.fixture(scope="module")
async def cluster(
    tmp_path_factory: pytest.TempPathFactory, core_embedder: Embedder, postgres_server: str
) -> AsyncIterator[tuple[Cluster, TcpProxy, str]]:
    """Three replicas over a small library; yields the cluster, the database's TCP proxy and
    the database URL (direct, not through the proxy)."""
    root = tmp_path_factory.mktemp("replicas")
    home = BotHome(root, admins=(ADMIN_ID,))
    write_news(home.corpus)
    build(home, core_embedder)
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    direct = urlsplit(postgres_server.rsplit("/", 1)[0] + f"/{name}")
    assert direct.hostname is not None and direct.port is not None
    proxy = await TcpProxy(direct.hostname, direct.port).start()
    through = direct._replace(netloc=direct.netloc.replace(f":{direct.port}", f":{proxy.port}"))
    emu = new_emulator()
    for user_id in range(3000, 3500):
        emu.add_user(user_id, f"User {user_id}")
        emu.add_private_chat(user_id)
    await emu.start()
    ports = [free_port() for _ in range(3)]
    lb = await LoadBalancer(ports).start()
    emu.route_webhook(lb.url)
    env = home.env(
        emu,
        CITEBOT_TELEGRAM__MODE="webhook",
        CITEBOT_TELEGRAM__WEBHOOK_URL=WEBHOOK_URL,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        CITEBOT_DATABASE__URL=urlunsplit(through),
        CITEBOT_DATABASE__CONNECT_TIMEOUT="1",
        CITEBOT_TELEGRAM__UPDATE_LEASE_SECONDS="2",
        CITEBOT_TELEGRAM__USER_QUESTIONS_PER_MINUTE=str(USER_LIMIT),
        CITEBOT_TELEGRAM__MESSAGES_PER_SECOND=str(PACE),
    )
    code, out, err = await run_citebot(
        env, "webhook", "set", "--max-connections", str(MAX_CONNECTIONS)
    )
    assert code == 0, err
    assert out.startswith(f"webhook set: {WEBHOOK_URL}")
    assert SECRET not in out + err and emu.token.split(":")[1] not in out + err
    # The index lives in the database too: the local build is copied there, not embedded again.
    code, out, err = await run_citebot(env, "migrate", "--to-database")
    assert code == 0, err
    replicas = [Replica(n, port, root / f"replica-{n}.log") for n, port in enumerate(ports)]
    cluster = Cluster(emu, lb, home, env, replicas)
    try:
        await asyncio.gather(*(cluster.start(replica) for replica in replicas))
        yield cluster, proxy, urlunsplit(direct)
    finally:
        await cluster.stop_all()
        await lb.stop()
        await emu.stop()
        await proxy.stop()
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def all_answered(
    cluster: Cluster, sent: list[dict[str, Any]], replies: int = 1, timeout: float = 90
) -> None:
    """Wait until every message has `replies` replies and no delivery is left, then a little
    more, in case a duplicate answer was on its way."""
    emu = cluster.emu

    def done() -> bool:
        answered = all(
            len(replies_to(emu, m["chat"]["id"], m["message_id"])) >= replies for m in sent
        )
        copies = {d.update_id for d in emu.webhook_deliveries if d.copy}
        copied = {d.update_id for d in emu.webhook_deliveries if d.copy and d.status == 200}
        return answered and emu.world.updates.pending_count == 0 and copies == copied

    await emu.wait_until(done, timeout=timeout)
    await asyncio.sleep(1.5)


def reply_counts(cluster: Cluster, sent: list[dict[str, Any]]) -> list[int]:
    return [len(replies_to(cluster.emu, m["chat"]["id"], m["message_id"])) for m in sent]


async def test_every_update_is_answered_once_though_some_come_twice(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    bot, _, _ = cluster
    emu = bot.emu
    emu.duplicate_webhook_deliveries(every=2)
    try:
        users = range(3001, 3013)
        sent = [
            emu.user_sends(user, user, QUESTIONS[(user + turn) % len(QUESTIONS)])
            for turn in range(2)
            for user in users
        ]
        await all_answered(bot, sent)
    finally:
        emu.duplicate_webhook_deliveries(0)
    assert reply_counts(bot, sent) == [1] * len(sent)
    assert all("[1]" in replies_to(emu, m["chat"]["id"], m["message_id"])[0] for m in sent)
    copies = [d for d in emu.webhook_deliveries if d.copy]
    assert len(copies) >= len(sent) // 2 - 1
    served = {f.replica for f in bot.lb.forwarded if f.status == 200}
    assert served == {0, 1, 2}
    assert [tuple(r) for r in emu.rejections] == []


async def test_the_rate_limit_counts_questions_every_replica_received(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    bot, _, _ = cluster
    user = 3101
    sent = [bot.emu.user_sends(user, user, QUESTIONS[n % 3]) for n in range(USER_LIMIT + 2)]
    await bot.emu.wait_until(lambda: sum(reply_counts(bot, sent)) >= USER_LIMIT + 1, timeout=60)
    await asyncio.sleep(1.5)
    texts = [t for m in sent for t in replies_to(bot.emu, user, m["message_id"])]
    assert len(texts) == USER_LIMIT + 1  # the last question is met with silence
    assert sum(t.startswith(RATE_LIMITED) for t in texts) == 1
    replicas = {r for m in sent for r in bot.lb.handled_by(m)}
    assert len(replicas) >= 2


async def test_the_replicas_together_keep_the_bots_flood_limit(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    """Telegram counts a bot's messages per token: three replicas answering a burst together
    send at most PACE a second (each alone would allow PACE)."""
    bot, _, _ = cluster
    users = range(3200, 3230)
    sent = [bot.emu.user_sends(user, user, QUESTIONS[user % 3]) for user in users]
    await all_answered(bot, sent)
    moments = sorted(m.time for m in bot.emu.sent if m.chat_id in users)
    assert len(moments) == len(sent)
    # Reserved a sixth of a second apart at least; the network may bring two a little closer.
    assert all(later - first >= 0.8 for first, later in zip(moments, moments[PACE:], strict=False))
    assert moments[-1] - moments[0] >= len(sent) / PACE - 1.5
    assert len({r for m in sent for r in bot.lb.handled_by(m)}) == 3


async def test_a_button_works_whichever_replica_the_press_reaches(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    bot, _, _ = cluster
    emu, user = bot.emu, 3201
    bot.lb.pin(user, 0)
    question = emu.user_sends(user, user, QUESTIONS[0])
    answer = await emu.wait_for_reply(user, after=question, timeout=30)
    await emu.wait_until(lambda: bool(bot.lb.handled_by(question)))  # acknowledged after
    assert bot.lb.handled_by(question) == [0]
    assert answer.reply_markup is not None
    labels = buttons(answer)
    bot.lb.pin(user, 1)
    emu.press_button(user, answer.message_id, user, labels["Article"])
    page = await emu.wait_for_reply(user, after=answer.message_id, timeout=30)
    assert "Harbour lighthouse reopens after restoration" in page.text
    bot.lb.pin(user, 2)
    vote = emu.press_button(user, answer.message_id, user, labels["👍"])
    await emu.wait_until(lambda: vote in emu.callback_answers, timeout=30)
    assert emu.callback_answers[vote].get("text") == "Thanks for the feedback!"

    def pressed() -> set[int]:
        return {f.replica for f in bot.lb.forwarded if f.status == 200 and f.message is None}

    await emu.wait_until(lambda: {1, 2} <= pressed())  # the presses were replicas 1 and 2's


async def test_an_upload_held_on_one_replica_is_answered_on_another(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    """A file named like an article waits for "Replace it" / "Keep the old one" in the
    database: the press reaches another replica than the upload did."""
    bot, _, _ = cluster
    emu = bot.emu
    original = (bot.home.corpus / "chess-final.md").read_text(encoding="utf-8")
    upload = emu.user_sends_document(
        ADMIN_ID, ADMIN_ID, "chess-final.md", b"---\ntitle: Chess\n---\nA new chess text.\n"
    )
    bot.lb.pin_message(upload, 0)
    question = await emu.wait_for_reply(ADMIN_ID, after=upload, timeout=30)
    assert "chess-final.md is already in the corpus" in question.text
    assert question.reply_markup is not None
    labels = buttons(question)
    bot.lb.pin(ADMIN_ID, 2)
    try:
        emu.press_button(ADMIN_ID, question.message_id, ADMIN_ID, labels["Keep the old one"])
        await emu.wait_until(
            lambda: any(
                e.message_id == question.message_id
                and e.text is not None
                and e.text.startswith("Kept the old chess-final.md")
                for e in emu.edits
            ),
            timeout=30,
        )
    finally:
        bot.lb.unpin(ADMIN_ID)
    assert bot.lb.handled_by(upload) == [0]
    assert (bot.home.corpus / "chess-final.md").read_text(encoding="utf-8") == original


async def test_one_reindex_at_a_time_across_replicas(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    bot, _, database_url = cluster
    emu = bot.emu
    # Another replica's reindex holds the lock: any replica refuses a second one.
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (REINDEX_LOCK_KEY,))
        refused = emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex")
        reply = await emu.wait_for_reply(ADMIN_ID, after=refused, timeout=30)
        assert reply.text.startswith(ALREADY_RUNNING)
    # Two at once, on two replicas: one runs and reports to its admin, the other is refused.
    first = emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex full")
    second = emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex full")
    bot.lb.pin_message(first, 0)
    bot.lb.pin_message(second, 2)
    await all_answered(bot, [first, second], timeout=60)
    texts = [replies_to(emu, ADMIN_ID, m["message_id"]) for m in (first, second)]
    assert sorted(len(t) for t in texts) == [1, 1]
    assert sum(t[0].startswith("⏳ Reindexing") for t in texts) == 1
    assert sum(t[0].startswith(ALREADY_RUNNING) for t in texts) == 1
    asked = {first["message_id"], second["message_id"]}
    progress = next(
        m for m in emu.sent if m.reply_to_message_id in asked and m.text.startswith("⏳")
    )

    def reported() -> bool:
        shown = emu.message(ADMIN_ID, progress.message_id)
        return shown is not None and str(shown.get("text", "")).startswith("✅")

    await emu.wait_until(reported, timeout=120)
    await emu.wait_until(lambda: bool(bot.lb.handled_by(first) and bot.lb.handled_by(second)))
    assert (bot.lb.handled_by(first), bot.lb.handled_by(second)) == ([0], [2])
    await asyncio.sleep(1)  # the lock is let go just after the report
    again = emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex")
    reply = await emu.wait_for_reply(ADMIN_ID, after=again, timeout=30)
    assert reply.text.startswith("⏳ Reindexing")  # the lock was let go
    await emu.wait_until(
        lambda: str((emu.message(ADMIN_ID, reply.message_id) or {}).get("text", "")).startswith(
            "✅"
        ),
        timeout=120,
    )


async def test_a_replica_killed_and_restarted_loses_nothing(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    bot, _, _ = cluster
    emu, victim = bot.emu, bot.replicas[1]
    users = range(3301, 3313)
    sent = [
        emu.user_sends(user, user, QUESTIONS[(user + turn) % len(QUESTIONS)])
        for turn in range(2)
        for user in users
    ]
    await asyncio.sleep(0.5)  # mid-batch, at a moment that owes nothing to any reply
    await victim.kill()
    await all_answered(bot, sent)
    counts = reply_counts(bot, sent)
    assert min(counts) == 1  # none lost
    # A replica killed between sending an answer and marking its update done (one database
    # write, a millisecond or two) answers that update twice when Telegram delivers it again;
    # marking it done first would lose the answer instead. At most that one.
    assert sum(counts) - len(sent) <= 1, counts
    await bot.start(victim)
    later = [emu.user_sends(user, user, QUESTIONS[0]) for user in range(3401, 3407)]
    await all_answered(bot, later)
    assert reply_counts(bot, later) == [1] * len(later)
    assert any(bot.lb.handled_by(m) == [1] for m in later)  # the restarted one serves again
    # Starting, stopping or killing replicas never touched the webhook `citebot webhook set`
    # made for all of them.
    assert emu.world.webhook["url"] == WEBHOOK_URL
    assert emu.world.webhook["max_connections"] == MAX_CONNECTIONS
    assert [tuple(r) for r in emu.rejections] == []


async def test_a_lost_database_delays_questions_and_loses_none(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    bot, proxy, _ = cluster
    emu, user = bot.emu, 3450
    # Each replica tells an asker once; with one replica the notice comes once.
    bot.lb.pin(user, 0)
    proxy.cut()
    try:
        status, health = await bot.replicas[0].health()
        assert status == 503 and health["database"] == "unreachable"
        question = emu.user_sends(user, user, QUESTIONS[1])
        notice = await emu.wait_for_reply(user, after=question, timeout=30)
        assert notice.text.startswith(UNAVAILABLE)
        await asyncio.sleep(2)
    finally:
        proxy.restore()
    await all_answered(bot, [question], replies=2, timeout=60)
    texts = replies_to(emu, user, question["message_id"])
    assert len(texts) == 2 and "[1]" in texts[1], texts
    for replica in bot.replicas:  # each finds the database again by itself
        for _ in range(20):
            status, health = await replica.health()
            if status == 200:
                break
            await asyncio.sleep(0.5)
        assert status == 200 and health["database"] == "reachable", health


async def test_each_replica_reports_its_health_and_metrics(
    cluster: tuple[Cluster, TcpProxy, str],
) -> None:
    bot, _, _ = cluster
    pages = []
    for replica in bot.replicas:
        status, health = await replica.health()
        assert status == 200
        assert health["index"] == "loaded" and health["status"] == "ok"
        pages.append(await replica.metrics())
    assert all("citebot_answer_seconds_bucket" in page for page in pages)
    duplicates = sum(_counter(page, 'citebot_updates_total{outcome="duplicate"}') for page in pages)
    answered = sum(_counter(page, 'citebot_questions_total{found="true"}') for page in pages)
    assert duplicates >= 1 and answered >= 20
    code, out, err = await run_citebot(bot.env, "webhook", "info")
    assert code == 0, err
    assert f"url: {WEBHOOK_URL}" in out and "pending updates: 0" in out
    assert SECRET not in out + err


def _counter(page: str, name: str) -> float:
    for line in page.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
