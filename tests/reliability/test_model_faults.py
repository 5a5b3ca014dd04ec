"""Corrupt model artifacts never become the serving model; the previous one keeps serving."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from infra.repositories import models as models_repo
from infra.repositories import ratings as ratings_repo
from ml.model_store import ModelStore
from ml.train import SVDParams, train_model
from schemas.events import PredictionJob
from tests.harness import STREAMREC, Pipeline, rating_messages
from tests.integration.api.support import ADMIN_TOKEN, serve
from tests.integration.api.support import closed_port as free_port


def _cli(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STREAMREC, *args], env=pipeline.env, capture_output=True, text=True,
                          timeout=180, check=False)


async def _record_unactivated_model(pipeline: Pipeline, store: ModelStore) -> str:
    """A second version, stored and recorded as the trainer does, but not activated."""
    async with pipeline.pool.acquire() as conn:
        frame, through = await ratings_repo.export(conn)
    result = await asyncio.to_thread(train_model, frame, SVDParams(n_factors=10, n_epochs=5),
                                     rating_scale=(0.5, 5.0))
    saved = store.save(result, point_latest=False)
    async with pipeline.pool.acquire() as conn:
        await models_repo.record(conn, version=saved.version, rmse=result.rmse, mae=result.mae,
                                 n_ratings=result.n_ratings, params=result.metadata(),
                                 sha256=saved.sha256, path=str(saved.path), ratings_through=through)
    return saved.version


async def _serving_state(pipeline: Pipeline) -> tuple[str, list[tuple[int, int, float, str]]]:
    active = await pipeline.pool.fetchval("SELECT version_name FROM model_versions WHERE is_active")
    rows = await pipeline.pool.fetch(
        "SELECT user_id, movie_id, value, model_version FROM suggestions ORDER BY 1, 2")
    return active, [tuple(row) for row in rows]


async def test_corrupt_artifacts_are_refused_and_the_previous_model_keeps_serving(
    pipeline: Pipeline,
) -> None:
    worker = pipeline.worker()
    await pipeline.publish(rating_messages(pipeline.data, 0, 2000))
    await pipeline.wait_for("2000 ratings", lambda: _equals(pipeline, "SELECT count(*) FROM ratings", 2000))
    trained = _cli(pipeline, "models", "train", "--wait", "--timeout", "120")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    before = await _serving_state(pipeline)

    store = ModelStore(Path(pipeline.env["STREAMREC_MODEL_DIR"]))
    candidate = await _record_unactivated_model(pipeline, store)
    artifact = store.npz_path(candidate)
    intact = artifact.read_bytes()
    def into_a_directory() -> None:
        artifact.unlink()
        artifact.mkdir()

    faults = {
        "truncated": (lambda: artifact.write_bytes(intact[: len(intact) // 2]), "sha256 mismatch"),
        "altered": (lambda: artifact.write_bytes(intact[:-1] + bytes([intact[-1] ^ 0xFF])),
                    "sha256 mismatch"),
        "missing": (artifact.unlink, "missing"),
        "a directory": (into_a_directory, "cannot be read"),
    }
    for fault, (damage, said) in faults.items():
        damage()
        refused = _cli(pipeline, "models", "activate", candidate)
        assert refused.returncode == 1, fault
        assert str(artifact) in refused.stderr, fault
        assert said in refused.stderr, fault
        assert "Traceback" not in refused.stderr
        listed = {row["version"]: row
                  for row in json.loads(_cli(pipeline, "models", "list", "--json").stdout)}
        assert listed[candidate]["artifact_ok"] is False and said in listed[candidate]["artifact_problem"]
        assert listed[before[0]]["artifact_ok"] is True
        async with serve(pipeline.settings.model_copy(update={
                "database_url": pipeline.env["STREAMREC_DATABASE_URL"], "admin_token": ADMIN_TOKEN,
                "model_dir": store.root})) as api:
            answer = await api.post(f"/api/admin/models/{candidate}/activate",
                                    headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code == 409 and said in answer.json()["error"]["message"], fault
        assert await _serving_state(pipeline) == before, f"{fault}: nothing changed"
        if artifact.is_dir():
            artifact.rmdir()
        artifact.write_bytes(intact)

    # An intact file whose recorded digest is wrong is refused as well.
    await pipeline.pool.execute("UPDATE model_versions SET sha256 = $1 WHERE version_name = $2",
                                "0" * 64, candidate)
    wrong_digest = _cli(pipeline, "models", "activate", candidate)
    assert wrong_digest.returncode == 1 and "sha256 mismatch" in wrong_digest.stderr
    assert await _serving_state(pipeline) == before

    # The active model's file is damaged on disk and so is Postgres's copy of its bytes;
    # a restarted worker (empty model cache) refuses it for a prediction job and leaves
    # the suggestions as they are.
    active_version = before[0]
    active_file = store.npz_path(active_version)
    active_file.write_bytes(active_file.read_bytes()[:100])
    assert await pipeline.scalar("SELECT count(*) FROM model_artifacts WHERE version_name = $1",
                                 active_version) >= 1, "the trainer stores the bytes in Postgres"
    await pipeline.pool.execute(
        "UPDATE model_artifacts SET data = substr(data, 1, 100) WHERE version_name = $1", active_version)
    worker.stop()
    metrics_port = free_port()
    restarted = pipeline.worker(STREAMREC_WORKER_METRICS_PORT=str(metrics_port))
    user_ids = sorted({row[0] for row in before[1]})[:20]
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(pipeline.settings.topic("prediction-jobs"),
                                     PredictionJob(model_version=active_version, user_ids=user_ids,
                                                   job_id="fault-test").dumps(),
                                     key=str(user_ids[0]).encode())
    finally:
        await producer.stop()

    async def refusal_logged() -> bool:
        return "refused" in restarted.output()

    await pipeline.wait_for("the refusal in the worker's log", refusal_logged)
    assert f"model {active_version} refused" in restarted.output()
    assert "sha256 mismatch: recorded" in restarted.output() and "Postgres's copy" in restarted.output()
    assert await _serving_state(pipeline) == before
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    assert "streamrec_worker_model_refused_total 1.0" in metrics

    # A pointer `latest` full of garbage does not stop training: the database is the truth.
    (store.dir / "latest").write_text("\x1b[31mnot a version\n")
    retrained = _cli(pipeline, "models", "train", "--wait", "--timeout", "120")
    assert retrained.returncode in (0, 3), retrained.stdout + retrained.stderr
    assert "Traceback" not in restarted.output()


async def _equals(pipeline: Pipeline, query: str, expected: int) -> bool:
    return await pipeline.scalar(query) == expected
