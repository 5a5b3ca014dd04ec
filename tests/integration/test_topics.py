"""`topics create` makes streamrec's topics with the configured partitions, idempotently."""

from aiokafka.admin import AIOKafkaAdminClient

from infra.settings import Settings
from streams import topic_admin


async def _partitions(settings: Settings) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        names = [spec.name for spec in topic_admin.topic_specs(settings)]
        described = await admin.describe_topics(names)
        return {
            topic["topic"]: len(topic["partitions"]) for topic in described if topic["error_code"] == 0
        }
    finally:
        await admin.close()


async def test_topics_are_created_once_with_configured_partitions(settings: Settings) -> None:
    settings = settings.model_copy(update={"ratings_partitions": 4, "prediction_jobs_partitions": 3})
    created = await topic_admin.ensure_topics(settings)
    assert sorted(created) == sorted(spec.name for spec in topic_admin.topic_specs(settings))

    assert await _partitions(settings) == {
        settings.topic("ratings"): 4,
        settings.topic("hidden-items"): 4,
        settings.topic("impressions"): 4,
        settings.topic("ratings-dlq"): 1,
        settings.topic("retrain-requests"): 1,
        settings.topic("model-events"): 1,
        settings.topic("prediction-jobs"): 3,
    }
    assert await topic_admin.ensure_topics(settings) == []
