"""The index store contract, on both stores: the local files and PostgreSQL + pgvector give the
same answers to the same questions, and both update article by article.

The files store is the session's index of the shipped corpus; the PostgreSQL one is built from
the same corpus into a database of the session's real server (tests/postgres_fixtures.py), with
the same loaded model. Nothing is mocked.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pytest

from bot.config import AppConfig
from index import pg_postings
from index.answering import answer_question
from index.build_writer import embedding_text
from index.config import CorpusConfig, DatabaseConfig
from index.database import close_pools
from index.embedder import Embedder
from index.errors import BuildInProgressError
from index.lexical import LexicalIndex
from index.models import Answer, BuildReport
from index.pg_build import build_lock
from index.pg_index import PgIndex
from index.pg_store import PgStore
from index.retriever import LoadedIndex, Query
from index.service import CitebotService
from index.stores import FileStore, IndexStore
from tests.index_fixtures import NEWS_ARTICLES, SHIPPED_CORPUS
from tests.serve_harness import write_news
from tests.test_core_answers import CITED, QUESTIONS

LIGHTHOUSE = "Which harbour building reopened after a restoration?"
CHESS = "Who won the national chess championship?"
FROST = "What destroyed the apple blossom in the valley?"


@pytest.fixture(scope="module")
def shipped_in_postgres(
    postgres_server: str, core_config: AppConfig, core_embedder: Embedder, tmp_path_factory
) -> Iterator[PgStore]:
    """The shipped corpus built into a database of its own, once for this module."""
    name = f"contract_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    index = core_config.index.model_copy(update={"path": tmp_path_factory.mktemp("pg-staging")})
    store = PgStore(index, core_config.passages, DatabaseConfig(url=url))
    store.build(
        CorpusConfig(path=SHIPPED_CORPUS), core_config.passages, lambda: core_embedder,
        None, False, None, False,
    )  # fmt: skip
    yield store
    close_pools()
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def ask(store: IndexStore, question: str, config: AppConfig, embedder: Embedder) -> Answer:
    with store.reading(store.open()) as index:
        return answer_question(question, index, embedder, config.retrieval, config.answer)


@pytest.fixture(params=["files", "postgres"])
def answers(
    request: pytest.FixtureRequest,
    core_service: CitebotService,
    core_config: AppConfig,
    core_embedder: Embedder,
) -> Callable[[str], Answer]:
    """Answers from one store, then the other."""
    if request.param == "files":
        return core_service.answer
    store = request.getfixturevalue("shipped_in_postgres")
    return lambda question: ask(store, question, core_config, core_embedder)


@pytest.mark.parametrize(("question", "doc_id", "phrase"), CITED, ids=[c[1] for c in CITED])
def test_each_store_cites_the_article_that_answers_first(
    answers: Callable[[str], Answer], question: str, doc_id: str, phrase: str | tuple[str, ...]
) -> None:
    answer = answers(question)

    assert answer.found and answer.citations[0].doc_id == doc_id
    phrases = (phrase,) if isinstance(phrase, str) else phrase
    assert any(p in answer.citations[0].snippet for p in phrases)


def test_both_stores_give_the_same_json_for_every_question(
    core_service: CitebotService,
    shipped_in_postgres: PgStore,
    core_config: AppConfig,
    core_embedder: Embedder,
) -> None:
    questions = [*QUESTIONS, "hello", "Кто возглавляет Роскосмос?", "what is the weather today"]
    for question in questions:
        local = core_service.answer(question).to_json()
        database = ask(shipped_in_postgres, question, core_config, core_embedder).to_json()
        for citation in local["citations"] + database["citations"]:
            citation["score"] = round(citation["score"], 4)  # float32 sums in another order
        assert database == local, question


def test_bm25_in_sql_ranks_as_bm25s_does(
    core_service: CitebotService, shipped_in_postgres: PgStore, core_embedder: Embedder
) -> None:
    local = core_service.live()
    assert isinstance(local, LoadedIndex)
    database = shipped_in_postgres.open()
    for question in [*QUESTIONS, "Roscosmos Roscosmos flags", "OneWeb запуск"]:
        query = Query.of(question, core_embedder)
        expected = [
            (local.passage(row)["id"], round(score, 4))
            for row, score in local.lexical.search(query.terms, 100)
        ]
        with database.snapshot() as snapshot, snapshot._use() as connection:
            found = snapshot._bm25(connection, query.terms, 100)
            got = [(snapshot.passage(row)["id"], round(score, 4)) for row, score in found]
        assert got == expected, question


@dataclass
class StoreUnderTest:
    """A corpus folder of its own, indexed into one store with the session's model."""

    corpus: Path
    store: IndexStore
    config: AppConfig
    embedder: Embedder

    def write(self, name: str, text: str) -> None:
        (self.corpus / name).write_text(text, encoding="utf-8")

    def build(self, full: bool = False) -> BuildReport:
        return self.store.build(
            CorpusConfig(path=self.corpus), self.config.passages, lambda: self.embedder,
            None, full, None, False,
        )  # fmt: skip

    def answer(self, question: str) -> Answer:
        return ask(self.store, question, self.config, self.embedder)


@pytest.fixture(params=["files", "postgres"])
def news_store(
    request: pytest.FixtureRequest, tmp_path: Path, core_config: AppConfig, core_embedder: Embedder
) -> Iterator[StoreUnderTest]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    index = core_config.index.model_copy(update={"path": tmp_path / "index"})
    store: IndexStore
    if request.param == "files":
        store = FileStore(index)
    else:
        url = request.getfixturevalue("database_url")
        store = PgStore(index, core_config.passages, DatabaseConfig(url=url))
    yield StoreUnderTest(corpus, store, core_config, core_embedder)
    close_pools()


def test_articles_are_added_changed_and_deleted_one_by_one(news_store: StoreUnderTest) -> None:
    for name in ("harbour-lighthouse.md", "orchard-frost.txt"):
        news_store.write(name, NEWS_ARTICLES[name])
    first = news_store.build()
    assert first.articles == 2 and not news_store.answer(CHESS).found

    news_store.write("chess-final.md", NEWS_ARTICLES["chess-final.md"])
    added = news_store.build()
    assert added.files_added == ("chess-final.md",) and added.articles == 3
    assert 0 < added.passages_embedded < added.passages
    assert news_store.answer(CHESS).citations[0].doc_id == "chess-final"

    news_store.write("orchard-frost.txt", NEWS_ARTICLES["orchard-frost.txt"].replace(
        "A late frost", "A hailstorm and a late frost"))  # fmt: skip
    changed = news_store.build()
    assert changed.files_changed == ("orchard-frost.txt",)
    assert changed.passages_embedded == 1
    assert "hailstorm" in news_store.answer(FROST).citations[0].snippet

    (news_store.corpus / "chess-final.md").unlink()
    removed = news_store.build()
    assert removed.files_removed == ("chess-final.md",) and removed.passages_embedded == 0
    assert not news_store.answer(CHESS).found
    assert news_store.answer(LIGHTHOUSE).citations[0].doc_id == "harbour-lighthouse"
    assert news_store.build().unchanged
    if isinstance(news_store.store, PgStore):
        assert_bm25_statistics_match_the_rows(news_store.store)


def assert_bm25_statistics_match_the_rows(store: PgStore) -> None:
    """Builds move N, the total length and each term's document frequency by differences:
    after adds, changes and deletes they still equal what the rows add up to. Every posting
    belongs to a live passage or to one listed dead, never both."""
    with store.connections.connection() as connection:
        totals = connection.execute(
            "SELECT passage_count, total_length,"
            " (SELECT count(*) FROM index_passages), (SELECT sum(length) FROM index_passages)"
            " FROM index_state"
        ).fetchone()
        live = {row[0] for row in connection.execute("SELECT id FROM index_passages")}
        dead = {row[0] for row in connection.execute("SELECT id FROM index_dead")}
        stats = dict(connection.execute("SELECT term, df FROM index_term_stats").fetchall())
        frequencies: Counter[str] = Counter()
        with connection.cursor(binary=True) as cursor:
            for term, ids in cursor.execute("SELECT term, ids FROM index_postings"):
                held = set(np.frombuffer(ids, dtype="<i8").tolist())
                assert held <= live | dead, term
                frequencies[term] += len(held - dead)
    assert totals is not None and totals[0] == totals[2] and totals[1] == totals[3]
    assert not live & dead
    assert +frequencies == stats


def test_a_question_asked_during_a_build_is_answered_from_the_previous_state(
    database_url: str, tmp_path: Path, core_config: AppConfig, core_embedder: Embedder
) -> None:
    corpus = tmp_path / "corpus"
    write_news(corpus)
    store = in_database(corpus, tmp_path / "index", database_url, core_config, core_embedder)
    store.build()
    serving = store.store.open()
    assert isinstance(serving, PgIndex)
    try:
        with serving.snapshot() as before:
            (corpus / "chess-final.md").unlink()
            store.build()  # commits while the snapshot is open
            old = answer_question(
                CHESS, before, core_embedder, core_config.retrieval, core_config.answer
            )
            assert old.found and old.citations[0].doc_id == "chess-final"
            assert len(before.articles) == 3
        assert not store.answer(CHESS).found
        assert len(store.store.open().articles) == 2
    finally:
        close_pools()


def test_two_builds_at_once_never_duplicate_rows(
    database_url: str, tmp_path: Path, core_config: AppConfig, core_embedder: Embedder
) -> None:
    corpus = tmp_path / "corpus"
    write_news(corpus)
    index = core_config.index.model_copy(update={"path": tmp_path / "index"})
    pg = PgStore(index, core_config.passages, DatabaseConfig(url=database_url))
    store = StoreUnderTest(corpus, pg, core_config, core_embedder)
    outcomes: list[str] = []

    def build() -> None:
        try:
            outcomes.append("built" if not store.build().unchanged else "unchanged")
        except BuildInProgressError:
            outcomes.append("refused")

    try:
        with build_lock(pg.connections, wait=False), pytest.raises(BuildInProgressError):
            store.build()
        threads = [threading.Thread(target=build) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) in (["built", "refused"], ["built", "unchanged"])
        with pg.connections.connection() as connection:
            counts = connection.execute(
                "SELECT (SELECT count(*) FROM index_passages),"
                " (SELECT count(DISTINCT pid) FROM index_passages),"
                " (SELECT passage_count FROM index_state),"
                " (SELECT count(*) FROM index_articles)"
            ).fetchone()
        assert counts is not None and counts[0] == counts[1] == counts[2] and counts[3] == 3
    finally:
        close_pools()


def test_postings_segments_merge_and_drop_removed_passages(
    database_url: str,
    tmp_path: Path,
    core_config: AppConfig,
    core_embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each build adds a postings segment; crowded tiers merge, and once removed passages pass
    the threshold every segment is rewritten without them. At every step BM25 from the
    database ranks as bm25s does over the live passages."""
    monkeypatch.setattr(pg_postings, "MERGE_FACTOR", 2)
    monkeypatch.setattr(pg_postings, "COMPACT_FRACTION", 0.3)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    store = in_database(corpus, tmp_path / "index", database_url, core_config, core_embedder)
    files = sorted(SHIPPED_CORPUS.iterdir())
    segments_seen = []
    for source in files:
        shutil.copy(source, corpus / source.name)
        store.build()
        segments_seen.append(assert_postings_rank_as_bm25s(store, core_embedder))
    assert max(segments_seen) <= 3 and segments_seen[-1] < len(files)  # merged on the way
    (corpus / files[0].name).unlink()
    store.build()
    with store.store.connections.connection() as connection:  # type: ignore[attr-defined]
        assert connection.execute("SELECT count(*) FROM index_dead").fetchone() != (0,)
    assert_postings_rank_as_bm25s(store, core_embedder)
    for source in files[1:3]:
        (corpus / source.name).unlink()
    store.build()
    with store.store.connections.connection() as connection:  # type: ignore[attr-defined]
        assert connection.execute("SELECT count(*) FROM index_dead").fetchone() == (0,)
    assert assert_postings_rank_as_bm25s(store, core_embedder) == 1
    close_pools()


def in_database(
    corpus: Path, index_path: Path, url: str, config: AppConfig, embedder: Embedder
) -> StoreUnderTest:
    """A corpus folder indexed into the database at `url`."""
    index = config.index.model_copy(update={"path": index_path})
    return StoreUnderTest(
        corpus, PgStore(index, config.passages, DatabaseConfig(url=url)), config, embedder
    )


def assert_postings_rank_as_bm25s(store: StoreUnderTest, embedder: Embedder) -> int:
    """The database's BM25 top 20 for each test question equals bm25s's over the live passages
    (in id order); returns the number of postings segments."""
    pg = store.store
    assert isinstance(pg, PgStore)
    assert_bm25_statistics_match_the_rows(pg)
    with pg.connections.connection() as connection:
        rows = connection.execute(
            "SELECT p.id, a.title, p.text FROM index_passages p"
            " JOIN index_articles a ON a.id = p.article_id ORDER BY p.id"
        ).fetchall()
        segments = connection.execute("SELECT count(*) FROM index_segments").fetchone()
    lexical = LexicalIndex.build([embedding_text(title, text) for _, title, text in rows])
    with pg.open().snapshot() as snapshot, snapshot._use() as connection:
        for question in [*QUESTIONS, "Roscosmos Roscosmos sanctions"]:
            terms = Query.of(question, embedder).terms
            expected = [(rows[row][0], round(score, 4)) for row, score in lexical.search(terms, 20)]
            got = [(row, round(score, 4)) for row, score in snapshot._bm25(connection, terms, 20)]
            assert got == expected, question
    assert segments is not None
    return int(segments[0])


def test_a_big_build_writes_full_segments_that_stay_as_they_are(
    database_url: str,
    tmp_path: Path,
    core_config: AppConfig,
    core_embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A build bigger than FLUSH_POSTINGS writes several full segments; merging is for the
    small ones (merging full ones wrote them out full again, and again: 29 GB at 1M)."""
    monkeypatch.setattr(pg_postings, "FLUSH_POSTINGS", 200)
    monkeypatch.setattr(pg_postings, "MERGE_FACTOR", 2)
    corpus = tmp_path / "corpus"
    shutil.copytree(SHIPPED_CORPUS, corpus)
    store = in_database(corpus, tmp_path / "index", database_url, core_config, core_embedder)
    store.build()
    segments = assert_postings_rank_as_bm25s(store, core_embedder)
    with store.store.connections.connection() as connection:  # type: ignore[attr-defined]
        sizes = [row[0] for row in connection.execute(
            "SELECT postings FROM index_segments ORDER BY id").fetchall()]  # fmt: skip
    assert segments > 3 and all(size >= 200 for size in sizes[:-1])
    (corpus / "extra.md").write_text("---\ntitle: Extra\n---\nA small extra note.\n", "utf-8")
    store.build()
    assert assert_postings_rank_as_bm25s(store, core_embedder) == segments + 1
    close_pools()
