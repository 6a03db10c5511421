"""The answers the bot gave and the 👍/👎 votes on them, in an SQLite file beside the index.

Buttons carry only an answer id; the row it names lets a button re-run its question after a
restart or a reindex, and lets a button be checked against the chat it was pressed in.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    question TEXT NOT NULL,
    build_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    user_id INTEGER NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    voted_at TEXT NOT NULL,
    UNIQUE (answer_id, user_id)
);
"""


@dataclass(frozen=True)
class AnswerRecord:
    """One answer the bot sent: enough to re-run its question and to check where it was sent."""

    answer_id: int
    chat_id: int
    question: str
    build_id: str
    doc_id: str  # the top cited article, for the "Article" button
    created_at: str


class FeedbackStore:
    """Answers and votes in one SQLite file. Safe to call from several threads (one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def record_answer(self, chat_id: int, question: str, build_id: str, doc_id: str) -> int:
        """Store an answer that is about to be sent with buttons; returns its id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO answers (chat_id, question, build_id, doc_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (chat_id, question, build_id, doc_id, _now()),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def find_answer(self, answer_id: int) -> AnswerRecord | None:
        """The stored answer, or None when there is no such id."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, chat_id, question, build_id, doc_id, created_at"
                " FROM answers WHERE id = ?",
                (answer_id,),
            ).fetchone()
        return AnswerRecord(*row) if row else None

    def vote(self, answer_id: int, user_id: int, vote: int) -> None:
        """Record a user's +1/-1 on an answer; a later vote by the same user replaces it."""
        with self._lock:
            self._db.execute(
                "INSERT INTO votes (answer_id, user_id, vote, voted_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (answer_id, user_id)"
                " DO UPDATE SET vote = excluded.vote, voted_at = excluded.voted_at",
                (answer_id, user_id, vote, _now()),
            )

    def vote_counts(self) -> tuple[int, int]:
        """(👍, 👎) over all answers."""
        with self._lock:
            up, down = self._db.execute(
                "SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) FROM votes"
            ).fetchone()
        return int(up), int(down)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
