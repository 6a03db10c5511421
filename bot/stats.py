"""Counters for /stats: questions answered, not-found rate and reply latency percentiles."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class StatsSnapshot:
    """The numbers /stats shows, taken at one moment."""

    questions: int
    not_found: int
    p50_ms: float
    p95_ms: float

    @property
    def not_found_rate(self) -> float:
        return self.not_found / self.questions if self.questions else 0.0


class QuestionStats:
    """Counts answered questions and keeps the latest latencies (bounded) for percentiles.

    Used only from the event loop, so it needs no lock.
    """

    def __init__(self, window: int = 2000) -> None:
        self._questions = 0
        self._not_found = 0
        self._latencies: deque[float] = deque(maxlen=window)

    def record(self, found: bool, seconds: float) -> None:
        """Count one answered question and how long its reply took."""
        self._questions += 1
        self._not_found += 0 if found else 1
        self._latencies.append(seconds)

    def snapshot(self) -> StatsSnapshot:
        ordered = sorted(self._latencies)
        return StatsSnapshot(
            questions=self._questions,
            not_found=self._not_found,
            p50_ms=percentile(ordered, 0.50) * 1000,
            p95_ms=percentile(ordered, 0.95) * 1000,
        )


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(len(ordered) * fraction))
    return ordered[rank - 1]
