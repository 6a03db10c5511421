"""What a build holds, as settings: the identity that decides what a change of config rebuilds.

Two levels, because they cost very different amounts to redo:
- the *embedding identity* (models, backend, tokenizer, passage settings): what the vectors and
  BM25 terms are made of. A change re-embeds everything.
- the *structure* (faiss index type and its build parameters, sentence vectors on or off): what
  is built from those vectors. A change rewrites the build from the saved vectors, embedding
  nothing (turning sentence vectors on is the exception: they have to be embedded).

Query-time settings (`hnsw_ef_search`, `ivf_nprobe`) are not part of either: the loader applies
them to whatever index it opens, so changing them needs no build at all.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from index.config import IndexConfig, PassageConfig
from index.dense import choose_index_type, index_parameters
from index.embedder import resolve_backend
from index.lexical import TOKENIZER


def embedding_identity(index: IndexConfig, passages: PassageConfig) -> dict[str, Any]:
    """What a build's vectors and terms depend on (compare with `Manifest.identity`)."""
    return {
        "model": index.model,
        "backend": resolve_backend(index),
        "multilingual_model": index.multilingual_model,
        "tokenizer": TOKENIZER,
        "passage_config": passages.model_dump(),
    }


def with_sentence_vectors(index: IndexConfig, passage_count: int) -> bool:
    """Sentence vectors (for ranking and snippets) unless the corpus is too large for them."""
    if index.sentence_vectors != "auto":
        return index.sentence_vectors == "on"
    return passage_count <= index.sentence_vectors_max_passages


def build_structure(index: IndexConfig, passage_count: int) -> dict[str, Any]:
    """What a build of `passage_count` passages makes of its vectors under these settings
    (compare with `Manifest.structure`; "auto" settings are resolved for that size)."""
    index_type = choose_index_type(index, passage_count)
    return {
        "index_type": index_type,
        **index_parameters(index, index_type),
        "sentence_vectors": with_sentence_vectors(index, passage_count),
    }


def plan_key(
    index: IndexConfig,
    passages: PassageConfig,
    with_sentences: bool,
    files_to_embed: list[tuple[str, str]],
) -> str:
    """Names a build's staging folder from everything its saved chunks depend on: the same
    inputs resume the same folder after a kill, and other settings never reuse its chunks.

    `files_to_embed` are the (relpath, sha256) of the files this build embeds, in order. The
    structure is left out on purpose: chunks hold vectors, which an index type does not change.
    """
    inputs: list[Any] = [
        embedding_identity(index, passages),
        with_sentences,
        index.chunk_size,  # chunk boundaries: a chunk is only valid at the size it was cut
        files_to_embed,
    ]
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
