"""Answers and votes persist in SQLite across restarts; one vote per user per answer."""

from __future__ import annotations

from pathlib import Path

from bot.feedback import FeedbackStore


def test_answers_and_votes_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "index" / "feedback.sqlite3"
    store = FeedbackStore(path)
    first = store.record_answer(-100, "why?", "build-1", "doc-a")
    second = store.record_answer(42, "who?", "build-1", "doc-b")
    store.vote(first, 1, 1)
    store.vote(first, 2, -1)
    store.vote(first, 1, -1)  # a change of mind replaces the earlier vote
    store.vote(second, 1, 1)
    store.close()

    reopened = FeedbackStore(path)
    record = reopened.find_answer(first)
    assert record is not None
    assert (record.chat_id, record.question, record.build_id, record.doc_id) == (
        -100,
        "why?",
        "build-1",
        "doc-a",
    )
    assert reopened.vote_counts() == (1, 2)
    assert reopened.find_answer(999) is None
    reopened.close()
