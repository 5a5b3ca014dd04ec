"""Benchmark: PureSVD lists by block-pruned top K vs the full product, side by side.

    python -m bench.block_core [--ratings 5M] [--users 4000] [--jobs 500] [--repeat 2]

Generates ml-25m-shaped ratings of the given size (``ml.sparse_synthetic``), fits the
settings' default PureSVD ranking model, and ranks a seeded sample of users in jobs of
``--jobs`` users, the job's own ratings as history (as the predictor reads them), both
ways, alternating, ``--repeat`` times each:

* blocks: ``ml.ranking.rank`` (``ml.block_topk``: only the movie blocks that can reach
  a user's top 50 are scored);
* full: the full users x movies product through ``ml.topk.rank_top_k``.

It checks that both give the same rows and prints the seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from bench.common import alternate, side_by_side
from bench.scale import parse_sizes
from ml.dataset import clean_ratings
from ml.ranking import F32, RankingModel, RankingParams, fit_ranking, rank
from ml.scoring import I64
from ml.sparse_synthetic import generate_sparse, ml25m_shape
from ml.topk import RatedPairs, TopK, rank_top_k


def _full(model: RankingModel, users: I64, rated: RatedPairs) -> TopK:
    def block(chunk: I64, _movies: I64) -> F32:
        return model.scores(model.history(chunk, rated))

    return rank_top_k(block, users, model.movie_ids, k=50, rated=rated)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--ratings", default="5M")
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--jobs", type=int, default=500, help="users per job")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    n_ratings = parse_sizes(args.ratings)[0]
    shape = ml25m_shape(n_ratings)
    data = clean_ratings(generate_sparse(shape["n_users"], shape["n_movies"], n_ratings, seed=0).ratings)
    model = fit_ranking(data, RankingParams(kind="puresvd"))
    users = np.random.default_rng(1).choice(np.unique(data["user_id"].to_numpy()), args.users, replace=False)
    jobs = [users[start : start + args.jobs] for start in range(0, len(users), args.jobs)]
    rated = [RatedPairs.from_frame(data[data["user_id"].isin(job)]) for job in jobs]
    print(f"{len(data):,} ratings, {shape['n_users']:,} users x {len(model.movie_ids):,} movies the model "
          f"knows; {len(users):,} users in jobs of {args.jobs}")
    model.blocks  # noqa: B018 - the index is built once per model version, not per job
    per_job: dict[str, Callable[[I64, RatedPairs], TopK]] = {
        "blocks": lambda job, pairs: rank(model, job, k=50, rated=pairs),
        "full": lambda job, pairs: _full(model, job, pairs),
    }

    def every_job(way: Callable[[I64, RatedPairs], TopK]) -> Callable[[], list[TopK]]:
        return lambda: [way(job, pairs) for job, pairs in zip(jobs, rated, strict=True)]

    ways = {name: every_job(way) for name, way in per_job.items()}
    seconds, lists = alternate(ways, args.repeat)
    for a, b in zip(lists["blocks"], lists["full"], strict=True):
        assert np.array_equal(a.user_ids, b.user_ids) and np.array_equal(a.movie_ids, b.movie_ids)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5)
    print("same rows; " + side_by_side(seconds, "blocks", "full"))


if __name__ == "__main__":
    main()
