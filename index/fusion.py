"""Fuses ranked lists from several retrievers into one: short pure functions over (row, score)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def language_aware_fusion(
    rankings: Sequence[Ranking],
    weights: Sequence[float],
    judges: Sequence[np.ndarray | None],
    k: int = 60,
) -> list[tuple[int, float]]:
    """RRF as a weighted mean over the lists that can judge each row: score(d) =
    Σ w / (k + rank) over the lists that rank d and can judge it, divided by Σ w over the lists
    that can judge d (`judges[i]` is a boolean mask over rows, None for a list that judges every
    row). A list's rank for a row it cannot judge is ignored; a row no list can judge scores 0.
    With every mask None it ranks exactly as `reciprocal_rank_fusion`."""
    sums: dict[int, float] = {}
    for ranking, weight, mask in zip(rankings, weights, judges, strict=True):
        for rank, (row, _score) in enumerate(ranking, start=1):
            if mask is None or mask[row]:
                sums[row] = sums.get(row, 0.0) + weight / (k + rank)
    fused = []
    for row, total in sums.items():
        judging = sum(
            weight
            for weight, mask in zip(weights, judges, strict=True)
            if mask is None or bool(mask[row])
        )
        fused.append((row, total / judging if judging else 0.0))
    return sorted(fused, key=lambda item: (-item[1], item[0]))
