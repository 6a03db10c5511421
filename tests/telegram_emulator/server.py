"""The HTTP face of the emulator: Bot API routes on 127.0.0.1, injected faults and latency.

Routes mirror api.telegram.org: POST|GET /bot<token>/<method> and GET /file/bot<token>/<path>.
Method names are case-insensitive there, so they are here. Every refusal is answered with the
Bot API error body and recorded, so a test can assert that the bot caused none.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import api_bot, api_chats, api_messages, api_queries
from .errors import ApiError
from .params import Params, read_params
from .state import World

logger = logging.getLogger(__name__)

Handler = Callable[[World, Params], Any]
HANDLERS: dict[str, Handler] = {
    **api_bot.HANDLERS,
    **api_chats.HANDLERS,
    **api_messages.HANDLERS,
    **api_queries.HANDLERS,
}
MAX_REQUEST_BYTES = 60 * 1024 * 1024  # above the 50 MB Telegram accepts for uploads


@dataclass
class Fault:
    """The next `remaining` calls of `method` ("*" = any) fail with this error, or, with `drop`,
    lose their connection before any answer (the call is not carried out either way)."""

    method: str
    remaining: int
    error: ApiError
    drop: bool = False


class ApiServer:
    """An aiohttp server answering Bot API calls against a World."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.latency = 0.0
        self.in_flight: Counter[str] = Counter()  # calls received and not answered yet, by method
        self.faults: list[Fault] = []
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> int:
        """Listen on a loopback port (a free one unless given) and return it.

        Starting again on the port of a stopped server is how a test ends a network outage.
        """
        self.world.updates.reopen()
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # The port of a stopped server may still have connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        logger.info("Bot API emulator listening on 127.0.0.1:%d", self.port)
        return self.port

    async def stop(self) -> None:
        """Release long polls, then close the server."""
        self.world.updates.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def fail_next(self, method: str, count: int, error: ApiError, drop: bool = False) -> None:
        self.faults.append(Fault(method.lower(), count, error, drop))

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in ("*", method) and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        records = self.world.records
        if request.match_info["token"] != self.world.token:
            records.add_rejection(method, {}, "Unauthorized")
            return _error(ApiError(401, "Unauthorized"))
        try:
            params = await read_params(request)
        except ApiError as error:
            records.add_rejection(method, {}, error.description)
            return _error(error)
        self.in_flight[method.lower()] += 1
        try:
            return await self._answer(request, method, params)
        finally:
            self.in_flight[method.lower()] -= 1

    async def _answer(self, request: web.Request, method: str, params: Params) -> web.Response:
        records = self.world.records
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(method.lower())
        if fault is not None:
            records.injected_failures.append((method, 0 if fault.drop else fault.error.status))
            records.notify()
            if fault.drop and request.transport is not None:
                # The client sees the connection close with no response at all.
                request.transport.close()
            return _error(fault.error)
        handler = HANDLERS.get(method.lower())
        if handler is None:
            records.add_rejection(method, params.printable(), "Not Found")
            return _error(ApiError(404, "Not Found"))
        try:
            result = handler(self.world, params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as error:
            if error.status != 409:  # a terminated long poll is not the bot's mistake
                records.add_rejection(method, params.printable(), error.description)
            logger.debug("%s -> %d %s", method, error.status, error.description)
            return _error(error)
        except Exception:
            logger.exception("emulator failed while handling %s", method)
            return _error(ApiError(500, "Internal Server Error: the emulator itself failed"))
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.world.token:
            return _error(ApiError(401, "Unauthorized"))
        stored = self.world.file_by_path(request.match_info["file_path"])
        if stored is None:
            return _error(ApiError(404, "Not Found"))
        content_type = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.content, headers={"Content-Type": content_type})


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)
