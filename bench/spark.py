"""Benchmark: the local and the Spark training engine on the same ratings and split, side by side.

    python -m bench.spark [--ratings 1M] [--master 'local[*]'] [--smoke] [--out FILE]

Generates ml-25m-shaped ratings (``ml.sparse_synthetic``, as ``bench scale`` does),
then trains one version with each engine in this process, one after the other, with
the settings' parameters: the local engine (``ml.train.train_model``: Surprise SVD and
the ranking model, held-out fit then serving fit) and the Spark engine
(``ml.spark_engine.train_model_on_spark`` on ``--master``: a ``local[N]`` JVM, or a
standalone cluster such as ``streamrec stack up --spark``'s). Both clean the same
frame and hold out the same pairs, so their held-out RMSE and NDCG@10 compare. The
SparkSession is started before the clock runs (its start is reported on its own).
Prints a table and writes ``--out`` (default ``bench/results/spark_engines.json``;
``--smoke``: 20,000 ratings, a temporary file, no speed claims).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, now_iso
from bench.scale import parse_sizes
from infra.settings import load_settings
from ml import spark_engine
from ml.dataset import clean_ratings
from ml.engines import spark_config
from ml.params import ranking_params, svd_params
from ml.sparse_synthetic import generate_sparse, ml25m_shape
from ml.train import TrainResult, train_model


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--ratings", default="1M")
    parser.add_argument("--master", help="Spark master (default STREAMREC_SPARK_MASTER)")
    parser.add_argument("--smoke", action="store_true", help="20,000 ratings, a temporary results file")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.master:
        settings = settings.model_copy(update={"spark_master": args.master})
    n_ratings = 20_000 if args.smoke else parse_sizes(args.ratings)[0]
    out = args.out or (Path(tempfile.mkdtemp(prefix="streamrec-bench-spark-")) / "spark_engines.json"
                       if args.smoke else RESULTS_DIR / "spark_engines.json")
    shape = ml25m_shape(n_ratings)
    data = clean_ratings(generate_sparse(shape["n_users"], shape["n_movies"], n_ratings, seed=0).ratings)
    params, ranking = svd_params(settings), ranking_params(settings)
    config = spark_config(settings)
    print(f"{len(data):,} ratings, {data['user_id'].nunique():,} users x {data['movie_id'].nunique():,} "
          f"movies; Spark master {config.master}", flush=True)

    started = time.perf_counter()
    spark_engine.session(config)
    session_s = time.perf_counter() - started
    rows = []
    started = time.perf_counter()
    local = train_model(data, params, ranking=ranking)
    rows.append(_figures(local, time.perf_counter() - started))
    started = time.perf_counter()
    remote = spark_engine.train_model_on_spark(data, params, config=config, ranking=ranking)
    rows.append(_figures(remote, time.perf_counter() - started))
    spark_engine.stop_session()

    print(f"Spark session start {session_s:.1f} s")
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    first, second = rows
    print(f"spark / local: {second['seconds'] / first['seconds']:.1f}x the time, RMSE "
          f"{second['rmse'] - first['rmse']:+.4f}, NDCG@10 {second['ndcg_at_10'] / first['ndcg_at_10']:.3f}x")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "measured_at": now_iso(), "n_ratings": len(data), "shape": shape, "master": config.master,
        "smoke": args.smoke, "spark_session_start_s": round(session_s, 2), "engines": rows,
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
