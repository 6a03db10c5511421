"""The database store's own figures, beside the local store, on the dev set's Wikinews corpus:

    HF_HUB_OFFLINE=1 python bench/pg_store_figures.py POSTGRES_URL

1. bulk load: the published local index copied into an empty database (`citebot migrate
   --to-database`: nothing embedded), passages per second, and the database's size per passage
   (each table with its indexes) beside the local build's bytes per passage;
2. answering: p50/p95 of `CitebotService.answer` over the dev set's Wikinews questions, each
   store, in the same run;
3. an update: 10 new articles (a new .jsonl file) built into the database, and how long from
   the start of `citebot index` until a question about one of them is answered from it.

The local index is the one bench/evaluate_devset.py builds (bench/out/devset-index/wikinews).
Prints markdown to stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from bench.devset_corpora import corpus_dir  # noqa: E402
from bench.devset_scoring import read_devset  # noqa: E402
from bot.config import load_config  # noqa: E402
from index.config import DatabaseConfig, mask_url  # noqa: E402
from index.database import close_pools  # noqa: E402
from index.pg_migrate import copy_local_index  # noqa: E402
from index.pg_store import PgStore  # noqa: E402
from index.retriever import LoadedIndex  # noqa: E402
from index.service import CitebotService  # noqa: E402

TABLES = ("index_articles", "index_passages", "index_sentences", "index_postings",
          "index_segments", "index_dead", "index_term_stats", "index_sources",
          "index_state")  # fmt: skip


def fresh_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def percentiles(values: list[float]) -> str:
    ms = np.asarray(values) * 1000
    return f"p50 {np.percentile(ms, 50):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms"


def main() -> int:
    url = sys.argv[1]
    config = load_config(ROOT / "config.yaml")
    index = config.index.model_copy(update={"path": ROOT / "bench/out/devset-index/wikinews"})
    local = LoadedIndex.open_current(index, verify_checksums=False)
    database = DatabaseConfig(url=fresh_database(url, "figures_wikinews"))
    print(f"## Database store figures (Wikinews, {local.manifest.passage_count} passages)\n")
    print(f"Server: {mask_url(url)}\n")

    copied = copy_local_index(local, index, database)
    store = PgStore(index, config.passages, database)
    with store.connections.connection() as connection:
        sizes = {
            table: connection.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }
    local_bytes = sum(f["bytes"] for f in local.manifest.data["files"].values())
    passages = copied.passages
    print(f"- bulk load (copy of the local build, no embedding): {passages} passages in "
          f"{copied.seconds} s = {passages / copied.seconds:.0f} passages/s")  # fmt: skip
    print(f"- database size: {sum(sizes.values()) / passages / 1024:.1f} KiB per passage ("
          + ", ".join(f"{t} {b / passages / 1024:.1f}" for t, b in sizes.items())
          + f"); the local build: {local_bytes / passages / 1024:.1f} KiB per passage")  # fmt: skip

    questions = [q for q in read_devset(ROOT / "bench/devset.jsonl") if q.corpus == "wikinews"]
    corpus = config.corpus.model_copy(update={"path": corpus_dir("wikinews"), "max_file_mb": 100})
    made = {
        "local files": CitebotService(corpus, config.passages, index, config.retrieval,
                                      config.answer),
        "PostgreSQL": CitebotService(corpus, config.passages, index, config.retrieval,
                                     config.answer, database),
    }  # fmt: skip
    for service in made.values():
        service.answer("warm up")
    for name, service in made.items():
        seconds = []
        for question in questions:
            started = time.perf_counter()
            service.answer(question.text)
            seconds.append(time.perf_counter() - started)
        print(f"- answering, {name}: {percentiles(seconds)} over {len(seconds)} questions")

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "corpus"
        shutil.copytree(corpus_dir("wikinews"), copy)
        records = [json.loads(line) for line in (copy / "en.jsonl").open(encoding="utf-8")][:10]
        with (copy / "new-articles.jsonl").open("w", encoding="utf-8") as out:
            for number, record in enumerate(records):
                record["id"] = f"new-article-{number}"
                record["title"] = f"Zanzibar ferry notice {number}: {record.get('title', '')}"
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        service = CitebotService(
            corpus.model_copy(update={"path": copy}), config.passages, index, config.retrieval,
            config.answer, database,
        )  # fmt: skip
        service.embedder  # noqa: B018  # loaded before the clock starts, as a running bot has it
        started = time.perf_counter()
        report = service.rebuild()
        answer = service.answer("Zanzibar ferry notice 3")
        seconds = time.perf_counter() - started
        cited = [c.doc_id for c in answer.citations]
        print(f"- 10 new articles: built ({report.passages_embedded} passages embedded) and "
              f"answered from in {seconds:.1f} s; cited {cited[:3]}")  # fmt: skip
    close_pools()
    return 0


if __name__ == "__main__":
    sys.exit(main())
