"""The Faust app and its topics, built from the settings object (nothing at import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from infra.settings import Settings
from schemas.events import DeadLetter, ModelPublished, PredictionJob, RetrainRequest


@dataclass(frozen=True)
class Topics:
    """streamrec's topics as Faust sees them (names carry the configured prefix)."""

    ratings: faust.TopicT
    dead_letters: faust.TopicT
    retrain_requests: faust.TopicT
    model_events: faust.TopicT
    prediction_jobs: faust.TopicT


def create_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        autodiscover=False,
        datadir=str(settings.home.resolve() / "faust" / settings.app_id),
        topic_partitions=settings.ratings_partitions,
        topic_replication_factor=settings.kafka_replication,
        consumer_auto_offset_reset="earliest",
        # Offsets of acked events are committed often: a restart redelivers little.
        broker_commit_interval=0.5,
        producer_acks=-1,
        web_enabled=False,
        # Several workers join one consumer group; a rebalance must not wait long.
        broker_session_timeout=30.0,
        broker_heartbeat_interval=3.0,
        worker_redirect_stdouts=False,
    )


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """streamrec's topics. ``ratings`` is read as raw bytes: producers in any language
    write plain JSON, which streams' own validation parses (schemas.ratings)."""
    raw: dict[str, Any] = {
        "key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"
    }
    return Topics(
        ratings=app.topic(settings.topic("ratings"), partitions=settings.ratings_partitions, **raw),
        dead_letters=app.topic(settings.topic("ratings-dlq"), value_type=DeadLetter, partitions=1),
        retrain_requests=app.topic(
            settings.topic("retrain-requests"), value_type=RetrainRequest, partitions=1
        ),
        model_events=app.topic(settings.topic("model-events"), value_type=ModelPublished, partitions=1),
        prediction_jobs=app.topic(
            settings.topic("prediction-jobs"),
            key_type=str,
            value_type=PredictionJob,
            partitions=settings.prediction_jobs_partitions,
        ),
    )
