"""The `full` stage of bench/scale.py: a complete 1M-passage build directory, put together with
the store's own functions (JsonlTable, LexicalIndex, write_manifest, IndexLayout.publish) from
corpus-1m's real text and the 1M vectors of the `search` stage, then loaded and asked questions.

The vectors are those of the search stage (real vectors and perturbed copies), not embeddings
of these passages' texts, so answers are not meaningful; their latency and the load are.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.embed_speed import load_scifact
from bench.scale import (
    LARGE,
    OUT,
    file_bytes,
    index_config,
    peak_rss_mb,
    percentiles,
    rss_mb,
    save,
    table,
)
from bench.scale_search import VECTORS_BACKEND
from index.answering import answer_question
from index.build_writer import SCRIPTS, document_record, passage_record
from index.config import AnswerConfig, PassageConfig, RetrievalConfig
from index.corpus import scan_corpus
from index.dense import search_dense
from index.documents import load_file
from index.embedder import Embedder
from index.lexical import TOKENIZER, LexicalIndex, tokenize
from index.passages import split_passages
from index.retriever import LoadedIndex
from index.store import IndexLayout, JsonlTable, write_manifest


def assemble_and_measure(args: argparse.Namespace) -> None:
    root = OUT / "index-1m"
    (OUT / "full-count.json").unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    # The 1M vectors are the English model's: the English path, no multilingual space.
    config = index_config(
        root,
        hnsw_m=args.hnsw_m[0],
        hnsw_ef_search=args.ef_search,
        backend=VECTORS_BACKEND,
        multilingual_model="none",
    )
    work = root / "staging" / "assembled"
    work.mkdir(parents=True)
    result: dict[str, Any] = {}

    started = time.perf_counter()
    documents, passages, texts, sources = read_corpus(LARGE)
    JsonlTable.write(work / "documents.jsonl", documents)
    JsonlTable.write(work / "passages.jsonl", passages)
    result["read_and_split_seconds"] = time.perf_counter() - started
    count = len(passages)
    del documents, passages
    # The search stage makes exactly this many vectors (the splitter decides the count).
    (OUT / "full-count.json").write_text(json.dumps({"passages": count}))
    before = rss_mb()
    started = time.perf_counter()
    lexical = LexicalIndex.build(texts)
    result["bm25_build_seconds"] = time.perf_counter() - started
    result["bm25_build_rss_mb"] = peak_rss_mb() - before
    lexical.save(work / "bm25")
    del lexical, texts
    print(json.dumps(result, indent=1), flush=True)

    while not (OUT / "search.json").exists():  # the search stage makes the vectors and HNSW
        time.sleep(10)
    shutil.copyfile(OUT / "vectors-1m.npy", work / "vectors.npy")
    assert np.load(work / "vectors.npy", mmap_mode="r").shape[0] == count
    hnsw_file = OUT / f"hnsw-1m-m{args.hnsw_m[0]}-efc{args.ef_construction}.faiss"
    shutil.copyfile(hnsw_file, work / "dense.faiss")
    np.save(work / SCRIPTS, np.zeros(count, dtype=np.uint8))  # English text: Latin alphabet
    sweep = json.loads((OUT / "search.json").read_text())["hnsw"][0]["sweep"]
    enough = [row["efSearch"] for row in sweep if row["recall@10"] >= 0.95]
    config = config.model_copy(update={"hnsw_ef_search": min(enough) if enough else args.ef_search})
    result["hnsw_ef_search"] = config.hnsw_ef_search
    print(f"efSearch {config.hnsw_ef_search}: the smallest with recall@10 >= 0.95", flush=True)

    started = time.perf_counter()
    write_manifest(
        work,
        {
            "build_id": (
                build_id := datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
            ),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": 0.0,
            "model": {"name": config.model, "backend": VECTORS_BACKEND, "dimension": 384},
            "multilingual_model": {"name": "none", "dimension": 0},
            "tokenizer": TOKENIZER,
            "passage_config": PassageConfig().model_dump(),
            "index_type": "hnsw",
            "passage_count": count,
            "article_count": sum(
                s["document_rows"][1] - s["document_rows"][0] for s in sources.values()
            ),
            "sources": sources,
            "skipped": [],
        },
    )
    result["manifest_sha256_seconds"] = time.perf_counter() - started
    IndexLayout(root).publish(work, build_id)
    build = IndexLayout(root).current_build()
    assert build is not None
    sizes = file_bytes(build)
    result["bytes_per_passage"] = {k: v / count for k, v in sizes.items()}
    table(
        f"bytes per passage ({count:,} passages)",
        [{"structure": k, "MB": v / 2**20, "bytes/passage": v / count} for k, v in sizes.items()],
    )

    embedder = Embedder(config)
    loads = []
    for verify in (False, True, False):
        before = rss_mb()
        started = time.perf_counter()
        loaded = LoadedIndex.open_current(config, verify_checksums=verify)
        loads.append(
            {
                "verify_checksums": verify,
                "load s": time.perf_counter() - started,
                "RSS +MB": rss_mb() - before,
                "RSS bytes/passage": (rss_mb() - before) * 2**20 / count,
            }
        )
    table(
        "LoadedIndex.open_current at 1M (warm page cache; the first row pays nothing for "
        "checksums)",
        loads,
    )
    result["loads"] = loads
    result["latency"] = answer_latency(loaded, embedder, args.queries)
    result["passages"] = count
    save("full", result)


def remeasure(args: argparse.Namespace) -> None:
    """Load and answer again on the assembled 1M build with the current code, after swapping in
    the HNSW index of --hnsw-m/--ef-construction; the manifest is rewritten for the new files."""
    root = OUT / "index-1m"
    build = IndexLayout(root).current_build()
    assert build is not None
    hnsw_file = OUT / f"hnsw-1m-m{args.hnsw_m[0]}-efc{args.ef_construction}.faiss"
    shutil.copyfile(hnsw_file, build / "dense.faiss")
    data = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    data = {k: v for k, v in data.items() if k not in ("files", "format_version")}
    started = time.perf_counter()
    write_manifest(build, data)
    result: dict[str, Any] = {"manifest_sha256_seconds": time.perf_counter() - started}
    config = index_config(root, hnsw_ef_search=args.ef_search, backend=VECTORS_BACKEND)
    embedder = Embedder(config)
    loads = []
    for verify in (False, True):
        before = rss_mb()
        started = time.perf_counter()
        loaded = LoadedIndex.open_current(config, verify_checksums=verify)
        grown = rss_mb() - before
        loads.append(
            {
                "verify_checksums": verify,
                "load s": time.perf_counter() - started,
                "RSS +MB": grown,
                "RSS bytes/passage": grown * 2**20 / loaded.manifest.passage_count,
            }
        )
    table(
        f"LoadedIndex.open_current at 1M, HNSW M={args.hnsw_m[0]} efSearch={args.ef_search} "
        "(warm page cache; the second load shares the first's memory)",
        loads,
    )
    result["loads"] = loads
    result["latency"] = answer_latency(loaded, embedder, args.queries)
    save(f"answers-m{args.hnsw_m[0]}-ef{args.ef_search}", result)


def read_corpus(folder: Path) -> tuple[list[dict], list[dict], list[str], dict[str, Any]]:
    """Documents, passage records and BM25 texts, as the builder makes them."""
    documents: list[dict] = []
    passages: list[dict] = []
    texts: list[str] = []
    sources: dict[str, Any] = {}
    split = PassageConfig()
    files, _ = scan_corpus(folder, 200_000_000)
    for source in files:
        first_row, first_doc = len(passages), len(documents)
        for document in load_file(source):
            pieces = split_passages(document, split)
            documents.append(document_record(document, len(pieces)))
            for piece in pieces:
                record = passage_record(piece, document.title)
                texts.append(record.pop("embed"))
                passages.append(record)
        sources[source.relpath] = {
            "sha256": source.sha256,
            "first_row": first_row,
            "passages": len(passages) - first_row,
            "document_rows": [first_doc, len(documents)],
        }
    return documents, passages, texts, sources


def answer_latency(loaded: LoadedIndex, embedder: Embedder, count: int) -> list[dict]:
    """Each part of answering, one question at a time, and the whole answer."""
    _, _, queries, relevant = load_scifact()
    questions = [queries[q] for q in queries if q in relevant][:count]
    retrieval, answer = RetrievalConfig(), AnswerConfig(min_score=-1.0)
    parts: dict[str, list[float]] = {
        k: [] for k in ("embed query", "dense (HNSW)", "BM25", "whole answer")
    }
    for question in questions:
        started = time.perf_counter()
        vector = embedder.embed_query(question)
        parts["embed query"].append(time.perf_counter() - started)
        started = time.perf_counter()
        search_dense(loaded.dense, vector, retrieval.candidates)
        parts["dense (HNSW)"].append(time.perf_counter() - started)
        terms = tokenize([question])[0]
        started = time.perf_counter()
        loaded.lexical.search(terms, retrieval.candidates)
        parts["BM25"].append(time.perf_counter() - started)
        started = time.perf_counter()
        answer_question(question, loaded, embedder, retrieval, answer)
        parts["whole answer"].append(time.perf_counter() - started)
    rows = [
        {"part": name, "p50 ms": percentiles(s)[0], "p95 ms": percentiles(s)[1]}
        for name, s in parts.items()
    ]
    table(
        f"answer latency at {loaded.manifest.passage_count:,} passages, {len(questions)} SciFact "
        f"questions one at a time (min_score off so every answer quotes)",
        rows,
    )
    print(f"process RSS after answering: {rss_mb():.0f} MB (pid {os.getpid()})")
    return rows
