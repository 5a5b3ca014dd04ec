"""The worker's Prometheus metrics (served by ``streamrec worker`` when
``STREAMREC_WORKER_METRICS_PORT`` is set). A registry per worker, not the global one."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.ratings_stored = Counter(
            "streamrec_worker_ratings_stored", "Ratings inserted or replaced in Postgres.", registry=r)
        self.ratings_removed = Counter(
            "streamrec_worker_ratings_removed",
            "Stored ratings deleted by their user's removal (\"op\": \"remove\").", registry=r)
        self.dead_lettered = Counter(
            "streamrec_worker_dead_lettered", "Events sent to the dead-letter topic.", ["reason"],
            registry=r)
        self.events_expired = Counter(
            "streamrec_worker_events_expired",
            "Events skipped because Kafka appended them after their publish deadline "
            "(the API answered 503 for them).", ["topic"], registry=r)
        self.models = Counter(
            "streamrec_worker_models", "Models trained, by the trainer's decision.", ["decision"],
            registry=r)
        self.model_refused = Counter(
            "streamrec_worker_model_refused",
            "Model artifacts refused: missing, truncated or not matching their sha256.", registry=r)
        self.suggestions_written = Counter(
            "streamrec_worker_suggestions_written", "Suggestion rows written by predictors.",
            registry=r)
        self.internal_skipped = Counter(
            "streamrec_worker_internal_messages_skipped",
            "Unreadable messages on streamrec's internal topics, logged and skipped.",
            ["topic", "reason"], registry=r)
        self.realtime_users = Counter(
            "streamrec_worker_realtime_users", "Users whose list the speed layer re-ranked.", registry=r)
        self.hidden_stored = Counter(
            "streamrec_worker_hidden_stored",
            "Hides and unhides (\"not interested\") that changed hidden_items, by action.",
            ["action"], registry=r)
        for action in ("hide", "unhide"):
            self.hidden_stored.labels(action)
        self.impressions_stored = Counter(
            "streamrec_worker_impressions_stored", "Impressions (lists served) stored in Postgres.",
            registry=r)
        self.attributed = Counter(
            "streamrec_worker_attributed",
            "Ratings and hides credited to an impression that showed their movie, by action.",
            ["action"], registry=r)
        for kind in ("rating", "hide"):
            self.attributed.labels(kind)
        self.jobs_dropped = Counter(
            "streamrec_worker_prediction_jobs_dropped",
            "Prediction jobs dropped because their model is no longer active.", registry=r)
        self.prediction_yield_seconds = Counter(
            "streamrec_worker_prediction_yield_seconds",
            "Seconds prediction jobs waited for ingest and the speed layer before starting.",
            registry=r)
