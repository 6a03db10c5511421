"""The answers the bot gave and the 👍/👎 votes on them, in PostgreSQL (bot/feedback.py's twin).

Answer ids come from one sequence, so a button made by one replica names the same answer on
every other. As with the SQLite file, answering never waits on a write that fails: an answer
that cannot be recorded goes without its buttons, a vote that cannot be saved is said so.
Reading an answer back (a button press) raises DatabaseUnavailableError when the database is
away, so the press is told "temporarily unavailable" rather than "expired".
"""

from __future__ import annotations

import logging

import psycopg

from bot.feedback import AnswerRecord
from bot.pg_database import Database
from index.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL characters (SQLite could)."""
    return text.replace("\x00", "\ufffd")


class PgFeedbackStore:
    """Answers and votes in `bot_answers` and `bot_votes`. Called from worker threads."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def record_answer(self, chat_id: int, question: str, build_id: str, doc_id: str) -> int | None:
        """Store an answer about to be sent with buttons; its id, or None (no buttons)."""
        try:
            row = self._database.run(
                lambda c: c.execute(
                    "INSERT INTO bot_answers (chat_id, question, build_id, doc_id)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (chat_id, _storable(question), build_id, _storable(doc_id)),
                ).fetchone()
            )
        except (DatabaseUnavailableError, psycopg.Error) as error:
            logger.warning(
                "chat %s: answer sent without its buttons: cannot record it (%s)", chat_id, error
            )
            return None
        assert row is not None
        return int(row[0])

    def find_answer(self, answer_id: int) -> AnswerRecord | None:
        """The stored answer, or None when there is no such id."""
        row = self._database.run(
            lambda c: c.execute(
                "SELECT id, chat_id, question, build_id, doc_id, created_at"
                " FROM bot_answers WHERE id = %s",
                (answer_id,),
            ).fetchone()
        )
        if row is None:
            return None
        answer, chat_id, question, build_id, doc_id, created_at = row
        created = created_at.isoformat(timespec="seconds")
        return AnswerRecord(int(answer), int(chat_id), question, build_id, doc_id, created)

    def vote(self, answer_id: int, user_id: int, vote: int) -> bool:
        """Record a user's +1/-1; a later vote by the same user replaces it. False when it
        could not be stored."""
        try:
            self._database.run(
                lambda c: c.execute(
                    "INSERT INTO bot_votes (answer_id, user_id, vote) VALUES (%s, %s, %s)"
                    " ON CONFLICT (answer_id, user_id)"
                    " DO UPDATE SET vote = excluded.vote, voted_at = now()",
                    (answer_id, user_id, vote),
                )
            )
        except (DatabaseUnavailableError, psycopg.Error) as error:
            logger.warning("vote on answer %s not recorded: %s", answer_id, error)
            return False
        return True

    def vote_counts(self) -> tuple[int, int]:
        """(👍, 👎) over all answers, from every replica."""
        row = self._database.run(
            lambda c: c.execute(
                "SELECT count(*) FILTER (WHERE vote = 1), count(*) FILTER (WHERE vote = -1)"
                " FROM bot_votes"
            ).fetchone()
        )
        assert row is not None
        return int(row[0]), int(row[1])

    def close(self) -> None:
        """Nothing to close: the pool is the process's (index/database.py)."""
