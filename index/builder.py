"""Builds the index: scan the corpus, embed only what changed, write a new build, publish it.

Incremental: a file whose content hash is unchanged reuses its passages and vectors from the
build that is serving. Resumable: new vectors are saved in chunks under the staging folder, so
the next build with the same inputs picks up where a killed, stopped or failed one left off (a
`full` build embeds everything again). A build that fails removes its half-written files, and
its chunks too when the disk is full. Atomic: nothing is visible until `publish`.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.article_ids import assign_article_ids
from index.build_embedding import embed_in_chunks
from index.build_identity import (
    build_structure,
    embedding_identity,
    plan_key,
    with_sentence_vectors,
)
from index.build_report import build_report, corpus_fingerprint, fingerprint_of
from index.build_writer import (
    SKIPPED_LINES,
    BuildInputs,
    SourcePlan,
    embedding_inputs,
    embedding_text,
    file_error_reason,
    read_source,
    write_build,
)
from index.config import CorpusConfig, IndexConfig, PassageConfig
from index.corpus import SourceFile, printable, scan_corpus
from index.documents import ArticleFileError
from index.embedder import Embedder
from index.errors import (
    BuildCancelledError,
    BuildError,
    CitebotError,
    IndexMismatchError,
    IndexNotFoundError,
)
from index.models import BuildProgress, BuildReport
from index.store import (
    BuildLock,
    IndexLayout,
    JsonlTable,
    Manifest,
    is_disk_full,
    read_manifest,
)

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[BuildProgress], None]
__all__ = ["build_index", "embedding_text"]


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
    cancel: threading.Event | None = None,
    wait: bool = False,
) -> BuildReport:
    """Build or update the index under the build lock; raises BuildError if it fails.

    Setting `cancel` (from another thread) stops the build at its next check, between batches
    of embedding or steps of writing, with BuildCancelledError; the chunks it saved are kept for
    the next build. Another build holding the lock is BuildInProgressError, unless `wait`.
    """
    layout = IndexLayout(index.path)
    settings = _Settings(corpus, passages, index)
    with BuildLock(layout, wait=wait):
        try:
            return _Build(settings, layout, get_embedder, progress, cancel).run(full)
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
        cancel: threading.Event | None,
    ) -> None:
        self.settings = settings
        self.layout = layout
        self.get_embedder = get_embedder
        self.progress = progress or (lambda _p: None)
        self.cancel = cancel or threading.Event()
        self.started = time.perf_counter()
        self.embedded = 0  # passages embedded by this run (not resumed from saved chunks)
        self.unreadable: dict[str, tuple[str, str]] = {}  # relpath -> (sha256, reason)

    def run(self, full: bool) -> BuildReport:
        serving, serving_dir = self._previous_build(full)
        previous, previous_dir = (None, None) if full else (serving, serving_dir)
        sources, skipped = scan_corpus(self.settings.corpus.path, self._max_bytes())
        old_sources = serving.sources if serving else {}
        if previous is not None and corpus_fingerprint(sources) == fingerprint_of(previous):
            if previous.structure() == self._structure(previous.passage_count):
                self.layout.remove_stale_staging(keep=None)
                skipped = skipped + _unreadable_in(previous)
                return build_report(
                    previous.build_id, previous, skipped, sources, old_sources, 0, self.started,
                    True,
                )  # fmt: skip
            logger.info("rewriting the index from its saved vectors: its index settings changed")
        scan_skipped = list(skipped)
        plans, skipped = self._plan(sources, skipped, previous, previous_dir)
        with_sentences = self._with_sentences(plans)
        if with_sentences and previous is not None and not previous.data.get("sentence_vectors"):
            # The serving build has no sentence vectors to reuse: embed everything once.
            plans, skipped = self._plan(sources, scan_skipped, None, None)
        new_passages = [p for plan in plans if plan.reused_rows is None for p in plan.passages]
        key = plan_key(
            self.settings.index,
            self.settings.passages,
            with_sentences,
            [(p.source.relpath, p.source.sha256) for p in plans if p.reused_rows is None],
        )
        # A full build trusts nothing earlier builds left: it embeds everything again.
        self.layout.remove_stale_staging(keep=None if full else key)
        staging = self.layout.staging_dir(key)
        renamed = assign_article_ids(plans)
        try:
            build_id, manifest_data = self._write(
                staging, plans, new_passages, previous_dir, skipped, with_sentences, renamed
            )
        except BaseException as error:
            # Saved chunks stay for the next build to resume, unless they filled the disk.
            self.layout.discard_staging(staging, keep_chunks=not is_disk_full(error))
            raise
        shutil.rmtree(staging, ignore_errors=True)
        self.layout.remove_old_builds()
        return build_report(
            build_id,
            Manifest(manifest_data),
            skipped,
            sources,
            old_sources,
            self.embedded,
            self.started,
        )

    def _write(
        self,
        staging: Path,
        plans: list[SourcePlan],
        new_passages: list[dict[str, Any]],
        previous_dir: Path | None,
        skipped: list[str],
        with_sentences: bool,
        renamed: list[str],
    ) -> tuple[str, dict[str, Any]]:
        """Embed what is new, write the build directory and publish it."""
        embedded = embed_in_chunks(
            embedding_inputs(new_passages, with_sentences),
            staging / "chunks",
            self.settings.index.chunk_size,
            self.get_embedder,
            self.settings.index.multilingual_model != "none",
            self.progress,
            self.check_cancelled,
        )
        self.embedded = embedded.embedded_passages
        build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
        work = staging / "build"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        self.progress(BuildProgress("indexing"))
        inputs = BuildInputs(
            build_id, plans, embedded, previous_dir, skipped, self.unreadable, with_sentences,
            self.started, renamed,
        )  # fmt: skip
        settings = self.settings
        manifest_data = write_build(
            work, inputs, settings.index, settings.passages, self.check_cancelled
        )
        self.check_cancelled()
        self.progress(BuildProgress("publishing"))
        self.layout.publish(work, build_id)
        return build_id, manifest_data

    def check_cancelled(self) -> None:
        """Raise BuildCancelledError once the build has been asked to stop."""
        if self.cancel.is_set():
            raise BuildCancelledError(
                "the build was stopped; the passages it embedded are kept for the next build"
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
        if manifest.identity() != self._identity():
            logger.warning("rebuilding everything: the models or passage settings changed")
            return None, None
        return manifest, build_dir

    def _plan(
        self,
        sources: list[SourceFile],
        skipped: list[str],
        previous: Manifest | None,
        previous_dir: Path | None,
    ) -> tuple[list[SourcePlan], list[str]]:
        old = previous.sources if previous else {}
        old_docs = JsonlTable(previous_dir / "documents.jsonl") if previous_dir else None
        old_passages = JsonlTable(previous_dir / "passages.jsonl") if previous_dir else None
        plans: list[SourcePlan] = []
        skipped = list(skipped)
        for number, source in enumerate(sources, start=1):
            self.check_cancelled()
            self.progress(BuildProgress("scanning", files_scanned=number, files_total=len(sources)))
            info = old.get(source.relpath)
            if info and info["sha256"] == source.sha256 and old_docs and old_passages:
                rows = range(info["first_row"], info["first_row"] + info["passages"])
                docs = [old_docs[i] for i in range(*info["document_rows"])]
                plan = SourcePlan(source, docs, [old_passages[r] for r in rows], rows)
                plan.skipped_lines.extend(info.get(SKIPPED_LINES, []))
            else:
                try:
                    plan = read_source(source, self.settings.passages)
                except (ArticleFileError, ValueError, RecursionError) as error:
                    # Any one file that cannot be read is skipped, whatever the reason: one
                    # bad file must not keep the rest of the corpus from being indexed.
                    line = f"{printable(source.relpath)}: {file_error_reason(error)}"
                    self.unreadable[source.relpath] = (source.sha256, line)
                    skipped.append(line)
                    logger.warning("skipped %s", line)
                    continue
            skipped.extend(plan.skipped_lines)
            plans.append(plan)
        return plans, skipped

    def _with_sentences(self, plans: list[SourcePlan]) -> bool:
        passages = sum(len(plan.passages) for plan in plans)
        return with_sentence_vectors(self.settings.index, passages)

    def _structure(self, passage_count: int) -> dict[str, Any]:
        return build_structure(self.settings.index, passage_count)

    def _identity(self) -> dict[str, Any]:
        return embedding_identity(self.settings.index, self.settings.passages)


def _unreadable_in(manifest: Manifest) -> list[str]:
    """What a build could not read: whole files, then single .jsonl lines."""
    files = [info["reason"] for info in manifest.data.get("unreadable", {}).values()]
    lines = [line for info in manifest.sources.values() for line in info.get(SKIPPED_LINES, [])]
    return files + lines
