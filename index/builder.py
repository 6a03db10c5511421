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
from index.build_embedding import EmbeddedTexts, embed_in_chunks
from index.build_identity import (
    build_structure,
    embedding_identity,
    plan_key,
    with_sentence_vectors,
)
from index.build_planning import SourcePlanner
from index.build_report import build_report, corpus_fingerprint, fingerprint_of
from index.build_writer import (
    SKIPPED_LINES,
    BuildInputs,
    SourcePlan,
    embedding_inputs,
    embedding_text,
    write_build,
)
from index.config import CorpusConfig, IndexConfig, PassageConfig
from index.corpus import SourceFile, scan_corpus
from index.delta_build import delta_base, plan_delta, write_delta
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
        self.planner = SourcePlanner(settings.passages, self.progress, self.check_cancelled)

    def run(self, full: bool) -> BuildReport:
        serving, serving_dir = self._previous_build(full)
        previous, previous_dir = (None, None) if full else (serving, serving_dir)
        sources, skipped = scan_corpus(self.settings.corpus.path, self._max_bytes())
        old_sources = serving.sources if serving else {}
        unchanged = previous is not None and corpus_fingerprint(sources) == fingerprint_of(previous)
        if previous is not None and previous_dir is not None and unchanged:
            if self._structure_holds(previous, previous_dir):
                self.layout.remove_stale_staging(keep=None)
                skipped = skipped + _unreadable_in(previous)
                return build_report(
                    previous.build_id, previous, skipped, sources, old_sources, 0, self.started,
                    True,
                )  # fmt: skip
            logger.info("rewriting the index from its saved vectors: its index settings changed")
        if previous is not None and previous_dir is not None:
            published = self._publish_delta(sources, list(skipped), previous, previous_dir)
            if published is not None:
                delta, merge = published
                if not merge:
                    return build_report(
                        delta.build_id, delta, list(delta.data["skipped"]), sources, old_sources,
                        self.embedded, self.started,
                    )  # fmt: skip
                # Answerable already; now the delta becomes part of a new base.
                logger.info("the delta segment outgrew index.delta_merge_fraction: merging")
                previous, previous_dir = delta, self.layout.builds / delta.build_id
                self.planner.unreadable.clear()
        scan_skipped = list(skipped)
        plans, skipped = self.planner.plan(sources, skipped, previous, previous_dir)
        with_sentences = self._with_sentences(plans)
        if with_sentences and previous is not None and not previous.data.get("sentence_vectors"):
            # The serving build has no sentence vectors to reuse: embed everything once.
            plans, skipped = self.planner.plan(sources, scan_skipped, None, None)
        renamed = assign_article_ids(plans)

        def write(work: Path, build_id: str, embedded: EmbeddedTexts) -> dict[str, Any]:
            inputs = BuildInputs(
                build_id, plans, embedded, previous_dir, skipped, self.planner.unreadable,
                with_sentences, self.started, renamed,
            )  # fmt: skip
            settings = self.settings
            return write_build(
                work, inputs, settings.index, settings.passages, self.check_cancelled
            )

        manifest_data = self._embed_and_publish(plans, with_sentences, full, write)
        return build_report(
            manifest_data["build_id"],
            Manifest(manifest_data),
            skipped,
            sources,
            old_sources,
            self.embedded,
            self.started,
        )

    def _publish_delta(
        self, sources: list[SourceFile], skipped: list[str], serving: Manifest, serving_dir: Path
    ) -> tuple[Manifest, bool] | None:
        """Publish a delta build over the serving build's base when the settings allow one;
        returns its manifest and whether it has outgrown the base (time to merge)."""
        index = self.settings.index
        base, _ = delta_base(serving, serving_dir)
        if (
            index.delta_merge_fraction <= 0
            or base.passage_count < index.delta_min_passages
            or not self._structure_holds(serving, serving_dir)
        ):
            return None
        delta = plan_delta(sources, serving, serving_dir, lambda s: self.planner.read(s, skipped))
        if delta is None:
            return None
        with_sentences = bool(self._structure(base.passage_count)["sentence_vectors"])
        skipped += delta.skipped_lines + [line for p in delta.plans for line in p.skipped_lines]

        def write(work: Path, build_id: str, embedded: EmbeddedTexts) -> dict[str, Any]:
            inputs = BuildInputs(
                build_id, delta.plans, embedded, delta.previous_delta_dir, skipped,
                self.planner.unreadable, with_sentences, self.started,
                list(base.data.get("renamed", [])) + delta.renamed,
            )  # fmt: skip
            settings = self.settings
            return write_delta(
                work, delta, inputs, settings.index, settings.passages, self.check_cancelled
            )

        data = self._embed_and_publish(delta.plans, with_sentences, False, write)
        return Manifest(data), delta.outgrows(index.delta_merge_fraction)

    def _embed_and_publish(
        self,
        plans: list[SourcePlan],
        with_sentences: bool,
        full: bool,
        write: Callable[[Path, str, EmbeddedTexts], dict[str, Any]],
    ) -> dict[str, Any]:
        """Embed the passages of the plans' new files (resuming saved chunks), `write` the build
        directory, publish it; returns its manifest data. A failure keeps the previous build."""
        settings = self.settings
        new_plans = [plan for plan in plans if plan.reused_rows is None]
        key = plan_key(
            settings.index, settings.passages, with_sentences,
            [(plan.source.relpath, plan.source.sha256) for plan in new_plans],
        )  # fmt: skip
        # A full build trusts nothing earlier builds left: it embeds everything again.
        self.layout.remove_stale_staging(keep=None if full else key)
        staging = self.layout.staging_dir(key)
        try:
            embedded = embed_in_chunks(
                embedding_inputs([p for plan in new_plans for p in plan.passages], with_sentences),
                staging / "chunks",
                settings.index.chunk_size,
                self.get_embedder,
                settings.index.multilingual_model != "none",
                self.progress,
                self.check_cancelled,
            )
            self.embedded += embedded.embedded_passages
            build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
            work = staging / "build"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            self.progress(BuildProgress("indexing"))
            manifest_data = write(work, build_id, embedded)
            self.check_cancelled()
            self.progress(BuildProgress("publishing"))
            self.layout.publish(work, build_id)
        except BaseException as error:
            # Saved chunks stay for the next build to resume, unless they filled the disk.
            self.layout.discard_staging(staging, keep_chunks=not is_disk_full(error))
            raise
        shutil.rmtree(staging, ignore_errors=True)
        self.layout.remove_old_builds()
        return manifest_data

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
            # Every byte is checked when the config says so (the default): at a million passages
            # that reads ~6 GB, which index.verify_checksums: false leaves to the sizes.
            manifest = read_manifest(build_dir, self.settings.index.verify_checksums)
        except (IndexMismatchError, IndexNotFoundError) as error:
            if not full:  # a full build was asked for: nothing to warn about
                logger.warning("rebuilding everything: %s", error)
            return None, None
        if manifest.base_id is not None:  # a delta build: its base must be there, whole
            try:
                delta_base(manifest, build_dir)
            except (IndexMismatchError, IndexNotFoundError) as error:
                logger.warning("rebuilding everything: %s", error)
                return None, None
        if manifest.identity() != self._identity():
            logger.warning("rebuilding everything: the models or passage settings changed")
            return None, None
        return manifest, build_dir

    def _with_sentences(self, plans: list[SourcePlan]) -> bool:
        passages = sum(len(plan.passages) for plan in plans)
        return with_sentence_vectors(self.settings.index, passages)

    def _structure(self, passage_count: int) -> dict[str, Any]:
        return build_structure(self.settings.index, passage_count)

    def _structure_holds(self, manifest: Manifest, build_dir: Path) -> bool:
        """Whether a build is what the settings would make of its vectors: a delta build's
        structure is its base's, resolved for the base's size."""
        base, _ = delta_base(manifest, build_dir)
        return base.structure() == self._structure(base.passage_count)

    def _identity(self) -> dict[str, Any]:
        return embedding_identity(self.settings.index, self.settings.passages)


def _unreadable_in(manifest: Manifest) -> list[str]:
    """What a build could not read: whole files, then single .jsonl lines."""
    files = [info["reason"] for info in manifest.data.get("unreadable", {}).values()]
    lines = [line for info in manifest.sources.values() for line in info.get(SKIPPED_LINES, [])]
    return files + lines
