"""The database store at scale (issue 11): bulk load, size, recall and latency, an update.

    python bench/pg_scale.py POSTGRES_URL --passages 1000000
    python bench/pg_scale.py POSTGRES_URL --passages 20000      # a quick look, ~5 minutes
    python bench/pg_scale.py POSTGRES_URL --corpus ../main/bench/out/scale/corpus-1000k \
        --real-index ../main/bench/out/devset-index/wikinews   # from another checkout

The issue's figures: 1M passages in PostgreSQL on this machine, answer p95 ≤ 100 ms at
recall@10 ≥ 0.95 against exact search; bulk load rate and database size per passage; 10 new
articles answerable ≤ 30 s. Steps:

1. Corpus: `bench/out/scale/corpus-<N>` (bench/scale_corpus.py, seed 1, as bench/scale.py's
   build stage and bench/reload_latency.py write it), unless it is there (or `--corpus`).
2. Load: into the database `pgscale_<N>` (made afresh) by the real database build
   (`PgStore.build`), with a stand-in embedder: perturbed copies of real all-MiniLM-L6-v2 vectors
   (the English passages of the dev-set Wikinews index and their sentences) made as
   bench/scale_search.py makes its 1M vectors. The config is the one `citebot index` reads in
   step 5's environment (English model only; sentence vectors off above 20k passages), so the
   build identity is the one the real command expects. VACUUM ANALYZE follows, as autovacuum
   would. Kept for the next run (`--reload` loads again). Prints passages/s, the seconds of each
   phase (each CREATE INDEX as pg_stat_progress_create_index shows it) and the bytes per passage
   of every table in the database.
3. Raw search: SciFact claims embedded by the real model; HNSW top-10 from `index_passages` at
   each `--ef-search` against the exact top-10 (numpy over every stored vector): recall@10, p50,
   p95; and the exact SQL scan (`enable_indexscan = off`) on a few claims.
4. Answers: `CitebotService.answer` over the same claims one after another, at config.yaml's
   hnsw_ef_search and at the lowest swept one with recall@10 ≥ 0.95 (when the search differs).
5. Update: 10 new articles (bench/scale_delta.new_articles, one holding a unique sentence) in the
   corpus folder, the real `citebot index`, then `citebot ask --json` about that sentence, each
   a fresh process; then the files are removed and `citebot index` restores the base.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.embed_speed import load_scifact, machine  # noqa: E402
from bench.evaluate_devset import code_state  # noqa: E402
from bench.pg_store_figures import fresh_database  # noqa: E402
from bench.scale import MODEL_CACHE, OUT, percentiles, size_label, table  # noqa: E402
from bench.scale_corpus import stats_file, write_corpus  # noqa: E402
from bench.scale_delta import QUESTION, new_articles  # noqa: E402
from bench.scale_search import (  # noqa: E402
    Perturbation,
    matching_epsilon,
    nearest_real_cosines,
    recall_at_10,
)
from bot.config import AppConfig, load_config  # noqa: E402
from index import sentence_vectors  # noqa: E402
from index.build_identity import embedding_identity  # noqa: E402
from index.build_writer import SCRIPTS  # noqa: E402
from index.corpus import scan_corpus  # noqa: E402
from index.database import close_pools  # noqa: E402
from index.dense import choose_index_type  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.languages import Script  # noqa: E402
from index.models import BuildProgress  # noqa: E402
from index.pg_state import PgState  # noqa: E402
from index.pg_store import PgStore  # noqa: E402
from index.service import CitebotService  # noqa: E402
from index.store import IndexLayout  # noqa: E402
from index.vector_space import PRIMARY  # noqa: E402

NEAREST = "SELECT id FROM index_passages ORDER BY embedding <#> %s LIMIT 10"
STAGES = {
    "scanning": "scan, read and split the corpus",
    "loading model": "stand-in embedder",
    "embedding": "embed (stand-in vectors, chunks saved)",
    "indexing": "prepare the publication",
    "publishing": "COPY rows, BM25 frequencies",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def real_vectors(index_root: Path) -> np.ndarray:
    """The model's vectors of English text: a real build's English passages and their sentences."""
    build = IndexLayout(index_root).current_build()
    if build is None:
        raise SystemExit(f"no build in {index_root}: run bench/evaluate_devset.py --no-speed")
    english = np.flatnonzero(np.load(build / SCRIPTS) == Script.LATIN)
    offsets = np.load(build / sentence_vectors.OFFSETS)
    sentences = np.concatenate([np.arange(offsets[r], offsets[r + 1]) for r in english])
    parts = [np.load(build / PRIMARY.passages)[english], np.load(build / PRIMARY.sentences)]
    return np.concatenate([parts[0], parts[1][sentences]]).astype(np.float32)


class PerturbedRealVectors:
    """Where the model's vectors would be: a random real vector each, perturbed."""

    multilingual = None

    def __init__(self, real: np.ndarray) -> None:
        self.real = real
        nearest = nearest_real_cosines(real)
        self.median_nearest = float(np.median(nearest))
        self.perturbation = Perturbation(real, matching_epsilon(self.median_nearest))

    def embed_passages(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        rows = self.perturbation.rng.integers(len(self.real), size=len(texts))
        vectors = self.perturbation.apply(self.real[rows]).astype(np.float32)
        if on_batch:
            on_batch(len(texts))
        return vectors

    def figures(self) -> dict[str, Any]:
        rows = self.perturbation.rng.integers(len(self.real), size=20_000)
        copies = self.perturbation.apply(self.real[rows])
        return {
            "real vectors (English passages + sentences)": len(self.real),
            "median real nearest-neighbour cos": self.median_nearest,
            "ε": matching_epsilon(self.median_nearest),
            "mean cos(v, v') of 20k copies": float((copies * self.real[rows]).sum(axis=1).mean()),
        }


def citebot_env(corpus: Path, work: Path, url: str) -> dict[str, str]:
    """The environment of step 5's `citebot` commands; step 2 reads its config from it too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    return env | {
        "HF_HUB_OFFLINE": "1",
        "CITEBOT_CONFIG": str(ROOT / "config.yaml"),
        "CITEBOT_CORPUS__PATH": str(corpus),
        "CITEBOT_INDEX__PATH": str(work / "index"),
        "CITEBOT_INDEX__MODEL_CACHE": str(MODEL_CACHE),
        "CITEBOT_INDEX__MULTILINGUAL_MODEL": "none",
        "CITEBOT_DATABASE__URL": url,
    }


class LoadClock:
    """When each phase of the load began: the build's progress stages, and each CREATE INDEX
    the server reports (watched from a connection of its own)."""

    def __init__(self, url: str) -> None:
        self.started = time.perf_counter()
        self.marks: list[tuple[float, str]] = []
        self.stage, self.reported = "", 0.0
        self.done = threading.Event()
        self.watcher = threading.Thread(target=self.watch, args=(url,), daemon=True)
        self.watcher.start()

    def mark(self, name: str) -> None:
        self.marks.append((time.perf_counter(), name))
        log(f"load: {name} at {time.perf_counter() - self.started:.0f} s")

    def progress(self, report: BuildProgress) -> None:
        if report.stage != self.stage:
            self.stage = report.stage
            self.mark(STAGES.get(report.stage, report.stage))
        if report.stage == "embedding" and time.perf_counter() - self.reported > 30:
            self.reported = time.perf_counter()
            log(f"load: {report.passages_embedded:,}/{report.passages_to_embed:,} embedded")

    def watch(self, url: str) -> None:
        seen: set[int] = set()
        with psycopg.connect(url, autocommit=True) as connection:
            while not self.done.wait(0.5):
                for index, table_name in connection.execute(
                    "SELECT index_relid, relid::regclass::text FROM pg_stat_progress_create_index"
                    " WHERE datname = current_database()"
                ).fetchall():
                    if index not in seen:
                        seen.add(index)
                        self.mark(f"CREATE INDEX on {table_name} (#{len(seen)})")

    def phases(self) -> list[dict[str, Any]]:
        self.done.set()
        self.watcher.join()
        marks = [*sorted(self.marks), (time.perf_counter(), "end")]
        return [
            {"phase": name, "seconds": marks[i + 1][0] - at}
            for i, (at, name) in enumerate(marks[:-1])
        ]


def table_sizes(connection: psycopg.Connection, passages: int) -> list[dict[str, Any]]:
    """Bytes per passage of every table of the database, with its TOAST and its indexes."""
    rows = connection.execute(
        "SELECT relname, pg_total_relation_size(oid) - pg_indexes_size(oid), pg_indexes_size(oid)"
        " FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        " ORDER BY pg_total_relation_size(oid) DESC"
    ).fetchall()
    database = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    sizes = [(str(name), int(data), int(indexes)) for name, data, indexes in rows]
    sizes.append(("all tables", sum(s[1] for s in sizes), sum(s[2] for s in sizes)))
    result = [
        {"table": name, "rows B/passage": data / passages,
         "indexes B/passage": indexes / passages, "total B/passage": (data + indexes) / passages,
         "total MB": (data + indexes) / 2**20}
        for name, data, indexes in sizes
    ]  # fmt: skip
    total = int(database[0]) if database else 0
    result.append({"table": "the database (pg_database_size)", "rows B/passage": "",
                   "indexes B/passage": "", "total B/passage": total / passages,
                   "total MB": total / 2**20})  # fmt: skip
    return result


def load(config: AppConfig, stand_in: PerturbedRealVectors, corpus_stats: dict) -> dict:
    """The stand-in build into an empty database, then VACUUM ANALYZE; its figures."""
    url = config.database.url.get_secret_value()  # type: ignore[union-attr]
    store = PgStore(config.index, config.passages, config.database)
    clock = LoadClock(url)
    report = store.build(config.corpus, config.passages, lambda: stand_in,  # type: ignore[arg-type, return-value]
                         clock.progress, False, None, False)  # fmt: skip
    seconds = time.perf_counter() - clock.started
    phases = clock.phases()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
        phases.append({"phase": "VACUUM ANALYZE (not in the rate)",
                       "seconds": time.perf_counter() - started})  # fmt: skip
        sizes = table_sizes(connection, report.passages)
    summary = {"passages": report.passages, "articles": report.articles,
               "files": len(list(config.corpus.path.glob("*.jsonl"))), "build s": seconds,
               "passages/s": report.passages / seconds, "corpus words": corpus_stats["words"],
               "sentence vectors": "off"}  # fmt: skip
    return {"summary": summary, "phases": phases, "sizes": sizes, "stand-in": stand_in.figures()}


def stored_vectors(connection: psycopg.Connection, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Every passage's id and English vector, read once in binary."""
    ids, matrix, filled = np.empty(count, np.int64), np.empty((count, 384), np.float32), 0
    with connection.transaction(), connection.cursor("vectors", binary=True) as cursor:
        cursor.execute("SELECT id, embedding FROM index_passages")
        while batch := cursor.fetchmany(50_000):
            ids[filled : filled + len(batch)] = [row[0] for row in batch]
            matrix[filled : filled + len(batch)] = np.stack([row[1].to_numpy() for row in batch])
            filled += len(batch)
    return ids[:filled], matrix[:filled]


def exact_top10(ids: np.ndarray, matrix: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores, rows = np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
    for begin in range(0, len(matrix), 100_000):
        block = queries @ matrix[begin : begin + 100_000].T
        keep = np.argsort(-block, axis=1)[:, :10] if block.shape[1] <= 10 else (
            np.argpartition(-block, 10, axis=1)[:, :10])  # fmt: skip
        scores = np.hstack([scores, np.take_along_axis(block, keep, axis=1)])
        rows = np.hstack([rows, ids[begin + keep]])
    best = np.argsort(-scores, axis=1)[:, :10]
    return np.take_along_axis(rows, best, axis=1)


def raw_search(url: str, queries: np.ndarray, truth: np.ndarray, sweep: list[int]) -> list[dict]:
    rows = []
    with psycopg.connect(url, autocommit=True) as connection:
        register_vector(connection)
        plan = connection.execute("EXPLAIN " + NEAREST, (queries[0],)).fetchall()
        log("plan: " + " / ".join(line[0].strip() for line in plan if "Order By" not in line[0]))
        for ef in sweep:
            connection.execute(f"SET hnsw.ef_search = {int(ef)}")
            for query in queries[:20]:  # warm up the graph's pages
                connection.execute(NEAREST, (query,)).fetchall()
            seconds, found = [], []
            for query in queries:
                started = time.perf_counter()
                got = [row[0] for row in connection.execute(NEAREST, (query,)).fetchall()]
                seconds.append(time.perf_counter() - started)
                found.append(got + [-1] * (10 - len(got)))
            p50, p95 = percentiles(seconds)
            rows.append({"search": f"HNSW, hnsw.ef_search {ef}", "queries": len(queries),
                         "recall@10": recall_at_10(np.array(found), truth),
                         "p50 ms": p50, "p95 ms": p95})  # fmt: skip
            log(f"search: {rows[-1]}")
        connection.execute("SET enable_indexscan = off")
        seconds, found = [], []
        for query in queries[:10]:
            started = time.perf_counter()
            found.append([row[0] for row in connection.execute(NEAREST, (query,)).fetchall()])
            seconds.append(time.perf_counter() - started)
        p50, p95 = percentiles(seconds)
        rows.append({"search": "exact SQL scan (enable_indexscan off)", "queries": 10,
                     "recall@10": recall_at_10(np.array(found), truth[:10]),
                     "p50 ms": p50, "p95 ms": p95})  # fmt: skip
    return rows


def answers(config: AppConfig, questions: list[str], ef_search: int, passages: int) -> dict:
    index = config.index.model_copy(update={"hnsw_ef_search": ef_search})
    service = CitebotService(config.corpus, config.passages, index, config.retrieval,
                             config.answer, config.database)  # fmt: skip
    service.answer("warm up")
    log(f"answers: {len(questions)} questions at hnsw_ef_search {ef_search}")
    seconds, found = [], 0
    for question in questions:
        started = time.perf_counter()
        found += service.answer(question).found
        seconds.append(time.perf_counter() - started)
    p50, p95 = percentiles(seconds)
    # PgIndex._tune: ef_search is at least the candidates a list asks for, at most 1000.
    used = min(1000, max(ef_search, config.retrieval.candidates))  # as PgIndex._tune
    kind = choose_index_type(index, passages)
    return {"hnsw_ef_search": ef_search, "passage search": f"{kind}" + (
            f" (ef_search {used})" if kind == "hnsw" else ""), "questions": len(questions),
            "found": found, "p50 ms": p50, "p95 ms": p95,
            "load average": os.getloadavg()[0]}  # fmt: skip


def citebot(env: dict[str, str], *args: str) -> tuple[float, str]:
    command = [str(Path(sys.executable).with_name("citebot")), *args]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return time.perf_counter() - started, done.stdout


def update(config: AppConfig, env: dict[str, str], count: int) -> dict:
    url = config.database.url.get_secret_value()  # type: ignore[union-attr]
    with psycopg.connect(url) as connection:
        state = PgState.read(connection)
        rows = connection.execute("SELECT relpath, sha256 FROM index_sources").fetchall()
        stored: dict[str, str] = dict(rows)
    # Either mismatch would make `citebot index` embed passages of the base with the real model.
    assert state and state.identity == embedding_identity(config.index, config.passages), state
    sources, _ = scan_corpus(config.corpus.path, int(config.corpus.max_file_mb * 1e6))
    if stored != {source.relpath: source.sha256 for source in sources}:
        raise SystemExit(f"{config.corpus.path} changed since the database was loaded: --reload")
    new_articles(config.corpus.path, count)
    log(f"update: {count} new articles, citebot index")
    try:
        index_seconds, _ = citebot(env, "index")
        ask_seconds, out = citebot(env, "ask", "--json", QUESTION)
    finally:
        for number in range(count):
            (config.corpus.path / f"new-{number:02d}.md").unlink()
    citations = json.loads(out.splitlines()[-1])["citations"]
    cited = [(c["rank"], "4,217" in c["snippet"]) for c in citations if c["doc_id"] == "new-00"]
    log("update: new articles removed, citebot index")
    restore_seconds, _ = citebot(env, "index")
    with psycopg.connect(url) as connection:
        restored = PgState.read(connection)
    return {"new articles": count, "citebot index s": index_seconds,
            "citebot ask s (fresh process)": ask_seconds,
            "answerable after s": index_seconds + ask_seconds,
            # The stand-in vectors carry no meaning of their texts, so a few may outrank it.
            "new article cited": f"rank {cited[0][0]} of {len(citations)}, sentence "
            + ("quoted" if cited[0][1] else "not quoted") if cited else "no",
            "restore (files removed, citebot index) s": restore_seconds,
            "passages after restore": restored.passage_count if restored else 0}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="postgresql:// URL of a server (a database is made there)")
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--corpus", type=Path, help="default: bench/out/scale/corpus-<N>")
    parser.add_argument("--real-index", type=Path, default=ROOT / "bench/out/devset-index/wikinews",
                        help="a real build whose vectors the stand-in perturbs")  # fmt: skip
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 100, 200, 400])
    parser.add_argument("--reload", action="store_true", help="load the database again")
    args = parser.parse_args()
    label = size_label(args.passages)
    corpus = (args.corpus or OUT / f"corpus-{label}").resolve()
    if not stats_file(corpus).exists():
        started = time.perf_counter()
        stats = write_corpus(corpus, args.passages, seed=1)
        log(f"wrote {corpus}: {stats} in {time.perf_counter() - started:.0f} s")
    work = OUT / f"pgscale-{label}"
    name = f"pgscale_{label}"
    url = f"{args.url.rpartition('/')[0]}/{name}"
    env = citebot_env(corpus, work, url)
    with mock.patch.dict(os.environ, env, clear=True):
        config = load_config()
    saved = work / "load.json"
    figures = json.loads(saved.read_text()) if saved.exists() and not args.reload else None
    try:
        with psycopg.connect(url) as connection:
            state = PgState.read(connection)
    except psycopg.OperationalError:
        state = None
    if figures is None or state is None or state.passage_count != figures["summary"]["passages"]:
        fresh_database(args.url, name)
        stand_in = PerturbedRealVectors(real_vectors(args.real_index))
        figures = load(config, stand_in, json.loads(stats_file(corpus).read_text()))
        work.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    passages = figures["summary"]["passages"]

    print(f"## PostgreSQL store at {passages:,} passages ({code_state()})\n")
    print(machine())
    print(f"\nCorpus: {corpus}; database {name}; loaded {time.ctime(saved.stat().st_mtime)}")
    table("Bulk load (PgStore.build, stand-in embedder)", [figures["summary"]])
    table("Where the load's time went", figures["phases"])
    table("Database size per passage, after the load", figures["sizes"])
    table("Stand-in vectors", [figures["stand-in"]])

    _, _, queries, relevant = load_scifact()
    texts = [queries[q] for q in queries if q in relevant][: args.questions]
    embedder = Embedder(config.index)
    vectors = np.stack([embedder.embed_query(t) for t in texts]).astype(np.float32)
    log(f"search: {len(texts)} claims embedded; reading every stored vector for exact search")
    with psycopg.connect(url) as connection:
        register_vector(connection)
        ids, matrix = stored_vectors(connection, passages)
    truth = exact_top10(ids, matrix, vectors)
    del ids, matrix
    search = raw_search(url, vectors, truth, args.ef_search)
    table(f"Raw passage search, top-10 against exact (load average {os.getloadavg()[0]:.1f})",
          search)  # fmt: skip
    enough = [int(r["search"].split()[-1]) for r in search[:-1] if r["recall@10"] >= 0.95]
    shipped = config.index.hnsw_ef_search
    rows = [answers(config, texts, shipped, passages)]
    if enough and max(enough[0], config.retrieval.candidates) != max(
        shipped, config.retrieval.candidates
    ):
        rows.append(answers(config, texts, enough[0], passages))
    table("CitebotService.answer, one question after another (SciFact claims)", rows)
    close_pools()
    table("Update: new articles through the real `citebot index`", [update(config, env, 10)])
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
