"""Embeds a build's new texts with each model, in chunks saved to disk so a killed build resumes.

A chunk is `chunk_size` texts (passages, each followed by its sentences when sentence vectors are
kept): `NNNNNN.npy` holds the English model's vectors, `NNNNNN.multilingual.npy` the multilingual
model's, saved first. A chunk counts only when every model's file is there with the right number
of rows. A build asked to stop stops after the batch it is embedding (a few seconds at most).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.embedder import Embedder
from index.models import BuildProgress

ProgressCallback = Callable[[BuildProgress], None]


@dataclass(frozen=True)
class EmbeddedChunk:
    primary: np.ndarray
    multilingual: np.ndarray | None


@dataclass(frozen=True)
class EmbeddedTexts:
    """The vectors of a build's new texts, chunk by chunk, and how many passages this run
    embedded itself (not resumed from saved chunks)."""

    chunks: list[EmbeddedChunk]
    embedded_passages: int

    def primary_rows(self) -> Iterator[np.ndarray]:
        for chunk in self.chunks:
            yield from chunk.primary

    def multilingual_rows(self) -> Iterator[np.ndarray]:
        for chunk in self.chunks:
            if chunk.multilingual is not None:
                yield from chunk.multilingual


def embed_in_chunks(
    texts: list[tuple[str, bool]],
    chunk_dir: Path,
    chunk_size: int,
    get_embedder: Callable[[], Embedder],
    with_multilingual: bool,
    progress: ProgressCallback,
    check_cancelled: Callable[[], None],
) -> EmbeddedTexts:
    """Embed (text, is a passage) pairs; chunks saved before a kill are reused.

    `check_cancelled` runs before each chunk and after each batch, and raises to stop.
    """
    chunk_dir.mkdir(parents=True, exist_ok=True)
    total, done, embedded = len(texts), 0, 0
    chunks: list[EmbeddedChunk] = []

    def advance(count: int) -> None:
        nonlocal done
        done += count
        progress(BuildProgress("embedding", passages_embedded=done, passages_to_embed=total))
        check_cancelled()

    def between_batches(_count: int) -> None:
        check_cancelled()

    if total:
        progress(BuildProgress("loading model"))
        embedder = get_embedder()  # loaded before the embedding bar starts its clock
        if with_multilingual:
            embedder.multilingual  # noqa: B018  # the multilingual model too
    progress(BuildProgress("embedding", passages_to_embed=total))
    for number, begin in enumerate(range(0, total, chunk_size)):
        check_cancelled()
        part = [text for text, _ in texts[begin : begin + chunk_size]]
        primary_path = chunk_dir / f"{number:06d}.npy"
        multilingual_path = chunk_dir / f"{number:06d}.multilingual.npy"
        primary = _load_chunk(primary_path, len(part))
        multilingual = _load_chunk(multilingual_path, len(part)) if with_multilingual else None
        if primary is None or (with_multilingual and multilingual is None):
            embedder = get_embedder()
            encoder = embedder.multilingual if with_multilingual else None
            if encoder is not None:
                multilingual = encoder.embed_passages(part, between_batches)
                _save_chunk(multilingual_path, multilingual)
            # The English model's file is saved last: once it is there, the chunk is complete.
            primary = embedder.embed_passages(part, advance)
            _save_chunk(primary_path, primary)
            embedded += sum(is_passage for _, is_passage in texts[begin : begin + chunk_size])
        else:
            advance(len(part))
        chunks.append(EmbeddedChunk(primary, multilingual))
    return EmbeddedTexts(chunks, embedded)


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
    try:
        np.save(temporary, vectors)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)  # a save cut short (a full disk) leaves nothing
