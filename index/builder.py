"""Builds the index: scan the corpus, embed only what changed, write a new build, publish it.

Incremental: a file whose content hash is unchanged reuses its passages and vectors from the
build that is serving. Resumable: new vectors are saved in chunks under the staging folder, so
a killed build picks up where it stopped. Atomic: nothing is visible until `publish`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.config import CorpusConfig, IndexConfig, PassageConfig
from index.dense import build_dense_index, choose_index_type, save_dense_index
from index.documents import ArticleFileError, SourceFile, load_file, scan_corpus
from index.embedder import Embedder, resolve_backend
from index.errors import BuildError, CitebotError, IndexMismatchError, IndexNotFoundError
from index.lexical import LexicalIndex
from index.models import BuildProgress, BuildReport, Document, Passage
from index.passages import passage_sentences, split_passages
from index.sentence_vectors import SentenceVectors, SentenceVectorWriter
from index.store import BuildLock, IndexLayout, JsonlTable, Manifest, read_manifest, write_manifest

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[BuildProgress], None]


def embedding_text(title: str, passage_text: str) -> str:
    """What is embedded and BM25-indexed for a passage: its article's title gives it context."""
    return f"{title}\n{passage_text}"


@dataclass
class _SourcePlan:
    """One corpus file in the new build: freshly read, or reused from the serving build."""

    source: SourceFile
    documents: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    reused_rows: range | None = None  # rows of the serving build's vectors


@dataclass(frozen=True)
class _Settings:
    corpus: CorpusConfig
    passages: PassageConfig
    index: IndexConfig


def build_index(
    corpus: CorpusConfig,
    passages: PassageConfig,
    index: IndexConfig,
    get_embedder: Callable[[], Embedder],
    progress: ProgressCallback | None = None,
    full: bool = False,
) -> BuildReport:
    """Build or update the index under the build lock; raises BuildError if it fails."""
    layout = IndexLayout(index.path)
    with BuildLock(layout):
        try:
            return _Build(_Settings(corpus, passages, index), layout, get_embedder, progress).run(
                full
            )
        except CitebotError:
            raise
        except (OSError, ValueError, RuntimeError, MemoryError) as error:
            # The caller reports the error in one line; the traceback is for `citebot -vv`.
            logger.debug("build failed", exc_info=True)
            raise BuildError(
                f"the build failed and the previous index keeps serving: {_reason(error)}"
            ) from error


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.errno is None:
        # numpy reports a short write ("N requested and M written") without saying why.
        return f"{error} (is the disk full?)"
    return str(error)


class _Build:
    def __init__(
        self,
        settings: _Settings,
        layout: IndexLayout,
        get_embedder: Callable[[], Embedder],
        progress: ProgressCallback | None,
    ) -> None:
        self.settings = settings
        self.layout = layout
        self.get_embedder = get_embedder
        self.progress = progress or (lambda _p: None)
        self.started = time.perf_counter()
        self.embedded = 0  # passages embedded by this run (not resumed from saved chunks)
        self.unreadable: dict[str, tuple[str, str]] = {}  # relpath -> (sha256, reason)

    def run(self, full: bool) -> BuildReport:
        serving, serving_dir = self._previous_build(full)
        previous, previous_dir = (None, None) if full else (serving, serving_dir)
        sources, skipped = scan_corpus(self.settings.corpus.path, self._max_bytes())
        old_sources = serving.sources if serving else {}
        if previous is not None and _fingerprint(sources) == _fingerprint_of(previous):
            self.layout.remove_stale_staging(keep=None)
            skipped = skipped + [u["reason"] for u in previous.data.get("unreadable", {}).values()]
            return self._report(
                previous.build_id, previous, [], skipped, sources, old_sources, 0, True
            )
        scan_skipped = list(skipped)
        plans, skipped = self._plan(sources, skipped, previous, previous_dir)
        new_passages = [p for plan in plans if plan.reused_rows is None for p in plan.passages]
        plan_key = self._plan_key(plans)
        self.layout.remove_stale_staging(keep=plan_key)
        staging = self.layout.staging_dir(plan_key)
        with_sentences = self._with_sentences(plans)
        if with_sentences and previous is not None and not previous.data.get("sentence_vectors"):
            # The serving build has no sentence vectors to reuse: embed everything once.
            plans, skipped = self._plan(sources, scan_skipped, None, None)
            new_passages = [p for plan in plans for p in plan.passages]
        vectors = self._embed(_embedding_inputs(new_passages, with_sentences), staging / "chunks")
        build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
        work = staging / "build"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        manifest_data = self._write(
            work, build_id, plans, vectors, previous_dir, skipped, with_sentences
        )
        self.progress(BuildProgress("publishing"))
        self.layout.publish(work, build_id)
        shutil.rmtree(staging, ignore_errors=True)
        self.layout.remove_old_builds()
        return self._report(
            build_id,
            Manifest(manifest_data),
            plans,
            skipped,
            sources,
            old_sources,
            self.embedded,
        )

    def _max_bytes(self) -> int:
        return int(self.settings.corpus.max_file_mb * 1_000_000)

    def _previous_build(self, full: bool) -> tuple[Manifest | None, Path | None]:
        """The serving build, if its vectors can be reused by this build's settings."""
        build_dir = self.layout.current_build()
        if build_dir is None:
            return None, None
        try:
            manifest = read_manifest(build_dir, verify_checksums=True)
        except (IndexMismatchError, IndexNotFoundError) as error:
            if not full:  # a full build was asked for: nothing to warn about
                logger.warning("rebuilding everything: %s", error)
            return None, None
        same_model = manifest.model == self.settings.index.model
        same_model = same_model and manifest.backend == resolve_backend(self.settings.index)
        same_split = manifest.data.get("passage_config") == self.settings.passages.model_dump()
        if not (same_model and same_split):
            logger.warning("rebuilding everything: the model or passage settings changed")
            return None, None
        return manifest, build_dir

    def _plan(
        self,
        sources: list[SourceFile],
        skipped: list[str],
        previous: Manifest | None,
        previous_dir: Path | None,
    ) -> tuple[list[_SourcePlan], list[str]]:
        old = previous.sources if previous else {}
        old_docs = JsonlTable(previous_dir / "documents.jsonl") if previous_dir else None
        old_passages = JsonlTable(previous_dir / "passages.jsonl") if previous_dir else None
        plans: list[_SourcePlan] = []
        seen_ids: set[str] = set()
        skipped = list(skipped)
        for number, source in enumerate(sources, start=1):
            self.progress(BuildProgress("scanning", files_scanned=number, files_total=len(sources)))
            info = old.get(source.relpath)
            if info and info["sha256"] == source.sha256 and old_docs and old_passages:
                rows = range(info["first_row"], info["first_row"] + info["passages"])
                docs = [old_docs[i] for i in range(*info["document_rows"])]
                plan = _SourcePlan(source, docs, [old_passages[r] for r in rows], rows)
            else:
                try:
                    plan = self._read_source(source)
                except ArticleFileError as error:
                    self.unreadable[source.relpath] = (source.sha256, f"{source.relpath}: {error}")
                    skipped.append(f"{source.relpath}: {error}")
                    logger.warning("skipped %s: %s", source.relpath, error)
                    continue
            clash = seen_ids & {d["doc_id"] for d in plan.documents}
            if clash:
                reason = f"article id {sorted(clash)[0]} is already used by another file"
                skipped.append(f"{source.relpath}: {reason}")
                logger.warning("skipped %s: %s", source.relpath, reason)
                continue
            seen_ids.update(d["doc_id"] for d in plan.documents)
            plans.append(plan)
        return plans, skipped

    def _read_source(self, source: SourceFile) -> _SourcePlan:
        plan = _SourcePlan(source)
        for document in load_file(source):
            passages = split_passages(document, self.settings.passages)
            plan.documents.append(document_record(document, len(passages)))
            plan.passages.extend(passage_record(p, document.title) for p in passages)
        return plan

    def _with_sentences(self, plans: list[_SourcePlan]) -> bool:
        """Sentence vectors (for ranking and snippets) unless the corpus is too large for them."""
        setting = self.settings.index.sentence_vectors
        if setting != "auto":
            return setting == "on"
        passages = sum(len(plan.passages) for plan in plans)
        return passages <= self.settings.index.sentence_vectors_max_passages

    def _plan_key(self, plans: list[_SourcePlan]) -> str:
        """Names the staging folder: the same inputs resume the same folder after a kill."""
        inputs = [self.settings.index.model, self.settings.passages.model_dump()]
        inputs += [resolve_backend(self.settings.index), self._with_sentences(plans)]
        inputs += [(p.source.relpath, p.source.sha256) for p in plans if p.reused_rows is None]
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]

    def _embed(self, texts: list[tuple[str, bool]], chunk_dir: Path) -> list[np.ndarray]:
        """Embed new texts, (text, is a passage) pairs, in chunks saved to disk; chunks saved
        before a kill are reused."""
        chunk_dir.mkdir(parents=True, exist_ok=True)
        size = self.settings.index.chunk_size
        total, done = len(texts), 0
        chunks: list[np.ndarray] = []

        def advance(count: int) -> None:
            nonlocal done
            done += count
            self.progress(
                BuildProgress("embedding", passages_embedded=done, passages_to_embed=total)
            )

        if total:
            self.progress(BuildProgress("loading model"))
            self.get_embedder()  # loaded before the embedding bar starts its clock
        self.progress(BuildProgress("embedding", passages_to_embed=total))
        for number, begin in enumerate(range(0, total, size)):
            part = texts[begin : begin + size]
            path = chunk_dir / f"{number:06d}.npy"
            vectors = _load_chunk(path, len(part))
            if vectors is None:
                vectors = self.get_embedder().embed_passages([t for t, _ in part], advance)
                self.embedded += sum(is_passage for _, is_passage in part)
                _save_chunk(path, vectors)
            else:
                advance(len(part))
            chunks.append(vectors)
        return chunks

    def _write(
        self,
        work: Path,
        build_id: str,
        plans: list[_SourcePlan],
        new_chunks: list[np.ndarray],
        previous_dir: Path | None,
        skipped: list[str],
        with_sentences: bool,
    ) -> dict[str, Any]:
        self.progress(BuildProgress("indexing"))
        count = sum(len(p.passages) for p in plans)
        sentence_count = sum(r["sentences"] for p in plans for r in p.passages) * with_sentences
        dimension = self._dimension(new_chunks, previous_dir)
        vectors = np.lib.format.open_memmap(
            work / "vectors.npy", "w+", np.float32, (count, dimension)
        )
        _allocate(work / "vectors.npy")
        sentences = SentenceVectorWriter(work, sentence_count, dimension, count)
        old_vectors = np.load(previous_dir / "vectors.npy", mmap_mode="r") if previous_dir else None
        old_sentences = SentenceVectors.open(previous_dir) if previous_dir else None
        new_rows = _rows(new_chunks)
        sources: dict[str, Any] = {}
        row = doc_row = 0
        for plan in plans:
            size = len(plan.passages)
            if plan.reused_rows is not None and old_vectors is not None:
                vectors[row : row + size] = old_vectors[
                    plan.reused_rows.start : plan.reused_rows.stop
                ]
                for offset, old_row in enumerate(plan.reused_rows):
                    if with_sentences and old_sentences is not None:
                        sentences.append(row + offset, old_sentences.of_passage(old_row))
            else:
                for offset, record in enumerate(plan.passages):
                    vectors[row + offset] = next(new_rows)
                    if with_sentences:
                        sentences.append(
                            row + offset,
                            np.stack([next(new_rows) for _ in range(record["sentences"])]),
                        )
            sources[plan.source.relpath] = {
                "sha256": plan.source.sha256,
                "first_row": row,
                "passages": size,
                "document_rows": [doc_row, doc_row + len(plan.documents)],
            }
            row += size
            doc_row += len(plan.documents)
        vectors.flush()
        sentences.finish()
        JsonlTable.write(work / "documents.jsonl", (d for p in plans for d in p.documents))
        JsonlTable.write(
            work / "passages.jsonl",
            ({k: v for k, v in r.items() if k != "embed"} for r in _iter_passages(plans)),
        )
        index_type = choose_index_type(self.settings.index, count)
        save_dense_index(
            build_dense_index(np.asarray(vectors), index_type, self.settings.index),
            work / "dense.faiss",
        )
        lexical = LexicalIndex.build([r["embed"] for r in _iter_passages(plans)])
        lexical.save(work / "bm25")
        del vectors
        data = {
            "build_id": build_id,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - self.started, 3),
            "model": {
                "name": self.settings.index.model,
                "backend": resolve_backend(self.settings.index),
                "dimension": dimension,
            },
            "passage_config": self.settings.passages.model_dump(),
            "index_type": index_type,
            "sentence_vectors": sentence_count,
            "passage_count": count,
            "article_count": doc_row,
            "sources": sources,
            "skipped": skipped,
            # Files that could not be read, by hash: an unchanged bad file is no reason to rebuild.
            "unreadable": {
                name: {"sha256": sha, "reason": why} for name, (sha, why) in self.unreadable.items()
            },
        }
        write_manifest(work, data)
        return data

    def _dimension(self, new_chunks: list[np.ndarray], previous_dir: Path | None) -> int:
        if new_chunks:
            return int(new_chunks[0].shape[1])
        if previous_dir is not None:
            return int(np.load(previous_dir / "vectors.npy", mmap_mode="r").shape[1])
        return self.get_embedder().dimension

    def _report(
        self,
        build_id: str,
        manifest: Manifest,
        plans: list[_SourcePlan],
        skipped: list[str],
        sources: list[SourceFile],
        old_sources: dict[str, Any],
        embedded: int,
        unchanged: bool = False,
    ) -> BuildReport:
        current = {s.relpath: s.sha256 for s in sources}
        built = set(manifest.sources)
        return BuildReport(
            build_id=build_id,
            articles=int(manifest.data["article_count"]),
            passages=manifest.passage_count,
            passages_embedded=embedded,
            files_added=tuple(sorted(n for n in built if n not in old_sources)),
            files_changed=tuple(
                sorted(
                    n
                    for n in built
                    if n in old_sources and old_sources[n]["sha256"] != current.get(n)
                )
            ),
            files_removed=tuple(sorted(n for n in old_sources if n not in built)),
            skipped=tuple(skipped),
            seconds=round(time.perf_counter() - self.started, 3),
            unchanged=unchanged,
        )


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


def _iter_passages(plans: list[_SourcePlan]) -> Iterator[dict[str, Any]]:
    for plan in plans:
        titles: dict[str, str] | None = None  # a .jsonl file can hold thousands of articles
        for record in plan.passages:
            if "embed" not in record:  # reused from the serving build
                if titles is None:
                    titles = {d["doc_id"]: d["title"] for d in plan.documents}
                record["embed"] = embedding_text(titles[record["doc_id"]], record["text"])
            yield record


def _allocate(path: Path) -> None:
    """Reserve the disk blocks of a file that is written through a memory map.

    A memory-mapped write that finds the disk full kills the process with SIGBUS (the whole
    bot, during /reindex); reserved up front, a full disk is an OSError the build reports.
    """
    with open(path, "r+b") as handle:
        os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)


def _rows(chunks: list[np.ndarray]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        yield from chunk


def _load_chunk(path: Path, rows: int) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        vectors = np.load(path)
    except (OSError, ValueError):
        return None
    return vectors if vectors.shape[0] == rows else None


def _save_chunk(path: Path, vectors: np.ndarray) -> None:
    temporary = path.with_name(path.name + ".tmp.npy")
    np.save(temporary, vectors)
    temporary.replace(path)


def _fingerprint(sources: list[SourceFile]) -> dict[str, str]:
    return {source.relpath: source.sha256 for source in sources}


def _fingerprint_of(manifest: Manifest) -> dict[str, str]:
    """The corpus a build was made from: the files it indexed and the ones it could not read."""
    files = {name: info["sha256"] for name, info in manifest.sources.items()}
    files.update(
        {name: info["sha256"] for name, info in manifest.data.get("unreadable", {}).items()}
    )
    return files


def _embedding_inputs(
    passages: list[dict[str, Any]], with_sentences: bool
) -> list[tuple[str, bool]]:
    """What to embed, in order: each passage, then (optionally) each of its sentences."""
    texts: list[tuple[str, bool]] = []
    for record in passages:
        texts.append((record["embed"], True))
        if with_sentences:
            texts.extend((sentence, False) for sentence in passage_sentences(record["text"]))
    return texts
