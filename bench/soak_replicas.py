"""Soak with replicas: 3 `citebot serve` processes behind one webhook, 50 users, 2,000 questions.

The emulator delivers updates by webhook to a round-robin load balancer (tests/replica_harness.py)
and delivers every 10th update twice; a /reindex is sent midway, replica 1 is killed with
kill -9 at 40% of the questions and started again at 60%. The replicas share one PostgreSQL
database (a private server from scripts/postgres.py) and one index folder. Reported: lost and
twice-answered questions (both must be 0), emulator rejections (0), the webhook deliveries
that were refused or failed (Telegram delivers those again), and reply latency p50/p95.

Usage:  HF_HUB_OFFLINE=1 python -m bench.soak_replicas [--questions 2000] [--users 50] [--rate 8]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bot.stats import percentile
from index.service import CitebotService
from tests.bot_fixtures import ADMIN_ID, copy_corpus, new_emulator
from tests.replica_harness import SECRET, WEBHOOK_URL, Cluster, LoadBalancer, Replica, free_port
from tests.serve_harness import BotHome, replies_to, run_citebot

QUESTIONS = (
    "Why did Roscosmos cover the flags on the rocket at Baikonur?",
    "who will save the ISS from an uncontrolled deorbit?",
    "Why did Russia stop delivering rocket engines to the US?",
    "What did Rogozin demand from OneWeb?",
    "What were the Z markings on the Soyuz transporter?",
    "What is a good recipe for lemon cake?",
)
FIRST_USER = 9001
REPO = Path(__file__).resolve().parent.parent


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def postgres_server(folder: Path) -> Any:
    spec = importlib.util.spec_from_file_location("pg_script", REPO / "scripts" / "postgres.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Server(folder)


async def soak(questions: int, users: int, rate: float, root: Path) -> int:
    # A folder of its own under /tmp: the server may run as `nobody`, who must reach it.
    pg_folder = Path(tempfile.mkdtemp(prefix="citebot-soak-pg-"))
    server = postgres_server(pg_folder)
    database_url = server.start()
    home = BotHome(root / "home", admins=(ADMIN_ID,))
    copy_corpus(home.corpus)
    CitebotService.from_config(home.config()).rebuild()
    emu = new_emulator()
    for user in range(FIRST_USER, FIRST_USER + users):
        emu.add_user(user, f"User {user}")
        emu.add_private_chat(user)
    await emu.start()
    ports = [free_port() for _ in range(3)]
    lb = await LoadBalancer(ports).start()
    emu.route_webhook(lb.url)
    emu.duplicate_webhook_deliveries(every=10)
    env = home.env(
        emu,
        CITEBOT_TELEGRAM__MODE="webhook",
        CITEBOT_TELEGRAM__WEBHOOK_URL=WEBHOOK_URL,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        CITEBOT_DATABASE__URL=database_url,
        CITEBOT_TELEGRAM__UPDATE_LEASE_SECONDS="5",
        CITEBOT_TELEGRAM__USER_QUESTIONS_PER_MINUTE="1000",
    )
    code, _, err = await run_citebot(env, "webhook", "set")
    assert code == 0, err
    # With database.url set the index lives in the database too: copied there, not re-embedded.
    code, _, err = await run_citebot(env, "migrate", "--to-database")
    assert code == 0, err
    replicas = [Replica(n, port, root / f"replica-{n}.log") for n, port in enumerate(ports)]
    cluster = Cluster(emu, lb, home, env, replicas)
    try:
        await asyncio.gather(*(cluster.start(r) for r in cluster.replicas))
        log("3 replicas ready")
        sent = await offer(cluster, questions, users, rate)
        await emu.wait_until(
            lambda: (
                all(replies_to(emu, m["chat"]["id"], m["message_id"]) for m, _ in sent)
                and emu.world.updates.pending_count == 0
            ),
            timeout=600,
        )
        await asyncio.sleep(3)  # a second answer, if any, would come now
        return report(cluster, sent)
    finally:
        await cluster.stop_all()
        await lb.stop()
        await emu.stop()
        server.stop()
        shutil.rmtree(pg_folder, ignore_errors=True)


async def offer(
    cluster: Cluster, questions: int, users: int, rate: float
) -> list[tuple[dict[str, Any], float]]:
    """Send every question on schedule (open loop); kill, restart and reindex on the way."""
    rng = random.Random(11)
    emu, victim = cluster.emu, cluster.replicas[1]
    sent: list[tuple[dict[str, Any], float]] = []
    started = time.monotonic()
    background: list[asyncio.Task[None]] = []
    for number in range(questions):
        await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
        if number == questions * 2 // 5:
            await victim.kill()
            log(f"killed replica 1 at question {number}")
        if number == questions // 2:
            emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex full")
            log(f"/reindex at question {number}")
        if number == questions * 3 // 5:
            background.append(asyncio.create_task(cluster.start(victim)))
            log(f"restarting replica 1 at question {number}")
        user = FIRST_USER + rng.randrange(users)
        message = emu.user_sends(user, user, QUESTIONS[number % len(QUESTIONS)])
        sent.append((message, time.monotonic()))
    await asyncio.gather(*background)
    return sent


def report(cluster: Cluster, sent: list[tuple[dict[str, Any], float]]) -> int:
    emu = cluster.emu
    counts = [len(replies_to(emu, m["chat"]["id"], m["message_id"])) for m, _ in sent]
    latencies = []
    for message, at in sent:
        first = next(
            r for r in emu.sent
            if r.chat_id == message["chat"]["id"] and r.reply_to_message_id == message["message_id"]
        )  # fmt: skip
        latencies.append(first.time - at)
    tenth = max(1, len(latencies) // 10)
    by_tenth = [
        f"{percentile(sorted(latencies[n : n + tenth]), 0.95) * 1000:.0f}"
        for n in range(0, len(latencies), tenth)
    ]
    latencies.sort()
    statuses = Counter(d.status for d in emu.webhook_deliveries)
    served = Counter(f.replica for f in cluster.lb.forwarded if f.status == 200)
    lost, twice = counts.count(0), sum(1 for c in counts if c > 1)
    print(f"questions: {len(sent)}  lost: {lost}  answered twice: {twice}")
    print(f"emulator rejections: {len(emu.rejections)}")
    print(f"webhook deliveries by status: {dict(sorted(statuses.items()))}")
    print(f"duplicate copies sent: {sum(1 for d in emu.webhook_deliveries if d.copy)}")
    print(f"updates handled per replica: {dict(sorted(served.items()))}")
    print(
        f"reply latency: p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )
    print(f"p95 by tenth of the run (kill at 4, reindex at 5, restart at 6), ms: {by_tenth}")
    return 0 if lost == twice == len(emu.rejections) == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=8.0, help="questions per second")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="citebot-soak-replicas-"))
    try:
        return asyncio.run(soak(args.questions, args.users, args.rate, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
