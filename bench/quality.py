"""quality: each model's list (P@10, NDCG@10, coverage) and the predicted rating's
RMSE/MAE, side by side on one held-out split, with fit times.

``ml.evaluate.evaluate_frame`` on the built-in synthetic data of the scale's size (the
settings' SVD and ranking parameters) and, with ``--movielens PATH``,
``ml.evaluate.evaluate_file`` on that file. No service is needed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from bench.common import Scale, Target, at_least, at_most
from infra.settings import Settings
from ml.evaluate import evaluate_file, evaluate_frame
from ml.params import ranking_params, svd_params
from ml.ranking import RankingParams
from ml.synthetic import ML_LATEST_SMALL, generate
from ml.train import SVDParams

NDCG_TARGET_RATIO = 1.6  # the served list's NDCG@10 against popularity's, on the built-in data
RANKING_FIT_TARGET_S = 6.0
LARGE_NAME = "synthetic large catalogue (ml-latest-small shape)"
LARGE_NDCG_TARGET_RATIO = 1.9  # iALS beyond ranking_ease_max_movies
LARGE_RANKING_FIT_TARGET_S = 2.0
LARGE_SMOKE = {"n_users": 150, "n_movies": 5000, "n_ratings": 10_000}
TEMPORAL_NDCG_TARGET_RATIO = 1.5  # against popularity in the training window

METHOD = (
    "`ml.evaluate.evaluate_frame` on synthetic data of the scale's size (`ml.synthetic.generate`, "
    "seed 3), on synthetic data of ml-latest-small's shape (610 users x 9,742 movies, 100,836 "
    "ratings: past `ranking_ease_max_movies`, so the large-catalogue model; also with PureSVD "
    "for comparison); the built-in data also by the temporal protocol (`ml.dataset.time_split`: "
    "trained on the ratings before the 80% quantile of their times, tested on those after, of "
    "users and movies seen before; popularity is the training window's) and replayed "
    "prequentially (`ml.prequential`: for up to 10,000 sampled later ratings of at least 4 "
    "stars, in time order, whether the movie is in the user's top 10 from their ratings so far, "
    "from their training ratings only, and in the chart of the movies most rated so far); and, "
    "when `--movielens PATH` is given, `ml.evaluate.evaluate_file` on it: a pair "
    "split (`ml.dataset.pair_split`, a fifth of the (user, movie) pairs held out by a seeded "
    "hash, seed 0), both models fitted on the rest with the settings' parameters. Rows: "
    "popularity (most-rated unseen movies), biases only (mu + b_u + b_i), SVD ranked by "
    "predicted rating, and the ranking model (the list streamrec serves). Each list is the top "
    "10 among movies of the training part minus the user's training ratings; a held-out rating "
    "≥ 4 is a hit; NDCG@10 has binary gains and the 1/log2(rank + 1) discount; coverage is the "
    "share of those movies in at least one user's top 10. RMSE/MAE are the SVD's (the biases "
    "row: without factors)."
)

LIMITS = (
    "The list's quality is limited by what the history tells: the ranking model (EASE^R up to "
    "the catalogue threshold, iALS beyond) scores a user from the movies they rated, so "
    "users with few ratings get lists close to popularity's. RMSE is limited by the data's "
    "own noise. Fit time: Surprise's single-threaded SGD for the SVD; EASE^R's one "
    "movies x movies inverse (cost grows with the cube of the catalogue, BLAS on both cores); "
    "iALS's sweeps (implicit's threads, cost ∝ ratings x factors² per sweep). The built-in "
    "data's rating times are drawn independently of its users' tastes, so its temporal and "
    "prequential figures measure the protocols, not drift: real data, with tastes and "
    "popularity that move, needs `--movielens PATH`. The synthetic tastes are low-rank, which "
    "favours the factored models (iALS, PureSVD) more than real data does."
)


def _evaluate(params: SVDParams, ranking: RankingParams, scale: Scale,
              movielens: Path | None) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Held-out figures per dataset and protocol, and the prequential replays."""
    data = generate(scale.n_users, scale.n_movies, scale.n_ratings, seed=3)
    datasets = {f"synthetic {scale.name}": evaluate_frame(data.ratings, params=params, ranking=ranking),
                f"synthetic {scale.name}, temporal": evaluate_frame(data.ratings, params=params,
                                                                    ranking=ranking, protocol="temporal")}
    replays = {f"synthetic {scale.name}": evaluate_frame(data.ratings, ranking=ranking,
                                                         protocol="prequential")}
    # A catalogue past ranking_ease_max_movies (real ones are: 59k movies in ml-25m), so the
    # model auto picks for large catalogues is measured too.
    shape = LARGE_SMOKE if scale.name == "smoke" else ML_LATEST_SMALL
    large = generate(shape["n_users"], shape["n_movies"], shape["n_ratings"], seed=3)
    datasets[LARGE_NAME] = evaluate_frame(large.ratings, params=params, ranking=ranking)
    datasets[f"{LARGE_NAME}, PureSVD for comparison"] = evaluate_frame(
        large.ratings, params=params, ranking=dataclasses.replace(ranking, kind="puresvd"))
    if movielens is not None:
        for protocol in ("random", "temporal"):
            datasets[f"MovieLens ({movielens.name}), {protocol}"] = evaluate_file(
                movielens, params=params, ranking=ranking, protocol=protocol)
        replays[f"MovieLens ({movielens.name})"] = evaluate_file(movielens, ranking=ranking,
                                                                 protocol="prequential")
    return datasets, replays


async def run(base: Settings, scale: Scale, *, movielens: Path | None = None) -> dict[str, Any]:
    params, ranking = svd_params(base), ranking_params(base)
    if scale.name == "smoke":
        params = SVDParams(n_factors=10, n_epochs=5)
    datasets, replays = await asyncio.to_thread(_evaluate, params, ranking, scale, movielens)
    targets: list[Target] = []
    for name, replay in replays.items():
        print(f"quality: {name}: prequential hit rate@10 {replay['hit_rate_at_10']:.4f} with the speed "
              f"layer, {replay['hit_rate_at_10_without_speed_layer']:.4f} without, popularity so far "
              f"{replay['baseline_hit_rate_at_10']:.4f} ({replay['n_events']} replayed ratings)")
        targets.append(Target(f"{name}: prequential hit rate@10 above popularity so far's",
                              replay["hit_rate_at_10"], "", f"> {replay['baseline_hit_rate_at_10']:.4f}",
                              replay["hit_rate_at_10"] > replay["baseline_hit_rate_at_10"]))
    for name, fig in datasets.items():
        ratio = fig["ndcg_at_10"] / fig["baseline_ndcg_at_10"] if fig["baseline_ndcg_at_10"] else 0.0
        for model, row in fig["models"].items():
            print(f"quality: {name}: {model:<28} P@10 {row['precision']:.4f}  NDCG@10 {row['ndcg']:.4f}"
                  f"  coverage {row['coverage']:.3f}"
                  + (f"  RMSE {row['rmse']:.4f}" if row["rmse"] is not None else ""))
        print(f"quality: {name}: served list NDCG@10 {ratio:.2f}x popularity's; SVD fit "
              f"{fig['fit_seconds']:.1f} s, ranking fit {fig['ranking_fit_seconds']:.1f} s")
        targets.append(Target(f"{name}: RMSE below the global mean's", fig["rmse"], "",
                              f"< {fig['baseline_rmse']:.4f}", fig["rmse"] < fig["baseline_rmse"]))
        if name.startswith(f"{LARGE_NAME}, "):
            continue  # a comparison row: no target of its own
        large = name == LARGE_NAME
        wanted = (LARGE_NDCG_TARGET_RATIO if large else
                  TEMPORAL_NDCG_TARGET_RATIO if fig["protocol"] == "temporal" else NDCG_TARGET_RATIO)
        targets.append(at_least(f"{name}: served NDCG@10 / popularity's", ratio, wanted, "x"))
        targets.append(at_most(f"{name}: ranking model fit ({fig['ranking_model']})",
                               fig["ranking_fit_seconds"],
                               LARGE_RANKING_FIT_TARGET_S if large else RANKING_FIT_TARGET_S, "s"))
    first = next(iter(datasets.values()))
    return {
        "method": METHOD, "limits": LIMITS,
        "params": params.as_dict(), "ranking": ranking.as_dict(),
        "rmse": first["rmse"], "mae": first["mae"], "precision_at_10": first["precision_at_10"],
        "ndcg_at_10": first["ndcg_at_10"], "coverage": first["coverage"],
        "baseline_precision_at_10": first["baseline_precision_at_10"],
        "baseline_ndcg_at_10": first["baseline_ndcg_at_10"],
        "datasets": datasets, "prequential": replays,
        "targets": [t.as_dict() for t in targets],
    }
