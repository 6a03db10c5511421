"""The database store's `SearchIndex`: the same five ranked lists as `LoadedIndex`, computed by
PostgreSQL (pgvector HNSW or exact scans, BM25 over packed postings), fused by the same
`language_aware_fusion` with the same judging masks.

A question is answered inside `snapshot()`: one REPEATABLE READ transaction, so every query it
makes sees one published state even when a build commits meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import psycopg

from index.config import IndexConfig, RetrievalConfig
from index.dense import choose_index_type
from index.errors import IndexNotFoundError
from index.fusion import Ranking, language_aware_fusion
from index.languages import Script
from index.models import Hit, SourceInfo
from index.pg_articles import PgArticles
from index.pg_postings import bm25_top, dead_among, read_postings
from index.pg_schema import Connections
from index.pg_state import PgState
from index.retriever import Query

# bm25s's defaults ("lucene": idf = ln(1 + (N - df + .5) / (df + .5)), k1 = 1.5, b = 0.75):
# the local store's BM25 (index/lexical.py), so both stores rank keywords alike.
BM25_K1, BM25_B = 1.5, 0.75
# `<#>` is the negative inner product: the cosine of normalised vectors, negated.
_NEAREST = "SELECT {key}, {column} <#> %s AS distance FROM {table} ORDER BY distance{ties} LIMIT %s"
# An exact search breaks ties as faiss's exact search does: the later row first. A sentence
# that two overlapping passages share has one vector twice, so its ties are common.
_TIES = {"index_passages": ", id DESC", "index_sentences": ", passage_id DESC, position DESC"}


class PgIndex:
    """One published state of the database store (see the module docstring)."""

    def __init__(
        self,
        connections: Connections,
        config: IndexConfig,
        state: PgState,
        connection: psycopg.Connection | None = None,
    ) -> None:
        self._connections, self._config, self.state = connections, config, state
        self._connection = connection
        self._idf: dict[str, float] = {}
        self._articles = PgArticles(self._use)

    @property
    def build_id(self) -> str:
        return self.state.build_id

    @property
    def articles(self) -> Mapping[str, SourceInfo]:
        return self._articles

    @contextmanager
    def snapshot(self) -> Iterator[PgIndex]:
        """This index bound to one read-only snapshot of the database."""
        with self._connections.connection() as connection, connection.transaction():
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            state = PgState.read(connection)
            if state is None:
                raise IndexNotFoundError("the database holds no index yet: run `citebot index`")
            yield PgIndex(self._connections, self._config, state, connection)

    @contextmanager
    def _use(self) -> Iterator[psycopg.Connection]:
        """The snapshot's connection, or a pooled one in a transaction of its own."""
        if self._connection is not None:
            yield self._connection
            return
        with self._connections.connection() as connection, connection.transaction():
            yield connection

    def search(self, query: Query, config: RetrievalConfig) -> list[Hit]:
        """Fused candidates, best first, each with its exact cosines (as LoadedIndex.search)."""
        k = config.candidates
        latin = query.script is Script.LATIN
        multilingual = (
            query.multilingual is not None
            and self.state.identity.get("multilingual_model", "none") != "none"
        )
        with self._use() as connection:
            self._tune(connection, k)
            lists: list[tuple[Ranking, float, str]] = []
            if config.fusion != "bm25" and latin:
                lists.append((self._nearest(connection, "embedding", query.vector, k),
                              config.dense_weight, "english"))  # fmt: skip
                if config.fusion == "rrf":
                    lists.append((self._best_sentences(connection, "embedding", query.vector, k),
                                  config.sentence_weight, "english"))  # fmt: skip
            lexical = self._bm25(connection, query.terms, k) if config.fusion != "dense" else []
            if config.fusion != "dense":
                lists.append((lexical, config.bm25_weight, "same_script"))
            if multilingual and query.multilingual is not None:
                # The multilingual model judges only what the English model cannot read.
                if config.fusion != "bm25":
                    lists.append((self._nearest(connection, "multilingual", query.multilingual, k),
                                  config.multilingual_weight, "other"))  # fmt: skip
                if config.fusion == "rrf":
                    sentences = self._best_sentences(connection, "multilingual",
                                                     query.multilingual, k)  # fmt: skip
                    lists.append((sentences, config.multilingual_sentence_weight, "other"))
            rows = sorted({row for ranking, _, _ in lists for row, _ in ranking})
            if not rows:
                return []
            scripts = self._scripts(connection, rows)
            english = scripts == Script.LATIN if latin else np.zeros(len(rows), bool)
            masks = {
                "english": english,
                "same_script": np.isin(scripts, [int(s) for s in query.term_scripts]),
                "other": ~english,
            }
            # Fusion sees positions 0..n-1 in passage-id order, so its masks stay arrays and
            # its ties fall by passage id, as the local store's fall by row.
            position = {row: i for i, row in enumerate(rows)}
            fused = language_aware_fusion(
                [[(position[row], score) for row, score in ranking] for ranking, _, _ in lists],
                [weight for _, weight, _ in lists],
                [masks[kind] for _, _, kind in lists],
                config.rrf_k,
            )[:k]
            if not fused:
                return []
            chosen = [rows[i] for i, _ in fused]
            cosine_of, multilingual_of = self._cosines(connection, chosen, query, multilingual)
        bm25_of = dict(lexical)
        return [
            Hit(
                row=rows[i],
                score=score,
                dense_score=cosine_of[rows[i]],
                lexical_score=bm25_of.get(rows[i], 0.0),
                multilingual_score=multilingual_of.get(rows[i]),
                same_script=bool(masks["same_script"][i]),
                english=latin and scripts[i] == Script.LATIN,
            )
            for i, score in fused
        ]

    def _tune(self, connection: psycopg.Connection, k: int) -> None:
        """HNSW's ef_search from the settings, and at least the rows a list asks for (pgvector
        returns no more than ef_search rows): faiss's efSearch rule in the local store."""
        ef_search = min(1000, max(self._config.hnsw_ef_search, k))
        connection.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))

    def _nearest(
        self, connection: psycopg.Connection, column: str, vector: np.ndarray, k: int
    ) -> list[tuple[int, float]]:
        rows = self._scan(connection, "id", column, "index_passages", vector, k)
        return [(int(row), float(score)) for row, score in rows]

    def _best_sentences(
        self, connection: psycopg.Connection, column: str, vector: np.ndarray, k: int
    ) -> list[tuple[int, float]]:
        """Passages ranked by their best sentence's cosine (as SentenceVectors.best_passages)."""
        if not self.state.with_sentences:
            return []
        rows = self._scan(connection, "passage_id", column, "index_sentences", vector, 4 * k)
        best: dict[int, float] = {}
        for owner, score in rows:
            best.setdefault(int(owner), float(score))
        return sorted(best.items(), key=lambda item: -item[1])[:k]

    def _scan(
        self,
        connection: psycopg.Connection,
        key: str,
        column: str,
        table: str,
        vector: np.ndarray,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """A nearest-neighbour query: exact where the local store searches exactly (sentences
        always; passages with index_type flat, or auto up to exact_max_passages), else through
        the HNSW index."""
        exact = table == "index_sentences" or (
            choose_index_type(self._config, self.state.passage_count) == "flat"
        )
        ties = _TIES[table] if exact else ""  # HNSW orders by distance alone
        sql = _NEAREST.format(key=key, column=column, table=table, ties=ties)
        if exact:
            connection.execute("SELECT set_config('enable_indexscan', 'off', true)")
        found = connection.execute(sql, (vector, limit)).fetchall()  # type: ignore[arg-type]
        rows = [(key_value, -distance) for key_value, distance in found]
        if exact:  # BM25 and the lookups by id keep their indexes
            connection.execute("SELECT set_config('enable_indexscan', 'on', true)")
        return rows

    def _bm25(
        self, connection: psycopg.Connection, terms: list[str], k: int
    ) -> list[tuple[int, float]]:
        """BM25 over the packed postings (index/pg_postings.py), summed in numpy."""
        known = [term for term in terms if self._document_frequency(connection, term) > 0]
        if not known or self.state.passage_count == 0:
            return []
        found = read_postings(connection, known)
        # A term asked twice counts twice, as in bm25s.
        weighted = [(found[term], self._idf_of(connection, term)) for term in known
                    if term in found]  # fmt: skip
        avgdl = self.state.total_length / self.state.passage_count or 1.0
        return bm25_top(weighted, BM25_K1, BM25_B, avgdl, k, partial(dead_among, connection))

    def _scripts(self, connection: psycopg.Connection, rows: list[int]) -> np.ndarray:
        found: dict[int, int] = dict(
            connection.execute(
                "SELECT id, script FROM index_passages WHERE id = ANY(%s)", (rows,)
            ).fetchall()
        )
        return np.asarray([found[row] for row in rows], dtype=np.uint8)

    def _cosines(
        self, connection: psycopg.Connection, rows: list[int], query: Query, multilingual: bool
    ) -> tuple[dict[int, float], dict[int, float]]:
        """Exact cosines of the question with these passages, in each model (float32, as the
        local store computes them)."""
        ordered = sorted(set(rows))
        with connection.cursor(binary=True) as cursor:
            cursor.execute(
                "SELECT id, embedding, multilingual FROM index_passages WHERE id = ANY(%s)"
                " ORDER BY id",
                (ordered,),
            )
            fetched = cursor.fetchall()
        primary = np.stack([row[1].to_numpy() for row in fetched]) @ query.vector
        cosines = {int(row[0]): float(v) for row, v in zip(fetched, primary, strict=True)}
        others: dict[int, float] = {}
        if multilingual and query.multilingual is not None and fetched[0][2] is not None:
            values = np.stack([row[2].to_numpy() for row in fetched]) @ query.multilingual
            others = {int(row[0]): float(v) for row, v in zip(fetched, values, strict=True)}
        return cosines, others

    def passage(self, row: int) -> dict[str, Any]:
        with self._use() as connection:
            found = connection.execute(
                'SELECT pid, doc_id, start, "end", text, sentences FROM index_passages'
                " WHERE id = %s",
                (row,),
            ).fetchone()
        if found is None:
            raise KeyError(row)
        keys = ("id", "doc_id", "start", "end", "text", "sentences")
        return dict(zip(keys, found, strict=True))

    def article_text(self, doc_id: str) -> str | None:
        with self._use() as connection:
            found = connection.execute(
                "SELECT text FROM index_articles WHERE doc_id = %s", (doc_id,)
            ).fetchone()
        return None if found is None else str(found[0])

    def sentence_cosines(self, row: int, query: Query, english: bool) -> np.ndarray | None:
        if not self.state.with_sentences:
            return None
        if not english and (query.multilingual is None or self._no_multilingual()):
            return None
        column = "embedding" if english else "multilingual"
        vector = query.vector if english else query.multilingual
        with self._use() as connection, connection.cursor(binary=True) as cursor:
            cursor.execute(
                f"SELECT {column} FROM index_sentences WHERE passage_id = %s ORDER BY position",
                (row,),
            )
            vectors = [found[0].to_numpy() for found in cursor.fetchall()]
        if not vectors:
            return np.zeros(0, dtype=np.float32)
        return np.stack(vectors) @ vector

    def _no_multilingual(self) -> bool:
        return self.state.identity.get("multilingual_model", "none") == "none"

    def idf(self, term: str) -> float:
        with self._use() as connection:
            return self._idf_of(connection, term)

    def _document_frequency(self, connection: psycopg.Connection, term: str) -> int:
        found = connection.execute(
            "SELECT df FROM index_term_stats WHERE term = %s", (term,)
        ).fetchone()
        return 0 if found is None else int(found[0])

    def _idf_of(self, connection: psycopg.Connection, term: str) -> float:
        """As LexicalIndex.idf: unknown terms weigh as the rarest."""
        if term not in self._idf:
            freq = self._document_frequency(connection, term)
            docs = self.state.passage_count
            self._idf[term] = math.log(1 + (docs - freq + 0.5) / (freq + 0.5))
        return self._idf[term]
