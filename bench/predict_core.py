"""Benchmark: vectorised scoring + top-50 for all users vs Surprise's per-pair loop.

    python -m bench.predict_core [--fake-factors] [--out results.json]

Generates MovieLens-1M-sized synthetic data (6,040 users x 3,706 movies x 1,000,209
ratings), fits Surprise SVD with the default parameters on an 80/20 split (or, with
``--fake-factors``, draws factor arrays of the same shapes from a seeded normal),
then, side by side in one run:

* vectorised: ``ml.topk.recommend`` for every user, rated movies excluded, top 50;
* seed loop: ``algo.predict(user, movie).est`` for every movie, for a subset of
  users (the seed's loop, without its per-row database upsert), extrapolated per user.

It checks that both give the same numbers on the subset and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from surprise import SVD

from ml.dataset import rating_scale_of, split_ratings
from ml.metrics import held_out_accuracy
from ml.scoring import SVDFactors, from_surprise, score_users
from ml.synthetic import ML_1M, generate
from ml.topk import RatedPairs, recommend
from ml.train import SVDParams, fit_svd


def _fake_factors(n_users: int, n_movies: int, n_factors: int, seed: int) -> SVDFactors:
    rng = np.random.default_rng(seed)
    return SVDFactors(
        mu=3.6,
        bu=rng.normal(0, 0.3, n_users),
        bi=rng.normal(0, 0.3, n_movies),
        pu=rng.normal(0, 0.1, (n_users, n_factors)),
        qi=rng.normal(0, 0.1, (n_movies, n_factors)),
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        movie_ids=np.arange(1, n_movies + 1, dtype=np.int64),
        rating_scale=(0.5, 5.0),
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--users", type=int, default=ML_1M["n_users"])
    parser.add_argument("--movies", type=int, default=ML_1M["n_movies"])
    parser.add_argument("--ratings", type=int, default=ML_1M["n_ratings"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--loop-users", type=int, default=10, help="users for the seed loop")
    parser.add_argument("--repeat", type=int, default=3, help="vectorised runs (best kept)")
    parser.add_argument("--fake-factors", action="store_true", help="skip the SVD fit")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }

    started = time.perf_counter()
    data = generate(args.users, args.movies, args.ratings, seed=args.seed)
    out["generate_seconds"] = time.perf_counter() - started
    ratings = data.ratings
    print(f"generated {len(ratings):,} ratings in {out['generate_seconds']:.2f} s")

    algo: SVD | None = None
    if args.fake_factors:
        factors = _fake_factors(args.users, args.movies, SVDParams().n_factors, args.seed)
        out["model"] = "fake factors (seeded normal), no Surprise comparison"
    else:
        params = SVDParams(seed=args.seed)
        train, test = split_ratings(ratings, test_size=0.2, seed=args.seed)
        algo, fit_seconds = fit_svd(train, params, rating_scale_of(ratings))
        factors = from_surprise(algo)
        held = held_out_accuracy(factors, test)
        mean_rmse = float(np.sqrt(np.mean((test["rating"] - train["rating"].mean()) ** 2)))
        out |= {
            "model": f"Surprise SVD {params.as_dict()} fitted on 80%",
            "fit_seconds": fit_seconds,
            "held_out_rmse": held.rmse,
            "held_out_mae": held.mae,
            "global_mean_rmse": mean_rmse,
        }
        print(
            f"fit {fit_seconds:.1f} s; held-out RMSE {held.rmse:.4f} MAE {held.mae:.4f} "
            f"(global mean: RMSE {mean_rmse:.4f})"
        )

    users = np.unique(ratings["user_id"].to_numpy())
    rated = RatedPairs.from_frame(ratings)
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        top = recommend(factors, users, k=args.k, rated=rated)
        best = min(best, time.perf_counter() - started)
    out |= {"users": len(users), "rows": len(top), "vectorised_seconds": best}
    print(
        f"vectorised scores + top-{args.k} for {len(users):,} users x "
        f"{len(factors.movie_ids):,} movies: {best:.3f} s ({len(top):,} rows)"
    )

    if algo is not None:
        subset = users[: args.loop_users]
        movies = np.sort(factors.movie_ids)
        started = time.perf_counter()
        looped = np.array(
            [[algo.predict(int(u), int(m)).est for m in movies.tolist()] for u in subset.tolist()]
        )
        loop_seconds = time.perf_counter() - started
        per_user_loop = loop_seconds / len(subset)
        per_user_vec = best / len(users)
        diff = float(np.abs(score_users(factors, subset, movies) - looped).max())
        out |= {
            "loop_users": len(subset),
            "loop_seconds": loop_seconds,
            "loop_pairs_per_second": looped.size / loop_seconds,
            "loop_seconds_all_users_extrapolated": per_user_loop * len(users),
            "speedup_per_user": per_user_loop / per_user_vec,
            "max_abs_difference": diff,
        }
        print(
            f"seed loop: {per_user_loop:.3f} s per user ({looped.size / loop_seconds:,.0f} "
            f"pairs/s) → {per_user_loop * len(users) / 60:.1f} min for all users"
        )
        print(f"speed-up per user: {per_user_loop / per_user_vec:,.0f}x; max |diff| {diff:.1e}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
