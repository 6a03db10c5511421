"""The rows a build writes for its new files: each passage's record, alphabet, BM25 terms and
vectors, taken from the embedded chunks in the order they were embedded."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from index.build_embedding import EmbeddedTexts
from index.build_writer import SourcePlan
from index.languages import scripts_of
from index.lexical import tokenize
from index.pg_write import PassageRows, SourceRows


def source_rows(
    plans: list[SourcePlan], embedded: EmbeddedTexts, with_sentences: bool, with_multilingual: bool
) -> Iterator[SourceRows]:
    """The new files' rows, their vectors taken in the order they were embedded: each passage,
    then (with sentence vectors) each of its sentences, in both models alike."""
    primary = embedded.primary_rows()
    multilingual = embedded.multilingual_rows() if with_multilingual else None
    for plan in plans:
        terms = tokenize([record["embed"] for record in plan.passages]) if plan.passages else []
        scripts = scripts_of([record["text"] for record in plan.passages])
        rows = []
        for number, record in enumerate(plan.passages):
            vector = next(primary)
            other = next(multilingual) if multilingual is not None else None
            sentences = others = None
            if with_sentences:
                count = record["sentences"]
                sentences = _stack([next(primary) for _ in range(count)])
                if multilingual is not None:
                    others = _stack([next(multilingual) for _ in range(count)])
            stored = {k: v for k, v in record.items() if k != "embed"}
            rows.append(PassageRows(stored, int(scripts[number]), terms[number], vector, other,
                                    sentences, others))  # fmt: skip
        documents = [{k: v for k, v in d.items() if not k.startswith("_")} for d in plan.documents]
        yield SourceRows(plan.source.relpath, plan.source.sha256, plan.skipped_lines, documents,
                         rows)  # fmt: skip


def _stack(vectors: list[np.ndarray]) -> np.ndarray:
    return np.stack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)
