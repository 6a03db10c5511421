"""A terminal progress bar (tqdm, on stderr) fed by the builder's progress reports."""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

from index.models import BuildProgress


class ProgressBar:
    """One bar per stage: files scanned, then passages embedded (with rate and ETA)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._bar: tqdm | None = None
        self._stage = ""

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def update(self, progress: BuildProgress) -> None:
        if progress.stage != self._stage:
            self._close()
            self._stage = progress.stage
            self._bar = self._open(progress)
        if self._bar is None:
            return
        done = (
            progress.files_scanned if progress.stage == "scanning" else progress.passages_embedded
        )
        self._bar.update(done - self._bar.n)

    def _open(self, progress: BuildProgress) -> tqdm | None:
        if progress.stage == "scanning":
            return tqdm(total=progress.files_total, desc="scanning", unit="file", file=self._stream)
        if progress.stage == "embedding" and progress.passages_to_embed:
            return tqdm(
                total=progress.passages_to_embed,
                desc="embedding",
                unit="passage",
                file=self._stream,
            )
        if progress.stage in ("loading model", "indexing", "publishing"):
            print(f"{progress.stage}…", file=self._stream, flush=True)
        return None

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
