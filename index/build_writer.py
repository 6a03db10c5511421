"""Writes a new build directory: tables, each model's vectors and faiss index, BM25, manifest.

Passages of unchanged files take their vectors from the serving build; new ones take them from
this build's embedded chunks, in the same order as they were embedded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.build_embedding import EmbeddedTexts
from index.config import IndexConfig, PassageConfig
from index.corpus import SourceFile
from index.dense import choose_index_type, index_parameters
from index.documents import ArticleFileError, read_file
from index.embedder import resolve_backend
from index.languages import scripts_of
from index.lexical import TOKENIZER, LexicalIndex
from index.models import Document, Passage
from index.passages import passage_sentences, split_passages
from index.segments import SegmentedSpace, open_space
from index.store import JsonlTable, write_manifest
from index.vector_space import MULTILINGUAL, PRIMARY, SpaceFiles, SpaceWriter, VectorSpace

logger = logging.getLogger(__name__)

SCRIPTS = "scripts.npy"  # each passage's alphabet (index/languages.py), one byte a passage
SKIPPED_LINES = "skipped_lines"  # a source's .jsonl lines that could not be read, and why
CLAIMED = "claimed_id"  # in a documents.jsonl record whose id is not the one it claimed
# Each article's [id, claimed id], row by row: a delta build checks new ids against a base of a
# million passages without parsing every article's text (index/delta_build.py).
ARTICLE_IDS = "article_ids.json"


def embedding_text(title: str, passage_text: str) -> str:
    """What is embedded and BM25-indexed for a passage: its article's title gives it context."""
    return f"{title}\n{passage_text}"


@dataclass
class SourcePlan:
    """One corpus file in the new build: freshly read, or reused from the serving build."""

    source: SourceFile
    documents: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    reused_rows: range | None = None  # rows of the serving build's vectors
    skipped_lines: list[str] = field(default_factory=list)  # "feed.jsonl line 3: not JSON"


@dataclass(frozen=True)
class BuildInputs:
    """Everything a build directory is written from."""

    build_id: str
    plans: list[SourcePlan]
    embedded: EmbeddedTexts
    previous_dir: Path | None
    skipped: list[str]
    unreadable: dict[str, tuple[str, str]]  # relpath -> (sha256, reason)
    with_sentences: bool
    started: float  # time.perf_counter() at the start of the build
    renamed: list[str] = field(default_factory=list)  # articles not given the id they claimed


def write_build(
    work: Path,
    inputs: BuildInputs,
    index: IndexConfig,
    passages: PassageConfig,
    check_cancelled: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Write the build into `work` and return its manifest data; `check_cancelled` runs between
    the steps and raises to stop."""
    plans = inputs.plans
    count = sum(len(p.passages) for p in plans)
    sentence_count = sum(r["sentences"] for p in plans for r in p.passages) * inputs.with_sentences
    index_type = choose_index_type(index, count)
    spaces: list[tuple[SpaceFiles, Iterator[np.ndarray]]] = [
        (PRIMARY, inputs.embedded.primary_rows())
    ]
    if index.multilingual_model != "none":
        spaces.append((MULTILINGUAL, inputs.embedded.multilingual_rows()))
    dimensions = {}
    for number, (files, rows) in enumerate(spaces):
        check_cancelled()
        dimensions[files] = _write_space(
            work, files, rows, inputs, count, sentence_count, index, index_type, number == 0
        )
    check_cancelled()
    sources = _write_tables(work, plans)
    np.save(work / SCRIPTS, scripts_of([r["text"] for p in plans for r in p.passages]))
    check_cancelled()
    LexicalIndex.build([r["embed"] for r in iter_passages(plans)]).save(work / "bm25")
    data = {
        "build_id": inputs.build_id,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - inputs.started, 3),
        "model": {
            "name": index.model,
            "backend": resolve_backend(index),
            "dimension": dimensions[PRIMARY],
        },
        "multilingual_model": {
            "name": index.multilingual_model,
            "dimension": dimensions.get(MULTILINGUAL, 0),
        },
        "tokenizer": TOKENIZER,
        "passage_config": passages.model_dump(),
        "index_type": index_type,
        "structure": {
            "index_type": index_type,
            **index_parameters(index, index_type),
            "sentence_vectors": inputs.with_sentences,
        },
        "sentence_vectors": sentence_count,
        "passage_count": count,
        "article_count": sum(len(p.documents) for p in plans),
        "sources": sources,
        "skipped": inputs.skipped,
        "renamed": inputs.renamed,
        # Files that could not be read, by hash: an unchanged bad file is no reason to rebuild.
        "unreadable": {
            name: {"sha256": sha, "reason": why} for name, (sha, why) in inputs.unreadable.items()
        },
    }
    write_manifest(work, data)
    return data


def _write_space(
    work: Path,
    files: SpaceFiles,
    new_rows: Iterator[np.ndarray],
    inputs: BuildInputs,
    count: int,
    sentence_count: int,
    index: IndexConfig,
    index_type: str,
    first: bool,
) -> int:
    """One model's vectors: reused rows copied from the serving build, new ones from the
    embedded chunks (each passage followed by its sentences). Returns the dimension."""
    old = open_space(inputs.previous_dir, files, index) if inputs.previous_dir else None
    dimension = _dimension(inputs, files, old)
    writer = SpaceWriter(work, files, count, sentence_count, dimension, write_offsets=first)
    row = 0
    for plan in inputs.plans:
        if plan.reused_rows is not None:
            if old is None:  # the builder reuses rows only from a build with the same models
                raise ValueError(f"the serving build has no {files.passages} to reuse")
            reused = plan.reused_rows
            writer.add_passages(row, old.vectors[reused.start : reused.stop])
            if inputs.with_sentences and old.sentences is not None:
                for offset, old_row in enumerate(reused):
                    writer.add_sentences(row + offset, old.sentences.of_passage(old_row))
        else:
            for offset, record in enumerate(plan.passages):
                writer.add_passages(row + offset, next(new_rows)[None, :])
                if inputs.with_sentences:
                    sentences = [next(new_rows) for _ in range(record["sentences"])]
                    writer.add_sentences(row + offset, np.stack(sentences))
        row += len(plan.passages)
    writer.finish(index_type, index)
    return dimension


def _dimension(
    inputs: BuildInputs, files: SpaceFiles, old: VectorSpace | SegmentedSpace | None
) -> int:
    for chunk in inputs.embedded.chunks:
        vectors = chunk.primary if files is PRIMARY else chunk.multilingual
        if vectors is not None:
            return int(vectors.shape[1])
    if old is not None:
        return old.dimension
    return 384 if files is PRIMARY else 512  # an empty corpus: any width will do


def _write_tables(work: Path, plans: list[SourcePlan]) -> dict[str, Any]:
    """documents.jsonl and passages.jsonl; returns the manifest's `sources` entry."""
    sources: dict[str, Any] = {}
    row = doc_row = 0
    for plan in plans:
        sources[plan.source.relpath] = {
            "sha256": plan.source.sha256,
            "first_row": row,
            "passages": len(plan.passages),
            "document_rows": [doc_row, doc_row + len(plan.documents)],
        }
        if plan.skipped_lines:
            sources[plan.source.relpath][SKIPPED_LINES] = plan.skipped_lines
        row += len(plan.passages)
        doc_row += len(plan.documents)
    JsonlTable.write(work / "documents.jsonl", (d for p in plans for d in p.documents))
    ids = [[d["doc_id"], d.get(CLAIMED, d["doc_id"])] for p in plans for d in p.documents]
    (work / ARTICLE_IDS).write_text(json.dumps(ids, ensure_ascii=False), encoding="utf-8")
    JsonlTable.write(
        work / "passages.jsonl",
        ({k: v for k, v in r.items() if k != "embed"} for r in iter_passages(plans)),
    )
    return sources


def read_source(source: SourceFile, settings: PassageConfig) -> SourcePlan:
    """A corpus file read afresh: its articles and passages (ArticleFileError if it has none)."""
    plan = SourcePlan(source)
    parsed = read_file(source)
    plan.skipped_lines.extend(problem.describe(source.relpath) for problem in parsed.problems)
    for document in parsed.documents:
        passages = split_passages(document, settings)
        plan.documents.append(document_record(document, len(passages)))
        plan.passages.extend(passage_record(p, document.title) for p in passages)
    return plan


def file_error_reason(error: Exception) -> str:
    """Why a file was skipped, for its warning."""
    if isinstance(error, ArticleFileError):
        return str(error)
    # Not one of the loader's own reasons: a library failed on this file's content.
    logger.debug("reading a file failed", exc_info=True)
    return f"could not be read ({type(error).__name__}: {error})"


def document_record(document: Document, passages: int) -> dict[str, Any]:
    """An article as documents.jsonl stores it."""
    return {
        "doc_id": document.doc_id,
        "title": document.title,
        "date": document.date,
        "source": document.source,
        "url": document.url,
        "source_path": document.source_path,
        "passages": passages,
        "text": document.text,
    }


def passage_record(passage: Passage, title: str) -> dict[str, Any]:
    """A passage as passages.jsonl stores it, plus "embed": the text to embed (not stored)."""
    return {
        "id": passage.passage_id,
        "doc_id": passage.doc_id,
        "start": passage.start,
        "end": passage.end,
        "text": passage.text,
        "sentences": len(passage_sentences(passage.text)),
        "embed": embedding_text(title, passage.text),
    }


def iter_passages(plans: list[SourcePlan]) -> Iterator[dict[str, Any]]:
    for plan in plans:
        titles: dict[str, str] | None = None  # a .jsonl file can hold thousands of articles
        for record in plan.passages:
            if "embed" not in record:  # reused from the serving build
                if titles is None:
                    titles = {d["doc_id"]: d["title"] for d in plan.documents}
                record["embed"] = embedding_text(titles[record["doc_id"]], record["text"])
            yield record


def embedding_inputs(
    passages: list[dict[str, Any]], with_sentences: bool
) -> list[tuple[str, bool]]:
    """What to embed, in order: each passage, then (optionally) each of its sentences."""
    texts: list[tuple[str, bool]] = []
    for record in passages:
        texts.append((record["embed"], True))
        if with_sentences:
            texts.extend((sentence, False) for sentence in passage_sentences(record["text"]))
    return texts
