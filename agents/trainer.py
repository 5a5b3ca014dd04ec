"""The trainer agent: export, fit both models off the event loop, evaluate them on a
held-out split together with the active version's held-out models and popularity,
store the artifact with its digest, record it, activate it only if it passes the gate
(:func:`ml.gate.decide`), announce.

Requests that pile up during a training collapse into one; a request made before the
newest model's export began is already covered and is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import faust

from agents.decoding import decode
from agents.deps import WorkerDeps
from infra.repositories import artifacts as artifacts_repo
from infra.repositories import models as models_repo
from infra.repositories import movies as movies_repo
from infra.repositories import ratings as ratings_repo
from ml.engines import train_engine
from ml.errors import ModelIntegrityError, NotEnoughRatings
from ml.gate import SplitScores, Tolerances, decide
from ml.model_store import parse_bundle
from ml.params import ranking_params, svd_params
from ml.train import EvalModels, TrainResult
from schemas.events import ModelPublished, RetrainRequest
from schemas.ratings import RATING_MAX, RATING_MIN
from streams.retry import with_retry

log = logging.getLogger(__name__)


async def _active_held_out(deps: WorkerDeps, active: models_repo.ModelVersion | None) -> EvalModels | None:
    """The active version's held-out models, for scoring it on the candidate's split;
    None when there is no active version or it has none (saved before versions kept
    them, or its artifact is unreadable: then its recorded figures are compared)."""
    if active is None:
        return None
    bundle = await deps.bundle_of(active)
    if bundle is None:
        log.warning("comparing the candidate with the active model's recorded figures")
        return None
    return bundle.held_out


def _recorded(active: models_repo.ModelVersion) -> SplitScores:
    """The active version's figures as recorded (measured on an older split)."""
    ndcg = active.ndcg_at_10 if active.ndcg_at_10 is not None else 0.0
    return SplitScores(rmse=active.rmse, mae=active.mae, ndcg=ndcg, precision=0.0, recall=0.0,
                       coverage=0.0)


async def train_for(deps: WorkerDeps, requests: list[RetrainRequest]) -> ModelPublished | None:
    """One training for a batch of requests; None when they were covered already or
    there are too few ratings."""
    pool = await deps.pool()
    async with pool.acquire() as conn:
        covered_until = await with_retry("reading models", lambda: models_repo.latest_export(conn))
    pending = [r for r in requests if covered_until is None or r.requested_at > covered_until]
    if not pending:
        log.info("%d retrain request(s) already covered by the newest model", len(requests))
        return await _answer_covered(deps, requests)

    exported_at = datetime.now(UTC)

    async def export() -> tuple[Any, datetime | None]:
        async with pool.acquire() as conn:
            exported = await ratings_repo.export(conn)
            # The cold-start list's popularity follows the stream at every retrain.
            await movies_repo.refresh_popularity(conn)
            return exported

    ratings, ratings_through = await with_retry("exporting ratings", export)
    settings = deps.settings
    async with pool.acquire() as conn:
        active = await models_repo.active(conn)
    active_held_out = await _active_held_out(deps, active)
    try:
        result: TrainResult = await train_engine(settings, deps.training_executor)(
            ratings, svd_params(settings), test_size=settings.test_size,
            rating_scale=(RATING_MIN, RATING_MAX),  # the events' scale, whatever the data holds
            ranking=ranking_params(settings), active=active_held_out,
        )
    except NotEnoughRatings as err:
        log.warning("retrain skipped: %s", err.message)
        return None

    store = deps.local_models()
    report = result.held_out
    assert report is not None  # train_in_process always evaluates
    on_split = report.active if report.active is not None else _recorded(active) if active else None
    decision = decide(report.candidate, on_split, report.popularity,
                      Tolerances(rmse=settings.activation_tolerance, ndcg=settings.activation_ndcg_tolerance))
    # `latest` names the serving model, as in the seed's store; a rejected one is kept
    # for inspection but not pointed at.
    saved = store.save(result, point_latest=decision.activate,
                       protect=[active.version_name] if active else [])
    # Read back what was written: only an artifact that passes its digest is recorded,
    # and those bytes are what Postgres keeps for every other host. What was read back
    # is what this worker's fan-out and predictor serve from.
    try:
        data = await asyncio.to_thread(store.read_verified, saved.version, saved.sha256)
        bundle = await asyncio.to_thread(parse_bundle, data, saved.path)
    except ModelIntegrityError:
        deps.metrics.model_refused.inc()
        raise
    deps.models.put(saved.version, saved.sha256, bundle)

    async def record() -> None:
        # The row and its bytes in one transaction: a recorded version can be loaded anywhere.
        async with pool.acquire() as conn, conn.transaction():
            await models_repo.record(
                conn, version=saved.version, rmse=result.rmse, mae=result.mae,
                n_ratings=result.n_ratings, params=result.metadata(), sha256=saved.sha256,
                path=str(saved.path), ratings_through=ratings_through, exported_at=exported_at,
                decision=decision.text, ndcg_at_10=report.candidate.ndcg,
                precision_at_10=report.candidate.precision, baseline_ndcg_at_10=report.popularity.ndcg,
            )
            await artifacts_repo.write(conn, saved.version, data)
            if decision.activate:
                await models_repo.activate(conn, saved.version)
            await artifacts_repo.prune(conn, keep=settings.models_to_keep)

    await with_retry("recording the model", record)
    deps.metrics.models.labels(decision="activated" if decision.activate else "rejected").inc()
    log.info("model %s (%s): %s", saved.version, ", ".join(sorted({r.reason for r in pending})),
             decision.text)
    published = ModelPublished(
        version=saved.version, rmse=result.rmse, mae=result.mae, n_ratings=result.n_ratings,
        activated=decision.activate, decision=decision.text, request_ids=[r.request_id for r in pending],
    )

    await with_retry("announcing the model", lambda: _send(deps, published))
    return published


async def _answer_covered(deps: WorkerDeps, requests: list[RetrainRequest]) -> ModelPublished | None:
    """Announce the newest model again for requests it covers, so whoever waits on a
    request (``models train --wait``) gets an answer."""
    pool = await deps.pool()
    async with pool.acquire() as conn:
        newest = await with_retry("reading models", lambda: models_repo.newest(conn))
    if newest is None:
        return None
    published = ModelPublished(
        version=newest.version_name, rmse=newest.rmse, mae=newest.mae, n_ratings=newest.n_ratings,
        activated=newest.is_active, decision=newest.decision,
        request_ids=[r.request_id for r in requests], covered=True,
    )
    await with_retry("announcing the model", lambda: _send(deps, published))
    return published


async def _send(deps: WorkerDeps, published: ModelPublished) -> None:
    await (await deps.topics.model_events.send(value=published))


def register(app: faust.App, deps: WorkerDeps) -> None:
    @app.agent(deps.topics.retrain_requests, name="streamrec.trainer")
    async def trainer_agent(stream: faust.StreamT[Any]) -> None:
        # Requests sent together (a threshold crossing and an operator's) make one training.
        batches = stream.noack_take(100, within=0.25)  # type: ignore[attr-defined]
        async for events in batches:
            requests = [request for event in events
                        if (request := decode(event, RetrainRequest, deps.metrics)) is not None]
            try:
                if requests:
                    await train_for(deps, requests)
            except Exception:  # a bug must not stop retraining for good
                log.exception("training failed")
            for event in events:
                await stream.ack(event)
