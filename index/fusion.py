"""Fuses ranked lists from several retrievers into one: short pure functions over (row, score)."""

from __future__ import annotations

from collections.abc import Sequence

Ranking = Sequence[tuple[int, float]]


def reciprocal_rank_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float], k: int = 60
) -> list[tuple[int, float]]:
    """RRF (Cormack et al., 2009): score(d) = Σ w / (k + rank). Scale-free, so BM25 and cosine
    scores need no calibration against each other."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (row, _score) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
