"""Benchmark: speed-layer rounds with kept history products vs fresh ones, side by side.

    python -m bench.kept_core [--round 200] [--rounds 20] [--repeat 3]

Fits the settings' ranking model (EASE, or iALS with ``STREAMREC_RANKING_MODEL=ials``)
on the synthetic MovieLens-1M-shaped ratings, then
plays ``--rounds`` rounds of ``--round`` distinct users, as the speed layer sees them:
each user has rated one more movie since their last re-rank. Each round is ranked two
ways, alternating, ``--repeat`` times:

* kept: ``ml.ranking.rank`` with the users' products kept from their previous round
  (``ml.history_products``: the new movie's item row, or its fold-in sums, is added);
* fresh: the same call without them (from the whole history again).

It checks that both give the same lists (ties to float32 rounding aside) and prints the
milliseconds per round of each and their ratio.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from bench.common import SCALES, alternate, side_by_side
from infra.settings import Settings
from ml.dataset import clean_ratings
from ml.history_products import HistoryProducts
from ml.params import ranking_params
from ml.ranking import fit_ranking, rank
from ml.synthetic import generate
from ml.topk import RatedPairs, TopK


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--round", type=int, default=200, help="users per round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    scale = SCALES["ml-1m"]
    data = clean_ratings(generate(scale.n_users, scale.n_movies, scale.n_ratings, seed=1).ratings)
    model = fit_ranking(data, ranking_params(Settings()))
    rng = np.random.default_rng(0)
    all_users, user_col, movie_col = (np.unique(data["user_id"].to_numpy()), data["user_id"].to_numpy(),
                                      data["movie_id"].to_numpy())
    kept = model.history_products(256 << 20)
    if kept is None:
        raise SystemExit(f"the {model.kind} ranking model keeps no history products")
    rounds: list[tuple[np.ndarray, RatedPairs]] = []
    for _ in range(args.rounds):
        users = np.sort(rng.choice(all_users, args.round, replace=False))
        mine = np.isin(user_col, users)
        before = RatedPairs.of(user_col[mine], movie_col[mine])
        rank(model, users, k=50, rated=before, kept=kept)  # their previous re-rank
        new_movies = rng.choice(model.movie_ids, len(users))
        after = RatedPairs.of(np.r_[user_col[mine], users], np.r_[movie_col[mine], new_movies])
        rounds.append((users, after))
    print(f"{model.kind}: {len(data):,} ratings, {len(model.movie_ids):,} movies; {args.rounds} rounds of "
          f"{args.round} users, each with one new rating")

    def every_round(reuse: HistoryProducts | None) -> Callable[[], list[TopK]]:
        return lambda: [rank(model, users, k=50, rated=rated, kept=reuse) for users, rated in rounds]

    ways = {"kept": every_round(kept), "fresh": every_round(None)}
    total, lists = alternate(ways, args.repeat)
    seconds = {name: [s / len(rounds) for s in runs] for name, runs in total.items()}
    for a, b in zip(lists["kept"], lists["fresh"], strict=True):
        assert np.array_equal(a.user_ids, b.user_ids)
        # Position by position the same scores: a movie may differ only where two tie.
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6)
    print("same lists; a round: " + side_by_side(seconds, "kept", "fresh", unit="ms", scale=1e3, digits=1))


if __name__ == "__main__":
    main()
