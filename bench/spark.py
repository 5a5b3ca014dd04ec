"""spark: the local and the Spark training engine on the same ratings and split, side by side.

    python -m bench spark [--sizes 1M] [--spark-master 'local[*]'] [--smoke]

Not part of ``bench all``: it needs a Spark master (``streamrec stack up --spark``'s
cluster, or ``local[N]``) and minutes per million ratings.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import Scale, at_least, at_most
from bench.scale import parse_sizes
from infra.settings import Settings
from ml import spark_engine
from ml.dataset import clean_ratings
from ml.engines import spark_config
from ml.params import ranking_params, svd_params
from ml.sparse_synthetic import generate_sparse, ml25m_shape
from ml.train import TrainResult, train_model

SMOKE_RATINGS = 20_000
METHOD = (
    "Ratings of the ml-25m shape scaled down (`ml.sparse_synthetic`, as `bench scale`), cleaned "
    "once; one version trained by each engine in this process, one after the other, with the "
    "settings' parameters: the local engine (`ml.train.train_model`: Surprise SVD and the ranking "
    "model, the held-out fit then the serving fit, so not side by side as a worker's two training "
    "processes run them) and the Spark engine (`ml.spark_engine.train_model_on_spark` on the "
    "master: a `local[N]` JVM or a standalone cluster such as `streamrec stack up --spark`'s). "
    "Both hold out the same pairs, so their held-out RMSE and NDCG@10 compare. The SparkSession "
    "is started before the clock runs; its start is reported on its own."
)
LIMITS = (
    "On one 2-core machine Spark pays for its JVM, the Arrow hand-over of every frame and ALS's "
    "shuffles, and its executors share the two cores with the driver: it is several times slower "
    "than the local engine there; it exists for ratings beyond one machine's memory or time. The "
    "Spark rating model uses `STREAMREC_SPARK_ALS_RANK` factors (16), not the SVD's 100."
)


def _figures(result: TrainResult, seconds: float) -> dict[str, Any]:
    held_out = result.held_out
    assert held_out is not None
    return {
        "engine": result.engine, "seconds": round(seconds, 2),
        "serving_svd_fit_s": round(result.fit_seconds, 2),
        "serving_ranking_fit_s": round(result.ranking_fit_seconds, 2),
        "ranking": None if result.ranking is None else result.ranking.kind,
        "rmse": round(result.rmse, 4), "ndcg_at_10": round(held_out.candidate.ndcg, 4),
        "popularity_ndcg_at_10": round(held_out.popularity.ndcg, 4), "n_test": result.n_test,
    }


async def run(base: Settings, scale: Scale, *, ratings: str = "1M", master: str | None = None
              ) -> dict[str, Any]:
    """One version by each engine, side by side; ``scale`` smoke: 20,000 ratings."""
    return await asyncio.to_thread(_measure, base, scale.name == "smoke", ratings, master)


def _measure(base: Settings, smoke: bool, ratings: str, master: str | None) -> dict[str, Any]:
    settings = base.model_copy(update={"spark_master": master}) if master else base
    n_ratings = SMOKE_RATINGS if smoke else parse_sizes(ratings)[0]
    shape = ml25m_shape(n_ratings)
    data = clean_ratings(generate_sparse(shape["n_users"], shape["n_movies"], n_ratings, seed=0).ratings)
    params, ranking = svd_params(settings), ranking_params(settings)
    config = spark_config(settings)
    print(f"spark: {len(data):,} ratings, {data['user_id'].nunique():,} users x "
          f"{data['movie_id'].nunique():,} movies; Spark master {config.master}", flush=True)

    started = time.perf_counter()
    spark_engine.session(config)
    session_s = time.perf_counter() - started
    try:
        started = time.perf_counter()
        local = _figures(train_model(data, params, ranking=ranking), time.perf_counter() - started)
        started = time.perf_counter()
        remote = _figures(spark_engine.train_model_on_spark(data, params, config=config, ranking=ranking),
                          time.perf_counter() - started)
    finally:
        spark_engine.stop_session()
    for row in (local, remote):
        print("spark: " + ", ".join(f"{key} {value}" for key, value in row.items()), flush=True)
    time_ratio = remote["seconds"] / local["seconds"]
    ndcg_ratio = remote["ndcg_at_10"] / local["ndcg_at_10"]
    rmse_diff = remote["rmse"] - local["rmse"]
    print(f"spark: spark / local {time_ratio:.1f}x the time, RMSE {rmse_diff:+.4f}, "
          f"NDCG@10 {ndcg_ratio:.3f}x (session start {session_s:.1f} s)")
    size = "smoke" if smoke else ratings
    return {
        "n_ratings": len(data), "shape": shape, "master": config.master,
        "spark_session_start_s": round(session_s, 2), "engines": {"local": local, "spark": remote},
        "spark_over_local_time": time_ratio, "spark_rmse_minus_local": rmse_diff,
        "spark_over_local_ndcg": ndcg_ratio, "method": METHOD, "limits": LIMITS,
        "targets": [
            at_most(f"{size}: spark engine's held-out RMSE minus the local engine's", rmse_diff,
                    0.01, "").as_dict(),
            at_least(f"{size}: spark engine's held-out NDCG@10 / the local engine's", ndcg_ratio,
                     0.97, "x").as_dict(),
        ],
    }
