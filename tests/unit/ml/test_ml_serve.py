"""A version's suggestion rows: the ranking model's order, the SVD's predicted rating."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.model_store import ModelBundle
from ml.ranking import RankingParams, fit_ranking
from ml.serve import suggestion_rows
from ml.topk import RatedPairs
from ml.train import TrainResult


def test_a_user_without_ratings_gets_no_rows(trained: TrainResult, ratings: pd.DataFrame) -> None:
    bundle = ModelBundle(trained.factors, fit_ranking(ratings, RankingParams()), None)
    rated = RatedPairs.from_frame(ratings[ratings["user_id"].isin([1, 2])])
    # User 3 had ratings at fit time, and every one of them was removed since.
    rows = suggestion_rows(bundle, [1, 2, 3], k=10, rated=rated)
    assert {row[0] for row in rows} == {1, 2}
    assert len(rows) == 20
    rated_by_1 = set(ratings.loc[ratings["user_id"] == 1, "movie_id"].tolist())
    assert not rated_by_1 & {row[1] for row in rows if row[0] == 1}
    scale = trained.factors.rating_scale
    assert all(scale[0] <= row[3] <= scale[1] for row in rows), "predicted ratings on the scale"
    assert np.all(np.diff([row[2] for row in rows if row[0] == 2]) <= 0), "best first"
