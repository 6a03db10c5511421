"""Several `citebot serve` replicas behind one webhook, as in production, against the emulator.

The emulator delivers updates by webhook to a small round-robin load balancer on loopback,
which forwards each POST to one replica (the next one that accepts a connection, as nginx's
`proxy_next_upstream error` does; a connection that breaks mid-request is a 502, which
Telegram delivers again). The replicas are real child processes (so one can be killed with
kill -9) sharing one index folder and one PostgreSQL database, reached through a TCP proxy the
test can cut. The webhook is set once with `citebot webhook set`, as an operator would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.serve_harness import REPO, BotHome
from tests.telegram_emulator import BotAPIEmulator

WEBHOOK_URL = "https://bot.example.org/telegram"
SECRET = "replica-Secret_42"
READY_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def message_of(update: dict[str, Any]) -> tuple[int, int] | None:
    """(chat id, message id) of the message an update brings, or None."""
    message = update.get("message") or update.get("edited_message")
    if message is None:
        return None
    return int(message["chat"]["id"]), int(message["message_id"])


def sender_of(update: dict[str, Any]) -> int | None:
    """Who sent an update (the user behind a message or a button press)."""
    for kind in ("message", "edited_message", "callback_query", "inline_query"):
        if kind in update:
            sender = update[kind].get("from") or {}
            return int(sender["id"]) if "id" in sender else None
    return None


@dataclass(frozen=True)
class Forwarded:
    """One POST the load balancer passed on: the update, the replica, the replica's status."""

    update_id: int
    replica: int
    status: int
    message: tuple[int, int] | None  # (chat id, message id) of a message update


class LoadBalancer:
    """Round robin over the replicas' ports; a pin sends a user's (or one message's) updates to
    one replica."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.forwarded: list[Forwarded] = []
        self.pins: dict[int, int] = {}
        self.message_pins: dict[tuple[int, int], int] = {}
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram"

    async def start(self) -> LoadBalancer:
        app = web.Application()
        app.router.add_post("/telegram", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def pin(self, user_id: int, replica: int) -> None:
        self.pins[user_id] = replica

    def unpin(self, user_id: int) -> None:
        self.pins.pop(user_id, None)

    def pin_message(self, message: dict[str, Any], replica: int) -> None:
        """Send the update bringing this message to this replica (before others of its user)."""
        self.message_pins[(int(message["chat"]["id"]), int(message["message_id"]))] = replica

    def handled_by(self, message: dict[str, Any]) -> list[int]:
        """The replicas that answered the update bringing this message with 200."""
        key = (int(message["chat"]["id"]), int(message["message_id"]))
        return [f.replica for f in self.forwarded if f.message == key and f.status == 200]

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        update = json.loads(body)
        pinned = self.message_pins.get(message_of(update) or (0, 0))
        if pinned is None:
            pinned = self.pins.get(sender_of(update) or 0)
        if pinned is not None:
            order = [pinned]
        else:
            first, self._next = self._next, (self._next + 1) % len(self.ports)
            order = [(first + n) % len(self.ports) for n in range(len(self.ports))]
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        assert self._session is not None
        for replica in order:
            url = f"http://127.0.0.1:{self.ports[replica]}/telegram"
            try:
                async with self._session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientConnectorError:
                continue  # refused: nothing was sent, the next replica may take it
            except (aiohttp.ClientError, TimeoutError):
                status = 502  # broke mid-request: the replica may have done anything
            forwarded = Forwarded(int(update["update_id"]), replica, status, message_of(update))
            self.forwarded.append(forwarded)
            return web.Response(status=status)
        return web.Response(status=502)


@dataclass
class Replica:
    """One `citebot serve` child process."""

    number: int
    port: int
    stderr_path: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    async def health(self) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status, await response.json()

    async def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return await response.text()

    async def kill(self) -> None:
        """kill -9: no clean-up code runs."""
        if self.process is not None and self.running:
            self.process.kill()
            await self.process.wait()


@dataclass
class Cluster:
    """The emulator, the load balancer, the replicas and how to start them."""

    emu: BotAPIEmulator
    lb: LoadBalancer
    home: BotHome
    env: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)

    async def start(self, replica: Replica) -> None:
        """Start a replica and wait until its /healthz says it is ready."""
        env = {**self.env, "CITEBOT_TELEGRAM__WEBHOOK_PORT": str(replica.port)}
        with open(replica.stderr_path, "a", encoding="utf-8") as stderr:
            replica.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "-v", "serve",
                cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if not replica.running:
                raise RuntimeError(f"replica {replica.number} exited:\n{replica.stderr()}")
            try:
                status, _ = await replica.health()
                if status == 200:
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        await replica.kill()
        raise TimeoutError(f"replica {replica.number} never became healthy:\n{replica.stderr()}")

    async def stop_all(self) -> None:
        for replica in self.replicas:
            if replica.process is not None and replica.running:
                replica.process.terminate()
        for replica in self.replicas:
            if replica.process is not None:
                try:
                    await asyncio.wait_for(replica.process.wait(), 20)
                except TimeoutError:
                    await replica.kill()
