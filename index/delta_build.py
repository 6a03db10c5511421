"""Plans and writes a delta build: k changed articles cost work in proportion to k.

The base build's files stay as they are. A delta build holds the files that are new or changed
since the base (`delta/`: their passages, vectors, an exact faiss index and BM25, written by the
ordinary build writer) and the names of the base files it hides, and its manifest carries the
sources of both with global rows, so the next build plans against it as against any build.
Each delta build rewrites only the delta: the previous delta's files are copied, vectors and
all, and only new or changed files are embedded. When the delta (its passages plus the base
passages it hides) outgrows `index.delta_merge_fraction` of the base, the builder merges
everything into a new base; an id two files claim across the segments is resolved the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.article_ids import assign_article_ids
from index.build_writer import (
    ARTICLE_IDS,
    CLAIMED,
    SKIPPED_LINES,
    BuildInputs,
    SourcePlan,
    write_build,
)
from index.config import IndexConfig, PassageConfig
from index.corpus import SourceFile
from index.segments import DELTA_DIR
from index.store import JsonlTable, Manifest, read_manifest, write_manifest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeltaPlan:
    """What a delta build holds, against which base."""

    base_dir: Path
    base: Manifest
    previous_delta_dir: Path | None  # the serving build's delta segment, whose rows are reused
    plans: list[SourcePlan]  # the delta segment's files: kept from the previous delta, or new
    hidden_sources: list[str]  # base files changed or deleted since the base was built
    hidden_passages: int
    renamed: list[str]
    skipped_lines: list[str]  # the base files' unreadable .jsonl lines, as a full build lists

    @property
    def passages(self) -> int:
        return sum(len(plan.passages) for plan in self.plans)

    def outgrows(self, fraction: float) -> bool:
        """Whether the delta has grown past `fraction` of the base: time to merge."""
        return self.passages + self.hidden_passages > fraction * self.base.passage_count


def delta_base(serving: Manifest, serving_dir: Path) -> tuple[Manifest, Path]:
    """The base segment of the serving build (the build itself when it has no delta)."""
    if serving.base_id is None:
        return serving, serving_dir
    base_dir = serving_dir.parent / serving.base_id
    return read_manifest(base_dir, verify_checksums=False), base_dir


def plan_delta(
    sources: list[SourceFile],
    serving: Manifest,
    serving_dir: Path,
    read_plan: Callable[[SourceFile], SourcePlan | None],
) -> DeltaPlan | None:
    """The delta build for the corpus as scanned; None when only a full build can index it
    (an article id two files claim across base and delta). `read_plan` reads a new or changed
    file (None for one that cannot be read: the builder records why)."""
    base, base_dir = delta_base(serving, serving_dir)
    previous_delta_dir = serving_dir / DELTA_DIR if serving.base_id is not None else None
    hidden_before = set(serving.data.get("hidden_sources", []))
    previous_delta = read_manifest(previous_delta_dir, False) if previous_delta_dir else None
    delta_sources = previous_delta.sources if previous_delta else {}
    delta_docs = delta_passages = None
    if previous_delta_dir is not None:
        delta_docs = JsonlTable(previous_delta_dir / "documents.jsonl")
        delta_passages = JsonlTable(previous_delta_dir / "passages.jsonl")
    in_base: set[str] = set()
    plans: list[SourcePlan] = []
    for source in sources:
        kept = delta_sources.get(source.relpath)
        base_info = base.sources.get(source.relpath)
        if kept and kept["sha256"] == source.sha256 and delta_docs and delta_passages:
            rows = range(kept["first_row"], kept["first_row"] + kept["passages"])
            docs = [delta_docs[i] for i in range(*kept["document_rows"])]
            plan = SourcePlan(source, docs, [delta_passages[r] for r in rows], rows)
            plan.skipped_lines.extend(kept.get(SKIPPED_LINES, []))
            plans.append(plan)
        elif (
            base_info
            and base_info["sha256"] == source.sha256
            and source.relpath not in hidden_before
        ):
            in_base.add(source.relpath)
        elif (fresh := read_plan(source)) is not None:
            plans.append(fresh)
    hidden = sorted(set(base.sources) - in_base)
    renamed = assign_article_ids(plans)
    if _ids_collide(base_dir, base, hidden, plans):
        logger.info("an article id is claimed in both the base and the delta: merging instead")
        return None
    skipped_lines = [
        line for name in sorted(in_base) for line in base.sources[name].get(SKIPPED_LINES, [])
    ]
    return DeltaPlan(
        base_dir, base, previous_delta_dir, plans, hidden,
        sum(base.sources[name]["passages"] for name in hidden), renamed, skipped_lines,
    )  # fmt: skip


def _ids_collide(
    base_dir: Path, base: Manifest, hidden: list[str], plans: list[SourcePlan]
) -> bool:
    """Whether ids would differ from a full build's: a delta article claims an id a visible
    base article holds or claims, or a hidden base article frees an id another one claimed.

    Reads the base's ids from its `article_ids.json` (a base from before that file: from its
    documents, about 1.4 s per 16k articles here); nothing else of the base is read.
    """
    hidden_rows: set[int] = set()
    for name in hidden:
        hidden_rows.update(range(*base.sources[name]["document_rows"]))
    visible_ids: set[str] = set()
    visible_claims: set[str] = set()
    hidden_ids: set[str] = set()
    for row, (doc_id, claimed) in enumerate(_article_ids(base_dir)):
        if row in hidden_rows:
            hidden_ids.add(doc_id)
        else:
            visible_ids.add(doc_id)
            visible_claims.add(claimed)
    claims = {doc.get(CLAIMED, doc["doc_id"]) for plan in plans for doc in plan.documents}
    return bool(claims & (visible_ids | visible_claims)) or bool(
        hidden_ids & (visible_claims - visible_ids)
    )


def _article_ids(build_dir: Path) -> Iterator[tuple[str, str]]:
    """Each article's id and the id it claimed, in documents.jsonl order."""
    path = build_dir / ARTICLE_IDS
    if path.exists():
        pairs: list[list[str]] = json.loads(path.read_text(encoding="utf-8"))
        yield from ((doc_id, claimed) for doc_id, claimed in pairs)
        return
    for record in JsonlTable(build_dir / "documents.jsonl"):
        yield record["doc_id"], record.get(CLAIMED, record["doc_id"])


def write_delta(
    work: Path,
    delta: DeltaPlan,
    inputs: BuildInputs,
    index: IndexConfig,
    passages: PassageConfig,
    check_cancelled: Callable[[], None],
) -> dict[str, Any]:
    """Write the delta build into `work` and return its manifest data. `inputs` are the delta
    segment's (its plans, their embedded vectors, the previous delta to copy rows from)."""
    base = delta.base
    # The delta is small (at most delta_merge_fraction of the base): exact search is fast and
    # needs no training; query-time settings still come from the config at load.
    exact = index.model_copy(update={"index_type": "flat"})
    (work / DELTA_DIR).mkdir()
    segment = write_build(work / DELTA_DIR, inputs, exact, passages, check_cancelled)
    base_rows, base_documents = base.passage_count, int(base.data["article_count"])
    sources = {
        name: info for name, info in base.sources.items() if name not in delta.hidden_sources
    }
    for name, info in segment["sources"].items():
        first, last = info["document_rows"]
        sources[name] = {
            **info,
            "first_row": info["first_row"] + base_rows,
            "document_rows": [first + base_documents, last + base_documents],
        }
    hidden_documents = sum(
        len(range(*base.sources[name]["document_rows"])) for name in delta.hidden_sources
    )
    data = {
        "build_id": inputs.build_id,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": segment["build_seconds"],
        "model": base.data["model"],
        "multilingual_model": base.data["multilingual_model"],
        "tokenizer": base.data["tokenizer"],
        "passage_config": base.data["passage_config"],
        "index_type": base.data["index_type"],
        "structure": base.structure(),
        "sentence_vectors": int(base.data["sentence_vectors"]) + segment["sentence_vectors"],
        "passage_count": base_rows - delta.hidden_passages + segment["passage_count"],
        "article_count": base_documents - hidden_documents + segment["article_count"],
        "sources": sources,
        "skipped": inputs.skipped,
        "renamed": inputs.renamed,
        "unreadable": segment["unreadable"],
        "base": {"build_id": base.build_id, "passage_count": base_rows},
        "hidden_sources": delta.hidden_sources,
        "delta": {"passages": segment["passage_count"], "hidden_passages": delta.hidden_passages},
    }
    write_manifest(work, data)
    return data
