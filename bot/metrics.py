"""The bot's metrics for Prometheus (prometheus-client), served at /metrics by each replica.

One registry per Application rather than the library's global one, so several bots in one
process (the tests) count apart. Every replica counts its own; Prometheus sums them.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from index.models import BuildProgress

# Replies take ~0.1-0.3 s idle and seconds under load; the buckets cover both.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class BotMetrics:
    """Counters and gauges the handlers update; `render` is the /metrics page."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.questions = Counter(
            "citebot_questions",
            "Questions answered, by whether the corpus had an answer",
            ["found"],
            registry=registry,
        )
        self.latency = Histogram(
            "citebot_answer_seconds",
            "Seconds from a question's arrival to its answer being sent",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.refusals = Counter(
            "citebot_refusals",
            "Questions not answered: rate_limit, group_rate_limit, rejected, unavailable",
            ["reason"],
            registry=registry,
        )
        self.updates = Counter(
            "citebot_updates",
            "Updates received: handled, duplicate (already handled), busy (another replica "
            "has it) or deferred (the database was away); the last two are delivered again",
            ["outcome"],
            registry=registry,
        )
        self.build_progress = Gauge(
            "citebot_build_progress_ratio",
            "Share of the running build's passages embedded (0-1; 0 with no build)",
            registry=registry,
        )
        self.build_running = Gauge(
            "citebot_build_running", "1 while this replica runs a build", registry=registry
        )

    def answered(self, found: bool, seconds: float) -> None:
        self.questions.labels(found=str(found).lower()).inc()
        self.latency.observe(seconds)

    def refused(self, reason: str) -> None:
        self.refusals.labels(reason=reason).inc()

    def update_seen(self, outcome: str) -> None:
        self.updates.labels(outcome=outcome).inc()

    def build_step(self, progress: BuildProgress) -> None:
        """The build's progress callback (any thread): how far embedding has got."""
        self.build_running.set(1)
        if progress.passages_to_embed:
            self.build_progress.set(progress.passages_embedded / progress.passages_to_embed)

    def build_ended(self) -> None:
        self.build_running.set(0)
        self.build_progress.set(0)

    def render(self) -> tuple[bytes, str]:
        """The page and its content type, in Prometheus' text format."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
