"""Fetching updates through an outage: getUpdates tries again within a second, not after 30.

python-telegram-bot waits longer after each failed getUpdates (1, 1.5, 2.25 … up to 30 s), so
after a minute without Telegram the bot could sleep for half a minute more before it fetched the
questions that had queued up. `PollingRequest` retries a failed getUpdates itself, soon and
often, and so picks them up about a second after Telegram is back. That is safe because
getUpdates is idempotent for a given offset: updates are only confirmed by the next offset.
Sending replies does not use it (bot/replies.py decides what may be sent twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

logger = logging.getLogger(__name__)

# Pauses between attempts double from the first to the cap. The cap bounds how long after
# Telegram's return the bot may still be asleep; a getUpdates a second is no load for Telegram.
RETRY_FIRST_PAUSE = 0.25
RETRY_MAX_PAUSE = 1.0
_UNSET = BaseRequest.DEFAULT_NONE


class PollingRequest(HTTPXRequest):
    """The getUpdates connection: a refused or dropped connection or a 5xx answer is retried
    for as long as the long poll would have waited anyway (its `timeout`).

    If Telegram is still failing after that, the call ends with TimedOut rather than the error
    itself: python-telegram-bot polls again at once after a timeout, but backs off further after
    any other error. So the pauses never grow beyond RETRY_MAX_PAUSE, however long the outage.
    The outage is logged once when it starts and once when it ends.
    """

    def __init__(self, **kwargs: object) -> None:
        # One connection, as python-telegram-bot uses for getUpdates: one poll at a time.
        super().__init__(connection_pool_size=1, **kwargs)  # type: ignore[arg-type]
        self._failing_since: float | None = None
        self._failed_attempts = 0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = _UNSET,
        write_timeout: ODVInput[float] = _UNSET,
        connect_timeout: ODVInput[float] = _UNSET,
        pool_timeout: ODVInput[float] = _UNSET,
    ) -> tuple[int, bytes]:
        deadline = time.monotonic() + _long_poll_seconds(request_data)
        pause = RETRY_FIRST_PAUSE
        while True:
            error: NetworkError | None = None
            try:
                status, payload = await super().do_request(
                    url, method, request_data,
                    read_timeout, write_timeout, connect_timeout, pool_timeout,
                )  # fmt: skip
            except TimedOut:
                raise  # python-telegram-bot polls again at once after a timeout anyway
            except NetworkError as failed:
                error = failed
            else:
                if status < 500:
                    self._note_success()
                    return status, payload
            failure = str(error) if error else f"HTTP {status}"
            self._note_failure(failure)
            if time.monotonic() + pause <= deadline:
                await asyncio.sleep(pause)
                pause = min(2 * pause, RETRY_MAX_PAUSE)
            elif _long_poll_seconds(request_data) > 0:
                raise TimedOut(
                    f"Telegram still failing at the end of a long poll ({failure})"
                ) from error
            elif error:  # not a long poll (the last call on shutdown): fail as before
                raise error
            else:
                return status, payload

    def _note_failure(self, failure: str) -> None:
        self._failed_attempts += 1
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            logger.warning(
                "cannot fetch updates from Telegram (%s); trying again every %g s or sooner",
                failure,
                RETRY_MAX_PAUSE,
            )

    def _note_success(self) -> None:
        if self._failing_since is None:
            return
        logger.warning(
            "fetching updates from Telegram again after %.1f s (%d failed attempts)",
            time.monotonic() - self._failing_since,
            self._failed_attempts,
        )
        self._failing_since, self._failed_attempts = None, 0


def _long_poll_seconds(request_data: RequestData | None) -> float:
    """The `timeout` the call asked Telegram to wait for updates (0 if none)."""
    if request_data is None:
        return 0.0
    timeout = request_data.parameters.get("timeout", 0)
    return float(timeout) if isinstance(timeout, int | float) else 0.0
