"""One replica behind the webhook: Telegram's updates, /healthz and /metrics on one port.

python-telegram-bot's own webhook (run_webhook) sets the webhook when it starts, and it
acknowledges an update as soon as it is queued. Neither suits replicas: starting one would undo
the webhook `citebot webhook set` made for all, and a replica that dies after acknowledging
loses the update. So a replica serves PTB's documented custom-webhook way: a small tornado app
(tornado comes with python-telegram-bot[webhooks]) hands each update to the Application and
answers Telegram only when it has been handled: 200, or 503 when it is to be delivered again
(another replica is handling it, or the database is away; bot/update_gate.py).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from http import HTTPStatus
from typing import Any

import tornado.web
from telegram import Update
from telegram.ext import Application
from tornado.httpserver import HTTPServer

from bot.context import STATE_KEY, BotState
from index.errors import CitebotError

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# On a stop, updates being handled get this long to finish before their connections close
# (within bot/shutdown.py's deadline); what does not finish is delivered again elsewhere.
DRAIN_SECONDS = 4.0
HEALTH_PROBE_SECONDS = 2.0
# One in the Latin alphabet, one not: between them they load every model answering uses.
WARM_UP_QUESTIONS = ("What happened?", "Что случилось?")

App = Application  # type: ignore[type-arg]


class InFlight:
    """How many updates this replica is handling, so a stop can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.count += 1
        self.idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


class _Quiet(tornado.web.RequestHandler):
    def log_exception(self, *args: Any) -> None:
        """tornado would log a whole traceback for a refused request; the status says enough."""


class UpdateHandler(_Quiet):
    """POST <webhook_path>: one update from Telegram (through the load balancer)."""

    def initialize(self, bot_app: App, secret: str, in_flight: InFlight) -> None:
        self.bot_app = bot_app
        self.secret = secret
        self.in_flight = in_flight

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        try:
            update = Update.de_json(json.loads(self.request.body), self.bot_app.bot)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            logger.warning("webhook: a request that is no update (%s)", type(error).__name__)
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST) from error
        application = self.bot_app
        state: BotState = application.bot_data[STATE_KEY]
        self.in_flight.enter()
        try:
            # Through the update processor, so `telegram.concurrent_updates` still bounds it.
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        finally:
            self.in_flight.leave()
        if state.gate.take_deferred(update.update_id):
            self.set_status(HTTPStatus.SERVICE_UNAVAILABLE)  # Telegram delivers it again
        self.finish()


class HealthHandler(_Quiet):
    """GET /healthz: 200 when the index is loaded and the database (if any) answers."""

    def initialize(self, bot_app: App) -> None:
        self.state: BotState = bot_app.bot_data[STATE_KEY]

    async def get(self) -> None:
        state = self.state
        body: dict[str, Any] = {"index": "loaded", "database": "not configured"}
        healthy = True
        try:
            info = await asyncio.to_thread(state.service.info)
            body["build_id"] = info.build_id
        except CitebotError as error:
            body["index"], healthy = f"not loaded: {error}", False
        if state.shared.database is not None:
            try:
                reachable = await asyncio.wait_for(
                    state.shared.database.reachable(), HEALTH_PROBE_SECONDS
                )
            except TimeoutError:
                reachable = False
            body["database"] = "reachable" if reachable else "unreachable"
            healthy = healthy and reachable
        body["status"] = "ok" if healthy else "unhealthy"
        self.set_status(HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class MetricsHandler(_Quiet):
    """GET /metrics: this replica's counters in Prometheus' text format."""

    def initialize(self, bot_app: App) -> None:
        self.state: BotState = bot_app.bot_data[STATE_KEY]

    def get(self) -> None:
        page, content_type = self.state.metrics.render()
        self.set_header("Content-Type", content_type)
        self.finish(page)


def replica_app(application: App, secret: str, in_flight: InFlight) -> tornado.web.Application:
    state: BotState = application.bot_data[STATE_KEY]
    path = "/" + state.config.telegram.webhook_path.strip("/")
    updates = {"bot_app": application, "secret": secret, "in_flight": in_flight}
    return tornado.web.Application(
        [
            (rf"{path}/?", UpdateHandler, updates),
            (r"/healthz", HealthHandler, {"bot_app": application}),
            (r"/metrics", MetricsHandler, {"bot_app": application}),
        ],
        # No access log: one line per update is noise; the bot logs what it did with each.
        log_function=lambda handler: None,
    )


def run_replica(application: App, loop: asyncio.AbstractEventLoop, secret: str) -> None:
    """Serve until a stop signal (bot/shutdown.py raises SystemExit on the loop), then stop
    taking updates, let the ones being handled finish, and shut the Application down."""
    state: BotState = application.bot_data[STATE_KEY]
    telegram = state.config.telegram
    in_flight = InFlight()
    server = HTTPServer(replica_app(application, secret, in_flight))
    try:
        loop.run_until_complete(_start(application))
        server.listen(telegram.webhook_port, address=telegram.webhook_listen)
        replica = getattr(state.shared.claims, "replica", "local")
        logger.info(
            "replica %s: updates on %s:%d/%s, /healthz, /metrics",
            replica, telegram.webhook_listen, telegram.webhook_port, telegram.webhook_path,
        )  # fmt: skip
        loop.run_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        loop.run_until_complete(_stop(application, server, in_flight))


async def _start(application: App) -> None:
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    await _warm_up(application.bot_data[STATE_KEY])


async def _warm_up(state: BotState) -> None:
    """Answer a question or two before taking updates: the first answer loads the models
    (~15 s on a busy 2-core machine), and the load balancer should not queue askers behind it
    (in the replica soak the first questions a fresh replica took waited 18 s: p95 18 s)."""
    started = asyncio.get_running_loop().time()
    for question in WARM_UP_QUESTIONS:
        try:
            await state.off_loop(state.service.answer, question)
        except CitebotError as error:
            logger.warning("warm-up question not answered: %s", error)
    logger.info("models loaded in %.1f s", asyncio.get_running_loop().time() - started)


async def _stop(application: App, server: HTTPServer, in_flight: InFlight) -> None:
    server.stop()
    if in_flight.count:
        logger.info("stopping: waiting for %d updates being handled", in_flight.count)
        try:
            await asyncio.wait_for(in_flight.idle.wait(), DRAIN_SECONDS)
        except TimeoutError:
            logger.warning("stopping: %d updates left to Telegram's next delivery", in_flight.count)
    await server.close_all_connections()
    if application.running:
        await application.stop()
    await application.shutdown()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)
