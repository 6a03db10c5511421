"""Per-user question limits and the /stats counters."""

from __future__ import annotations

from bot.ratelimit import UserRateLimiter, Verdict
from bot.stats import QuestionStats, percentile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_spammer_gets_one_notice_then_silence_until_the_window_frees() -> None:
    clock = Clock()
    limiter = UserRateLimiter(limit=3, period=60, clock=clock)
    verdicts = [limiter.check(1) for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.NOTIFY] + [Verdict.SILENT] * 2
    assert limiter.check(2) is Verdict.ALLOW  # others are not affected
    clock.now += 61
    assert limiter.check(1) is Verdict.ALLOW
    assert [limiter.check(1) for _ in range(3)] == [Verdict.ALLOW, Verdict.ALLOW, Verdict.NOTIFY]


def test_the_window_slides() -> None:
    clock = Clock()
    limiter = UserRateLimiter(limit=2, period=60, clock=clock)
    assert limiter.check(1) is Verdict.ALLOW
    clock.now += 30
    assert limiter.check(1) is Verdict.ALLOW
    clock.now += 31  # the first question left the window, the second has not
    assert limiter.check(1) is Verdict.ALLOW
    assert limiter.check(1) is Verdict.NOTIFY


def test_memory_stays_bounded() -> None:
    limiter = UserRateLimiter(limit=1, max_users=100)
    for user in range(10_000):
        limiter.check(user)
    assert len(limiter) == 100
    assert limiter.check(9_999) is Verdict.NOTIFY  # recent users are still tracked


def test_stats_count_questions_not_found_and_latency() -> None:
    stats = QuestionStats(window=100)
    for n in range(1, 101):
        stats.record(found=n % 4 != 0, seconds=n / 1000)
    snapshot = stats.snapshot()
    assert snapshot.questions == 100
    assert snapshot.not_found == 25
    assert snapshot.not_found_rate == 0.25
    assert snapshot.p50_ms == 50
    assert snapshot.p95_ms == 95


def test_percentile_edges() -> None:
    assert percentile([], 0.5) == 0
    assert percentile([3.0], 0.95) == 3.0
