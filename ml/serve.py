"""A version's suggestions for a batch of users: the list and the rating shown.

The ranking model orders the list (its score is the row's ``value``, the order key);
the SVD gives each suggested movie its predicted rating (the score a person sees). A
version without a ranking model (saved before there was one) orders by predicted
rating. Pure: arrays in, rows out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ml.history_products import HistoryProducts
from ml.model_store import ModelBundle
from ml.ranking import rank
from ml.scoring import as_ids, score_pairs
from ml.topk import RatedPairs, recommend

SuggestionRow = tuple[int, int, float, float]  # user_id, movie_id, value (order), predicted rating


def suggestion_rows(bundle: ModelBundle, user_ids: npt.ArrayLike, *, k: int, rated: RatedPairs,
                    catalogue: npt.ArrayLike | None = None,
                    hidden: RatedPairs | None = None,
                    kept: HistoryProducts | None = None) -> list[SuggestionRow]:
    """Each user's ``k`` best movies of ``catalogue`` (default: all the version knows),
    best first, neither rated nor ``hidden`` by the user. Ratings are the users' history;
    hidden movies are only left out. A user without a rating (every one removed) gets no
    rows: new again, they are served the cold-start list, not a model's guess from nothing.
    ``kept``: EASE history products to reuse and update (:mod:`ml.history_products`)."""
    users = as_ids(user_ids)
    user_ids = users[np.isin(users, rated.user_ids)]
    if bundle.ranking is None:
        top = recommend(bundle.svd, user_ids, k=k, rated=rated.plus(hidden), catalogue=catalogue)
        predicted = top.values
    else:
        candidates = bundle.ranking.movie_ids if catalogue is None else catalogue
        top = rank(bundle.ranking, user_ids, k=k, rated=rated, candidates=candidates, excluded=hidden,
                   kept=kept)
        predicted = score_pairs(bundle.svd, top.user_ids, top.movie_ids)
    return list(zip(top.user_ids.tolist(), top.movie_ids.tolist(), top.values.tolist(),
                    predicted.tolist(), strict=True))

