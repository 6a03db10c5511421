"""The published build of the database store: the one `index_state` row, and the check that the
configured models are the ones that built it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from index.errors import IndexMismatchError
from index.store import REBUILD_HINT


@dataclass(frozen=True)
class PgState:
    """The published build, as `index_state` holds it."""

    build_id: str
    built_at: str
    build_seconds: float
    identity: dict[str, Any]
    with_sentences: bool
    index_type: str
    passage_count: int
    total_length: int
    article_count: int

    @classmethod
    def read(cls, connection: psycopg.Connection) -> PgState | None:
        row = connection.execute(
            "SELECT build_id, built_at, build_seconds, identity, with_sentences, index_type,"
            " passage_count, total_length, article_count FROM index_state"
        ).fetchone()
        if row is None:
            return None
        built_at = row[1].isoformat(timespec="seconds")
        return cls(
            row[0], built_at, float(row[2]), row[3], bool(row[4]), row[5], *map(int, row[6:])
        )


def check_identity(state: PgState, expected: dict[str, Any]) -> None:
    """The database's index is searched only with the models (and tokenizer) that built it."""
    for key in ("model", "backend", "multilingual_model", "tokenizer"):
        if state.identity.get(key) != expected.get(key):
            raise IndexMismatchError(
                f"the database's index was built with {key} {state.identity.get(key)!r} but the "
                f"config says {expected.get(key)!r}: {REBUILD_HINT}"
            )
