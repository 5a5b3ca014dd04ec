"""The temporal protocols: a global time cut, and the prequential replay."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.dataset import clean_ratings, time_split
from ml.errors import DataFormatError
from ml.evaluate import evaluate_frame
from ml.prequential import prequential
from ml.ranking import RankingParams
from ml.synthetic import generate


def _frame(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "second"])
    frame["rated_at"] = pd.to_datetime(frame.pop("second"), unit="s", utc=True)
    return frame


def test_the_time_cut_trains_on_the_past_and_tests_known_users_and_movies() -> None:
    ratings = clean_ratings(generate(200, 150, 6000, seed=5).ratings)
    # Someone who only arrives after the cut, and a movie first rated after it.
    late = pd.Timestamp("2030-01-01", tz="UTC")
    extra = pd.DataFrame({"user_id": [99_999, 1], "movie_id": [1, 88_888], "rating": [4.0, 5.0],
                          "rated_at": [late, late]})
    ratings = pd.concat([ratings, extra], ignore_index=True)
    train, test = time_split(ratings, test_size=0.2)
    assert train["rated_at"].max() < test["rated_at"].min()
    assert 99_999 not in set(test["user_id"]) and 88_888 not in set(test["movie_id"])
    assert set(test["user_id"]) <= set(train["user_id"])
    assert 0.1 < len(test) / len(ratings) < 0.25


def test_a_time_protocol_without_times_says_what_to_do() -> None:
    frame = pd.DataFrame({"user_id": [1, 2] * 10, "movie_id": range(20), "rating": [4.0] * 20})
    with pytest.raises(DataFormatError, match="time") as err:
        evaluate_frame(frame, protocol="temporal")
    assert "--protocol random" in (err.value.hint or "")


def test_popularity_so_far_counts_the_replayed_ratings_before_each_one() -> None:
    # Movie 1 leads the training chart 3 to 1; newcomers then rate movie 5 one after
    # another. Before the third, movie 5 ties movie 1 (the lower id wins); before the
    # fourth it leads: one hit of four for a one-movie chart.
    history = [(u, 1, 4.0, u) for u in (1, 2, 3)] + [(1, 5, 4.0, 4)]
    history += [(u, m, 3.0, 5 + u) for u in (1, 2, 3) for m in (2, 3, 4)]
    replay = [(10 + i, 5, 5.0, 100 + i) for i in range(4)]
    result = prequential(_frame(history + replay), test_size=0.2, ranking=RankingParams(kind="ease"), k=1)
    assert result["n_train"] == len(history) and result["n_events"] == 4
    assert result["baseline_hit_rate_at_1"] == pytest.approx(0.25)


def test_the_replay_beats_popularity_and_the_speed_layer_helps() -> None:
    ratings = clean_ratings(generate(943, 1682, 100_000, seed=6).ratings)  # ml-100k's shape
    result = prequential(ratings, test_size=0.2, ranking=RankingParams(), max_events=3000)
    assert result["n_events"] == min(3000, result["n_relevant"]) > 1000
    assert result["hit_rate_at_10"] > 1.3 * result["baseline_hit_rate_at_10"]
    assert result["hit_rate_at_10"] >= result["hit_rate_at_10_without_speed_layer"]
    assert 0 < result["baseline_hit_rate_at_10"] < 1
