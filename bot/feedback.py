"""The answers the bot gave and the 👍/👎 votes on them, in an SQLite file beside the index.

Buttons carry only an answer id; the row it names lets a button re-run its question after a
restart or a reindex, and lets a button be checked against the chat it was pressed in.

Nothing here may stop the bot: a damaged file is set aside (renamed with the time) and a new one
made; an answer or a vote that cannot be written (a full disk) is logged and left out, and the
answer goes without its buttons.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

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
        self._lock = threading.Lock()
        self._db = _open_or_set_aside(path)

    def record_answer(self, chat_id: int, question: str, build_id: str, doc_id: str) -> int | None:
        """Store an answer that is about to be sent with buttons; returns its id, or None when
        it could not be stored (the answer then goes without buttons)."""
        try:
            with self._lock:
                cursor = self._db.execute(
                    "INSERT INTO answers (chat_id, question, build_id, doc_id, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (chat_id, question, build_id, doc_id, _now()),
                )
        except sqlite3.Error as error:
            logger.warning(
                "chat %s: answer sent without its buttons: cannot record it (%s)", chat_id, error
            )
            return None
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

    def vote(self, answer_id: int, user_id: int, vote: int) -> bool:
        """Record a user's +1/-1 on an answer; a later vote by the same user replaces it.
        False when it could not be stored."""
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO votes (answer_id, user_id, vote, voted_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (answer_id, user_id)"
                    " DO UPDATE SET vote = excluded.vote, voted_at = excluded.voted_at",
                    (answer_id, user_id, vote, _now()),
                )
        except sqlite3.Error as error:
            logger.warning("vote on answer %s not recorded: %s", answer_id, error)
            return False
        return True

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


# SQLite's verdicts on a file that is not a sound database (the rest, such as "locked" or
# "permission denied", say nothing about the file itself).
_DAMAGED = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def _open_or_set_aside(path: Path) -> sqlite3.Connection:
    """The database at `path`; a damaged one is renamed aside and a new one made. If even that
    fails, an in-memory database keeps the buttons working until the bot restarts."""
    try:
        return _open(path)
    except (sqlite3.Error, OSError) as error:
        problem: BaseException = error
        if _is_damaged(path, error):
            try:
                return _open(_set_aside(path, error))
            except (sqlite3.Error, OSError) as still:
                problem = still
    logger.error(
        "%s cannot be used (%s); answers and votes are kept in memory until a restart",
        path,
        problem,
    )
    return _open(":memory:")


def _set_aside(path: Path, error: BaseException) -> Path:
    """Rename a damaged database (and its journal files) with the time; returns `path`."""
    aside = path.with_name(f"{path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    logger.warning("%s is damaged (%s): set aside as %s; starting anew", path, error, aside.name)
    for suffix in ("", "-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            companion.rename(f"{aside}{suffix}")
    return path


def _open(target: Path | str) -> sqlite3.Connection:
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        # A quick read of every page: a file damaged past its first page is noticed now rather
        # than at the first answer (milliseconds for thousands of answers).
        (verdict,) = db.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"damaged pages: {verdict}")
    except BaseException:
        db.close()
        raise
    return db


def _is_damaged(path: Path, error: BaseException) -> bool:
    if path.is_dir():
        return True  # something else stands where the file should be
    name = getattr(error, "sqlite_errorname", None)
    return name in _DAMAGED or (
        isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError)
    )
