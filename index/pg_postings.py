"""BM25 postings in the database store, packed: one row per (term, segment) holding that
segment's passage ids, term frequencies and passage lengths as little-endian arrays.

A row per posting (term, passage) made 1M passages ~80M rows, ~9 KiB per passage with its two
indexes, and a question with a common term summed hundreds of thousands of rows in SQL. Packed,
a posting is 16 bytes, a term's postings come back in one index lookup per segment, and the
scores are summed in numpy, exactly as the SQL did (BM25 of bm25s, float4 per term).

Segments, as in Lucene: a build writes its new passages' postings as new segments (a big build
several, of FLUSH_POSTINGS each); a file's removal leaves its postings in place and lists its
passage ids in `index_dead`, which search skips. Smaller segments of a similar size (the same
power of ten of postings) are merged once there are more than MERGE_FACTOR of them, dropping
the dead postings they hold; when dead passages pass COMPACT_FRACTION of the live ones, every
segment is merged. So a build's postings work stays in proportion to its change, amortised,
and a search reads few rows per term.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

import numpy as np
import psycopg

# Postings held in memory before they are written as a segment (16 bytes each).
FLUSH_POSTINGS = 8_000_000
MERGE_FACTOR = 10
COMPACT_FRACTION = 0.2
_IDS, _COUNTS = np.dtype("<i8"), np.dtype("<i4")


def postings_ddl() -> list[str]:
    """The postings tables (schema version 2)."""
    return [
        "CREATE SEQUENCE index_segment_ids AS bigint",
        "CREATE TABLE index_segments ("
        " id bigint PRIMARY KEY, passages bigint NOT NULL, postings bigint NOT NULL)",
        "CREATE TABLE index_postings ("
        " term text NOT NULL, segment bigint NOT NULL REFERENCES index_segments ON DELETE CASCADE,"
        " ids bytea NOT NULL, tfs bytea NOT NULL, lengths bytea NOT NULL,"
        " PRIMARY KEY (term, segment))",
        # Packed integers hardly compress; stored out of line uncompressed, they read fastest.
        "ALTER TABLE index_postings ALTER COLUMN ids SET STORAGE EXTERNAL,"
        " ALTER COLUMN tfs SET STORAGE EXTERNAL, ALTER COLUMN lengths SET STORAGE EXTERNAL",
        "CREATE INDEX index_postings_segment ON index_postings (segment)",
        "CREATE TABLE index_dead (id bigint PRIMARY KEY)",
    ]


@dataclass(frozen=True)
class Postings:
    """One term's postings: passage ids, term frequencies, passage lengths (aligned)."""

    ids: np.ndarray
    tfs: np.ndarray
    lengths: np.ndarray

    @classmethod
    def decode(cls, ids: bytes, tfs: bytes, lengths: bytes) -> Postings:
        """A row's packed arrays, read in place (read-only views of the bytes)."""
        return cls(np.frombuffer(ids, dtype=_IDS), np.frombuffer(tfs, dtype=_COUNTS),
                   np.frombuffer(lengths, dtype=_COUNTS))  # fmt: skip

    @classmethod
    def concatenate(cls, parts: Sequence[Postings]) -> Postings:
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("ids", "tfs", "lengths")))  # fmt: skip

    def split(self, dead: np.ndarray) -> tuple[Postings, np.ndarray]:
        """These postings without the dead passages', and the dead passage ids they held."""
        gone = np.isin(self.ids, dead)
        kept = Postings(self.ids[~gone], self.tfs[~gone], self.lengths[~gone])
        return kept, self.ids[gone]


class SegmentWriter:
    """Collects a build's postings and writes them as segments."""

    def __init__(self, connection: psycopg.Connection) -> None:
        self._connection = connection
        self._terms: dict[str, tuple[array, array, array]] = {}
        self._passages = self._postings = 0
        self._merged: set[int] = set()  # passages that came through add_postings

    def _columns(self, term: str) -> tuple[array, array, array]:
        columns = self._terms.get(term)
        if columns is None:
            columns = self._terms[term] = (array("q"), array("i"), array("i"))
        return columns

    def add(self, passage_id: int, terms: Iterable[str]) -> Counter[str]:
        """One passage's terms (with repeats); returns its term frequencies."""
        counts = Counter(terms)
        length = sum(counts.values())
        for term, tf in counts.items():
            columns = self._columns(term)
            columns[0].append(passage_id)
            columns[1].append(tf)
            columns[2].append(length)
        self._passages += 1
        self._postings += len(counts)
        if self._postings >= FLUSH_POSTINGS:
            self.flush()
        return counts

    def add_postings(self, term: str, postings: Postings) -> None:
        columns = self._columns(term)
        columns[0].frombytes(postings.ids.astype(_IDS).tobytes())
        columns[1].frombytes(postings.tfs.astype(_COUNTS).tobytes())
        columns[2].frombytes(postings.lengths.astype(_COUNTS).tobytes())
        self._postings += len(postings.ids)
        self._merged.update(postings.ids.tolist())
        if self._postings >= FLUSH_POSTINGS:
            self.flush()

    def flush(self) -> None:
        if not self._terms:
            return
        segment = _scalar(self._connection, "SELECT nextval('index_segment_ids')")
        self._connection.execute(
            "INSERT INTO index_segments (id, passages, postings) VALUES (%s, %s, %s)",
            (segment, self._passages + len(self._merged), self._postings),
        )
        with self._connection.cursor().copy(
            "COPY index_postings (term, segment, ids, tfs, lengths) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "int8", "bytea", "bytea", "bytea"])
            for term, (ids, tfs, lengths) in self._terms.items():
                copy.write_row((term, segment, _little(ids), _little(tfs), _little(lengths)))
        self._terms.clear()
        self._passages = self._postings = 0
        self._merged.clear()


def _little(values: array) -> bytes:
    if values.itemsize == 8:
        return np.frombuffer(values, dtype=np.int64).astype(_IDS).tobytes()
    return np.frombuffer(values, dtype=np.int32).astype(_COUNTS).tobytes()


def _scalar(connection: psycopg.Connection, sql: str) -> int:
    row = connection.execute(sql).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row and row[0] is not None else 0


def read_postings(connection: psycopg.Connection, terms: Sequence[str]) -> dict[str, Postings]:
    """Each term's postings across its segments (dead ones included)."""
    parts: dict[str, list[Postings]] = {}
    with connection.cursor(binary=True) as cursor:
        cursor.execute(
            "SELECT term, ids, tfs, lengths FROM index_postings WHERE term = ANY(%s)"
            " ORDER BY term, segment",
            (list(terms),),
        )
        for term, ids, tfs, lengths in cursor:
            parts.setdefault(term, []).append(Postings.decode(ids, tfs, lengths))
    return {term: Postings.concatenate(found) for term, found in parts.items()}


def bm25_top(
    postings: Sequence[tuple[Postings, float]],
    k1: float,
    b: float,
    avgdl: float,
    k: int,
    dead_of: Callable[[list[int]], set[int]],
) -> list[tuple[int, float]]:
    """The k best passages by BM25 over these (postings, idf) pairs: each term's score rounded
    to float4 (as bm25s stores it) and summed in float4, best first, ties by passage id; dead
    passages skipped."""
    parts = [p for p, _ in postings if len(p.ids)]
    if not parts or k <= 0:
        return []
    low = min(int(p.ids.min()) for p in parts)
    high = max(int(p.ids.max()) for p in parts)
    totals = np.zeros(high - low + 1, dtype=np.float32)
    for part, idf in postings:
        if not len(part.ids):
            continue
        tf = part.tfs.astype(np.float64)
        norm = tf + k1 * (1 - b + b * part.lengths / avgdl)
        totals[part.ids - low] += (idf * tf / norm).astype(np.float32)
    found = np.flatnonzero(totals > 0)
    ranked: list[tuple[int, float]] = []
    taken = 0
    want = k
    while len(ranked) < k and taken < len(found):
        batch = _best(found, totals, taken + want)[taken:]
        taken += len(batch)
        ids = [int(i) + low for i in batch]
        dead = dead_of(ids)
        ranked.extend((i, float(totals[i - low])) for i in ids if i not in dead)
        want *= 2
    return ranked[:k]


def _best(found: np.ndarray, totals: np.ndarray, n: int) -> np.ndarray:
    """The n best of `found` (offsets into totals), by score then offset; exact at ties."""
    scores = totals[found]
    if n < len(found):
        threshold = np.partition(scores, len(scores) - n)[len(scores) - n]
        keep = scores >= threshold
        found, scores = found[keep], scores[keep]
    order = np.lexsort((found, -scores))
    return found[order][:n]


def dead_among(connection: psycopg.Connection, ids: list[int]) -> set[int]:
    """Which of these passage ids were removed but still have postings."""
    rows = connection.execute("SELECT id FROM index_dead WHERE id = ANY(%s)", (ids,)).fetchall()
    return {int(row[0]) for row in rows}


def mark_dead(connection: psycopg.Connection, ids: list[int]) -> None:
    """These passages go: search skips their postings until a merge drops them."""
    connection.execute(
        "INSERT INTO index_dead (id) SELECT unnest(%s::bigint[]) ON CONFLICT DO NOTHING", (ids,)
    )


def clear(connection: psycopg.Connection) -> None:
    """Every posting goes (a full build or a migration writes them all again)."""
    connection.execute("DELETE FROM index_segments")  # cascades to index_postings
    connection.execute("DELETE FROM index_dead")


def maintain(connection: psycopg.Connection, live_passages: int) -> None:
    """Merge segments after a build's writes: every one when dead postings have grown past
    COMPACT_FRACTION of the live passages, else each size tier of the small segments (below
    FLUSH_POSTINGS, a power of ten of postings a tier) that holds more than MERGE_FACTOR.

    A merge writes full segments (FLUSH_POSTINGS each) and at most one smaller one, which has
    more postings than any it came from: merged segments never crowd their old tier again.
    """
    dead = _scalar(connection, "SELECT count(*) FROM index_dead")
    if dead and dead > COMPACT_FRACTION * max(live_passages, 1):
        segments = connection.execute("SELECT id FROM index_segments").fetchall()
        merge(connection, [int(s) for (s,) in segments])
        return
    for _ in range(64):  # each merge leaves fewer small segments; a bound all the same
        small = connection.execute(
            "SELECT id, postings FROM index_segments WHERE postings < %s", (FLUSH_POSTINGS,)
        ).fetchall()
        tiers: dict[int, list[int]] = {}
        for segment, postings in small:
            tiers.setdefault(int(math.log10(max(int(postings), 1))), []).append(int(segment))
        crowded = [ids for _, ids in sorted(tiers.items()) if len(ids) > MERGE_FACTOR]
        if not crowded:
            return
        merge(connection, crowded[0])


def merge(connection: psycopg.Connection, segments: list[int]) -> None:
    """Rewrite these segments as new ones, without the postings of dead passages."""
    if not segments:
        return
    rows = connection.execute("SELECT id FROM index_dead").fetchall()
    dead = np.asarray([row[0] for row in rows], dtype=np.int64)
    every = _scalar(connection, "SELECT count(*) FROM index_segments") == len(segments)
    writer = SegmentWriter(connection)
    dropped: set[int] = set()
    with connection.cursor(binary=True, name="citebot_merge") as cursor:
        cursor.itersize = 2000
        cursor.execute(
            "SELECT term, ids, tfs, lengths FROM index_postings WHERE segment = ANY(%s)"
            " ORDER BY term, segment",
            (segments,),
        )
        for term, group in groupby(cursor, key=itemgetter(0)):
            parts = [Postings.decode(*row[1:]) for row in group]
            postings, gone = Postings.concatenate(parts).split(dead)
            dropped.update(gone.tolist())
            if len(postings.ids):
                writer.add_postings(term, postings)
    connection.execute("DELETE FROM index_segments WHERE id = ANY(%s)", (segments,))
    writer.flush()
    # A passage lives in one segment: the dead these segments held are gone for good (and
    # after merging every segment, so are dead passages that had no terms at all).
    if every:
        connection.execute("DELETE FROM index_dead")
    elif dropped:
        connection.execute("DELETE FROM index_dead WHERE id = ANY(%s)", (sorted(dropped),))
