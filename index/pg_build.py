"""Builds the index into the database store: embed only the files that changed, then replace
their rows in one transaction (index/pg_write.py).

It reuses the local builder's parts: the corpus scan, reading and splitting files, article ids,
embedding in resumable chunks under `<index.path>/staging/`, the build report. Only one build
runs at a time, whichever machine it runs on: it holds a PostgreSQL advisory lock throughout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from index.article_ids import CLAIMED, assign_article_ids
from index.build_embedding import embed_in_chunks
from index.build_identity import embedding_identity
from index.build_report import build_report
from index.build_writer import SourcePlan, embedding_inputs, file_error_reason, read_source
from index.config import CorpusConfig, IndexConfig, PassageConfig, mask_url
from index.corpus import SourceFile, printable, scan_corpus
from index.dense import choose_index_type
from index.documents import ArticleFileError
from index.embedder import Embedder
from index.errors import BuildCancelledError, BuildError, BuildInProgressError, CitebotError
from index.models import BuildProgress, BuildReport
from index.pg_rows import source_rows
from index.pg_schema import BUILD_LOCK, Connections
from index.pg_state import PgState
from index.pg_write import Publication, write_publication
from index.store import IndexLayout, Manifest, is_disk_full

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[BuildProgress], None]


@contextmanager
def build_lock(connections: Connections, wait: bool) -> Iterator[None]:
    """The one build of this database: held on a connection of its own, so a build that dies
    releases it with its connection. Taken at once or BuildInProgressError, unless `wait`."""
    with connections.connection() as connection:
        if wait:
            connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (BUILD_LOCK,))
        else:
            row = connection.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (BUILD_LOCK,)
            ).fetchone()
            if not row or not row[0]:
                raise BuildInProgressError("another build of this index is already running")
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (BUILD_LOCK,))


def build_into_database(
    connections: Connections,
    corpus: CorpusConfig,
    passages: PassageConfig,
    index: IndexConfig,
    get_embedder: Callable[[], Embedder],
    progress: ProgressCallback | None = None,
    full: bool = False,
    cancel: threading.Event | None = None,
    wait: bool = False,
) -> BuildReport:
    """Build or update the database's index under the build lock (see build_index)."""
    with build_lock(connections, wait):
        build = _DatabaseBuild(connections, corpus, passages, index, get_embedder, progress, cancel)
        try:
            return build.run(full)
        except CitebotError:
            raise
        except (OSError, ValueError, RuntimeError, MemoryError, psycopg.Error) as error:
            logger.debug("build failed", exc_info=True)
            reason = mask_url(str(error).strip().splitlines()[0] if str(error).strip() else "")
            raise BuildError(
                f"the build failed and the previous index keeps serving: {reason}"
            ) from error


class _DatabaseBuild:
    def __init__(
        self,
        connections: Connections,
        corpus: CorpusConfig,
        passages: PassageConfig,
        index: IndexConfig,
        get_embedder: Callable[[], Embedder],
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self.connections, self.corpus, self.passages, self.index = (
            connections, corpus, passages, index,
        )  # fmt: skip
        self.get_embedder = get_embedder
        self.progress = progress or (lambda _p: None)
        self.cancel = cancel or threading.Event()
        self.started = time.perf_counter()
        self.layout = IndexLayout(index.path)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise BuildCancelledError(
                "the build was stopped; the passages it embedded are kept for the next build"
            )

    def run(self, full: bool) -> BuildReport:
        identity = embedding_identity(self.index, self.passages)
        with self.connections.connection() as connection:
            state = PgState.read(connection)
            old = _stored_sources(connection)
            previous = connection.execute("SELECT unreadable FROM index_state").fetchone()
        old_unreadable: dict[str, dict[str, str]] = previous[0] if previous else {}
        reuse = state is not None and not full and state.identity == identity
        if state is not None and not full and not reuse:
            logger.warning("rebuilding everything: the models or passage settings changed")
        sources, scan_skipped = scan_corpus(self.corpus.path, int(self.corpus.max_file_mb * 1e6))
        old_sources = {relpath: {"sha256": sha} for relpath, (sha, _) in old.items()}
        if reuse and state is not None:
            stored = {relpath: sha for relpath, (sha, _) in old.items()}
            stored.update({name: info["sha256"] for name, info in old_unreadable.items()})
            if stored == {source.relpath: source.sha256 for source in sources}:
                lines = [line for _, skipped_lines in old.values() for line in skipped_lines]
                skipped = scan_skipped + [i["reason"] for i in old_unreadable.values()] + lines
                manifest = _manifest(state.passage_count, state.article_count, old_sources, [])
                return build_report(
                    state.build_id, manifest, skipped, sources, old_sources, 0, self.started, True
                )
        plans, skipped, unreadable = self._plan(sources, scan_skipped, old if reuse else {})
        with_sentences = self._with_sentences(plans)
        if reuse and state is not None and with_sentences != state.with_sentences:
            reuse = False  # the stored passages have no sentence vectors (or should lose them)
            plans, skipped, unreadable = self._plan(sources, scan_skipped, {})
        renamed = assign_article_ids(plans)
        new_plans = [plan for plan in plans if plan.reused_rows is None]
        new_passages = [record for plan in new_plans for record in plan.passages]
        key = _plan_key(identity, with_sentences, new_plans)
        self.layout.remove_stale_staging(keep=None if full else key)
        staging = self.layout.staging_dir(key)
        try:
            embedded = embed_in_chunks(
                embedding_inputs(new_passages, with_sentences), staging / "chunks",
                self.index.chunk_size, self.get_embedder,
                self._multilingual, self.progress, self.check_cancelled,
            )  # fmt: skip
            self.progress(BuildProgress("indexing"))
            build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
            total = sum(sum(d["passages"] for d in plan.documents) for plan in plans)
            publication = Publication(
                build_id=build_id,
                built_at=datetime.now(UTC),
                identity=identity,
                with_sentences=with_sentences,
                index_type=choose_index_type(self.index, total),
                skipped=skipped,
                renamed=renamed,
                unreadable=unreadable,
                replace_all=not reuse,
                removed=[name for name in old if name not in _reused(plans)],
                renames=_renames(plans),
            )
            with self.connections.connection() as connection:
                self.progress(BuildProgress("publishing"))
                passages, articles = write_publication(
                    connection, publication,
                    source_rows(new_plans, embedded, with_sentences, self._multilingual),
                    lambda: time.perf_counter() - self.started, self.check_cancelled,
                )  # fmt: skip
        except BaseException as error:
            self.layout.discard_staging(staging, keep_chunks=not is_disk_full(error))
            raise
        shutil.rmtree(staging, ignore_errors=True)
        built = {plan.source.relpath: {"sha256": plan.source.sha256} for plan in plans}
        return build_report(
            build_id, _manifest(passages, articles, built, renamed), skipped, sources,
            old_sources, embedded.embedded_passages, self.started,
        )  # fmt: skip

    def _plan(
        self, sources: list[SourceFile], scan_skipped: list[str], old: dict[str, Any]
    ) -> tuple[list[SourcePlan], list[str], dict[str, dict[str, str]]]:
        """Each file reused (same sha256 as stored) or read afresh; the unreadable set aside."""
        stored = _stored_documents(
            self.connections, [s.relpath for s in sources if s.relpath in old]
        )
        plans: list[SourcePlan] = []
        skipped = list(scan_skipped)
        unreadable: dict[str, dict[str, str]] = {}
        for number, source in enumerate(sources, start=1):
            self.check_cancelled()
            self.progress(BuildProgress("scanning", files_scanned=number, files_total=len(sources)))
            kept = old.get(source.relpath)
            if kept is not None and kept[0] == source.sha256:
                plan = SourcePlan(source, stored.get(source.relpath, []), [], range(0))
                plan.skipped_lines.extend(kept[1])
            else:
                try:
                    plan = read_source(source, self.passages)
                except (ArticleFileError, ValueError, RecursionError) as error:
                    line = f"{printable(source.relpath)}: {file_error_reason(error)}"
                    unreadable[source.relpath] = {"sha256": source.sha256, "reason": line}
                    skipped.append(line)
                    logger.warning("skipped %s", line)
                    continue
            skipped.extend(plan.skipped_lines)
            plans.append(plan)
        return plans, skipped, unreadable

    @property
    def _multilingual(self) -> bool:
        return self.index.multilingual_model != "none"

    def _with_sentences(self, plans: list[SourcePlan]) -> bool:
        setting = self.index.sentence_vectors
        if setting != "auto":
            return setting == "on"
        total = sum(d["passages"] for plan in plans for d in plan.documents)
        return total <= self.index.sentence_vectors_max_passages


def _stored_sources(connection: psycopg.Connection) -> dict[str, tuple[str, list[str]]]:
    rows = connection.execute("SELECT relpath, sha256, skipped_lines FROM index_sources")
    return {relpath: (sha, list(lines)) for relpath, sha, lines in rows.fetchall()}


def _stored_documents(
    connections: Connections, relpaths: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The articles of unchanged files, as much of them as article ids need; `_row` is the
    article's row id, to rename it in place."""
    documents: dict[str, list[dict[str, Any]]] = {}
    with connections.connection() as connection:
        rows = connection.execute(
            "SELECT relpath, id, doc_id, claimed_id, passages FROM index_articles"
            " WHERE relpath = ANY(%s) ORDER BY relpath, position",
            (relpaths,),
        ).fetchall()
    for relpath, row, doc_id, claimed, passages in rows:
        record = {"_row": row, "_stored_id": doc_id, "doc_id": doc_id, "passages": passages}
        if claimed is not None:
            record[CLAIMED] = claimed
        documents.setdefault(relpath, []).append(record)
    return documents


def _reused(plans: list[SourcePlan]) -> set[str]:
    return {plan.source.relpath for plan in plans if plan.reused_rows is not None}


def _renames(plans: list[SourcePlan]) -> dict[int, tuple[str, str | None]]:
    """Stored articles whose id changed because another file now claims it (or let it go)."""
    return {
        record["_row"]: (record["doc_id"], record.get(CLAIMED))
        for plan in plans
        if plan.reused_rows is not None
        for record in plan.documents
        if record["doc_id"] != record["_stored_id"]
    }


def _plan_key(identity: dict[str, Any], with_sentences: bool, plans: list[SourcePlan]) -> str:
    """Names the staging folder: the same inputs resume the same chunks after a kill."""
    inputs: list[Any] = ["database", identity, with_sentences]
    inputs += [(plan.source.relpath, plan.source.sha256) for plan in plans]
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _manifest(
    passages: int, articles: int, sources: dict[str, Any], renamed: list[str]
) -> Manifest:
    """What build_report reads of a build, for a build published in the database."""
    return Manifest(
        {"passage_count": passages, "article_count": articles, "sources": sources,
         "renamed": renamed}
    )  # fmt: skip
