"""Stopping `citebot serve` within seconds, whatever it is doing.

python-telegram-bot stops on SIGINT, SIGTERM and SIGABRT by itself, but it waits for every
handler still running, and a /reindex handler waits for its build, which may have minutes to go.
So a stop signal here first asks the build to stop (its worker process does between two batches
of embedding, keeping what it saved for the next build, and is killed if it takes longer than a
few seconds: index/build_process.py), then lets python-telegram-bot stop as usual. Should
anything else hold the stop up, a watchdog ends the process after STOP_DEADLINE_SECONDS: a
service manager waits 90 s and then kills it, with less said in the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from typing import NoReturn

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)
STOP_DEADLINE_SECONDS = 8.0
EXIT_STOP_OVERDUE = 1


def install_stop_signals(loop: asyncio.AbstractEventLoop, stopping: threading.Event) -> None:
    """Make the stop signals set `stopping` (the running build's cancel event), start the
    watchdog, and stop the bot as python-telegram-bot's own handler would."""
    for number in STOP_SIGNALS:
        loop.add_signal_handler(number, _on_stop_signal, number, stopping)


def _on_stop_signal(number: int, stopping: threading.Event) -> None:
    if stopping.is_set():
        logger.info("%s again: already stopping", signal.Signals(number).name)
        return
    stopping.set()
    logger.info("%s: stopping", signal.Signals(number).name)
    threading.Thread(target=_watchdog, name="stop-watchdog", daemon=True).start()
    # What python-telegram-bot's handler does: run_polling/run_webhook then stop the bot.
    raise SystemExit


def _watchdog() -> NoReturn:
    time.sleep(STOP_DEADLINE_SECONDS)
    logger.error("still stopping after %g s; exiting now", STOP_DEADLINE_SECONDS)
    logging.shutdown()
    os._exit(EXIT_STOP_OVERDUE)
