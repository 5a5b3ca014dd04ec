"""The Faust app and its topics, built from the settings object (nothing at import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from infra.settings import Settings
from schemas.events import DeadLetter


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
    """streamrec's topics. Every topic an agent reads is read as raw bytes: producers
    in any language write plain JSON to ``ratings``, which streams' own validation
    parses (schemas.ratings), and the internal topics are decoded by
    :func:`schemas.internal.parse_internal`, so no message can stall Faust's decoder.
    Records sent to them are serialised as JSON by the records themselves."""
    raw: dict[str, Any] = {
        "key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"
    }
    return Topics(
        ratings=app.topic(settings.topic("ratings"), partitions=settings.ratings_partitions, **raw),
        dead_letters=app.topic(settings.topic("ratings-dlq"), value_type=DeadLetter, partitions=1),
        retrain_requests=app.topic(settings.topic("retrain-requests"), partitions=1, **raw),
        model_events=app.topic(settings.topic("model-events"), partitions=1, **raw),
        prediction_jobs=app.topic(
            settings.topic("prediction-jobs"), partitions=settings.prediction_jobs_partitions,
            key_type=str, key_serializer="raw", value_type=bytes, value_serializer="raw",
        ),
    )
