"""What the bot's replicas share, behind one small interface, and the one place that picks it.

Without `database.url` everything lives in this process and in feedback.sqlite3, as it always
has (bot/shared_local.py). With it, every replica behind the webhook reads and writes the same
PostgreSQL tables (bot/shared_pg.py), so they behave as one bot:

- claims on updates: an update Telegram delivers twice, to this replica or another, is handled
  once; one claimed by a replica that died is handled again once its lease runs out;
- rate limits per user, per group and for group greetings;
- the answers buttons refer to, and the votes on them, and uploads waiting for "Replace it";
- the reindex lock: one reindex at a time across all replicas;
- Telegram's flood limits (per bot token): each message a replica sends takes a slot from one
  schedule all replicas share.

The database calls raise DatabaseUnavailableError when it cannot be reached (bot/update_gate.py
turns that into a short notice and a later delivery).
"""

from __future__ import annotations

import enum
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from bot.config import AppConfig
from bot.feedback import AnswerRecord
from bot.ratelimit import Verdict
from bot.uploads import PendingUpload

# A group that adds the bot again and again is greeted at most this often.
GREET_AGAIN_AFTER_SECONDS = 3600.0
MINUTE = 60.0


class Claim(enum.Enum):
    """What a replica may do with an update it was given."""

    NEW = "new"  # nobody has it: this replica handles it
    DUPLICATE = "duplicate"  # already handled (here or elsewhere): acknowledge and drop it
    BUSY = "busy"  # another replica is handling it now: have Telegram deliver it again later


class UpdateClaims(Protocol):
    async def claim(self, update_id: int) -> Claim:
        """Claim an update before handling it."""
        ...

    async def finish(self, update_id: int) -> None:
        """Mark a claimed update handled (a later delivery of it is a duplicate)."""
        ...

    def abandon(self, update_id: int) -> None:
        """Stop holding a claimed update that could not be handled (the database failed): its
        claim runs out, so Telegram's next delivery is handled afresh."""
        ...

    async def renew(self) -> None:
        """Keep this replica's claims alive while it handles them (called periodically)."""
        ...


class RateLimit(Protocol):
    async def take(self, subject: int) -> Verdict:
        """Count one more question from `subject` (a user or a group) and say what to do."""
        ...


class Feedback(Protocol):
    """The answers buttons refer to, and the votes on them (bot/feedback.py's interface).

    Called from worker threads; never from the event loop."""

    def record_answer(
        self, chat_id: int, question: str, build_id: str, doc_id: str
    ) -> int | None: ...

    def find_answer(self, answer_id: int) -> AnswerRecord | None: ...

    def vote(self, answer_id: int, user_id: int, vote: int) -> bool: ...

    def vote_counts(self) -> tuple[int, int]: ...

    def close(self) -> None: ...


class ReindexGuard(Protocol):
    def hold(self) -> AbstractAsyncContextManager[bool]:
        """`async with guard.hold() as held:` held is False when a reindex runs elsewhere."""
        ...


class HeldUploads(Protocol):
    """Uploads that would replace an article, waiting for the admin's "Replace it": one per
    chat. With replicas the press may reach another replica than the upload did."""

    async def hold(self, chat_id: int, file_name: str, data: bytes) -> PendingUpload:
        """Keep the file (replacing the chat's earlier one); returns it with its token."""
        ...

    async def take(self, chat_id: int, token: int) -> PendingUpload | None:
        """The chat's waiting file if `token` is still its own; it is no longer held."""
        ...


class SendPacer(Protocol):
    async def slot(self, chat_id: int | str) -> float:
        """Reserve the next moment a message to this chat may go out, counting every replica's
        messages (all chats, and this group's); returns the seconds to wait for it."""
        ...


class DatabaseProbe(Protocol):
    async def reachable(self) -> bool:
        """Whether the database answers now (for /healthz)."""
        ...


@dataclass(frozen=True)
class SharedState:
    """Everything replicas must agree on; one per Application."""

    claims: UpdateClaims
    user_limit: RateLimit
    group_limit: RateLimit
    greeting_limit: RateLimit
    feedback: Feedback
    reindex_guard: ReindexGuard
    database: DatabaseProbe | None  # None: no database configured
    # Whether another process may receive the same updates (then a claim must be shared).
    replicated: bool
    uploads: HeldUploads
    # Flood limits shared with other replicas; None: this process alone sends (PTB's limiter).
    send_pacer: SendPacer | None = None

    def close(self) -> None:
        self.feedback.close()


def open_shared_state(config: AppConfig) -> SharedState:
    """The in-process state, or the database's when `database.url` is set (it must be
    reachable: DatabaseUnavailableError names the setting with its password masked)."""
    if config.database.url is None:
        from bot.shared_local import local_shared_state

        return local_shared_state(config)
    from bot.shared_pg import pg_shared_state

    return pg_shared_state(config)
