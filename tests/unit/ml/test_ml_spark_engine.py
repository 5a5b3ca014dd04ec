"""The Spark engine (pyspark, local[2], one session for the test session): quality
against the local engine on the same split, reproducible factors, the TrainResult the
rest of streamrec takes. Needs pyspark: without it these tests fail, they never skip."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infra.settings import Settings
from ml import spark_engine
from ml.engines import spark_config, train_engine
from ml.model_store import ModelStore
from ml.ranking import RankingParams
from ml.spark_engine import SparkConfig, train_model_on_spark
from ml.synthetic import generate
from ml.train import SVDParams, TrainResult, train_model

# A shape where a list ranked by taste beats popularity clearly (NDCG@10 0.33 against
# 0.18), so a ranking model's quality shows; both engines rank with iALS.
QUALITY_SHAPE = (943, 1682, 100_000)  # users, movies, ratings
RANKING = RankingParams(kind="ials")


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkConfig]:
    """One SparkSession for this module's tests (local[2]), stopped at the end."""
    config = SparkConfig(master="local[2]", partitions=2, driver_memory="1g",
                         local_dir=str(tmp_path_factory.mktemp("spark-scratch")))
    spark_engine.session(config)
    yield config
    spark_engine.stop_session()


@pytest.fixture(scope="module")
def quality_ratings() -> pd.DataFrame:
    return generate(*QUALITY_SHAPE, seed=1).ratings


@pytest.fixture(scope="module")
def local_result(quality_ratings: pd.DataFrame) -> TrainResult:
    return train_model(quality_ratings, ranking=RANKING)


@pytest.fixture(scope="module")
def spark_result(quality_ratings: pd.DataFrame, spark: SparkConfig) -> TrainResult:
    return train_model_on_spark(quality_ratings, config=spark, ranking=RANKING)


def test_spark_quality_is_the_local_engines_on_the_same_split(
    local_result: TrainResult, spark_result: TrainResult
) -> None:
    local, remote = local_result.held_out, spark_result.held_out
    assert local is not None and remote is not None
    assert remote.n_test == local.n_test  # the same held-out pairs
    assert remote.popularity == local.popularity
    # No worse than the local engine's beyond the gate's own tolerance (0.01); on this
    # data the biases + ALS model is slightly better than Surprise's SVD.
    assert spark_result.rmse <= local_result.rmse + 0.01
    assert abs(spark_result.rmse - local_result.rmse) <= 0.03
    assert remote.candidate.ndcg == pytest.approx(local.candidate.ndcg, rel=0.03)
    assert remote.candidate.ndcg > 1.5 * remote.popularity.ndcg


def test_spark_result_is_a_version_the_store_takes(
    spark_result: TrainResult, quality_ratings: pd.DataFrame, tmp_path: Path
) -> None:
    factors, ranking = spark_result.factors, spark_result.ranking
    n_users, n_movies = quality_ratings["user_id"].nunique(), quality_ratings["movie_id"].nunique()
    assert factors.pu.shape == (n_users, SparkConfig().als_rank)
    assert factors.qi.shape == (n_movies, SparkConfig().als_rank)
    assert len(factors.bu) == n_users and len(factors.bi) == n_movies
    assert ranking is not None and ranking.kind == "ials"
    assert ranking.weights.shape == (n_movies, RANKING.ials_factors)
    assert ranking.gram is not None
    expected_gram = ranking.weights.T.astype(np.float64) @ ranking.weights.astype(np.float64)
    expected_gram[np.diag_indices_from(expected_gram)] += RANKING.ials_regularization
    assert np.allclose(ranking.gram, expected_gram)
    meta = spark_result.metadata()
    assert meta["engine"] == "spark" and meta["ranking"]["kind"] == "ials"
    assert spark_result.held_out is not None and spark_result.held_out.models.ranking is not None
    assert spark_result.algo_pickle is None
    saved = ModelStore(tmp_path).save(spark_result)
    bundle = ModelStore(tmp_path).load_bundle(saved.version, expected_sha256=saved.sha256)
    assert np.array_equal(bundle.svd.pu, factors.pu)


def test_a_local_result_records_the_local_engine(local_result: TrainResult) -> None:
    assert local_result.metadata()["engine"] == "local"


def test_two_spark_fits_give_equal_factors(spark: SparkConfig) -> None:
    data = generate(300, 400, 12_000, seed=3).ratings
    params = SVDParams(n_factors=16)
    session = spark_engine.session(spark)
    first = spark_engine.fit_svd_on_spark(session, spark, data, params, (1.0, 5.0))
    second = spark_engine.fit_svd_on_spark(session, spark, data, params, (1.0, 5.0))
    assert all(np.array_equal(a, b) for a, b in zip(first.arrays().values(), second.arrays().values(),
                                                     strict=True))
    assert np.abs(first.pu).sum() > 0
    ranked = [spark_engine.fit_ranking_on_spark(session, spark, data, RANKING) for _ in range(2)]
    assert np.array_equal(ranked[0].weights, ranked[1].weights)
    assert np.abs(ranked[0].weights).sum() > 0


def test_a_small_catalogue_keeps_ease_on_the_spark_engine(spark: SparkConfig) -> None:
    data = generate(200, 150, 5_000, seed=4).ratings
    model = spark_engine.fit_ranking_on_spark(spark_engine.session(spark), spark, data, RankingParams())
    assert model.kind == "ease"  # auto, within ease_max_movies: fitted in Python


def test_spark_reg_gives_an_average_user_the_local_penalty() -> None:
    params = RankingParams(ials_regularization=50.0)
    assert spark_engine.spark_reg(params, ratings=10_000, users=100) == pytest.approx(0.5)


def test_the_settings_choose_the_engine(tmp_path: Path) -> None:
    pools: list[ProcessPoolExecutor] = []
    local = Settings(home=tmp_path)
    assert getattr(train_engine(local, lambda: pools[0]), "__name__", None) == "local"
    remote = local.model_copy(update={"train_engine": "spark", "spark_master": "spark://h:7077"})
    chosen = train_engine(remote, lambda: pools[0])
    assert chosen.__self__.config == spark_config(remote)  # type: ignore[attr-defined]
    assert spark_config(remote).master == "spark://h:7077"
    assert spark_config(remote).local_dir == str(tmp_path.resolve() / "spark" / "scratch")
    assert train_engine(remote, lambda: pools[0]).__self__ is chosen.__self__  # type: ignore[attr-defined]


def test_what_is_missing_is_named_before_any_retrain(monkeypatch: pytest.MonkeyPatch) -> None:
    spark_engine.require_spark()  # installed here (make install): nothing to say
    monkeypatch.setattr(spark_engine.shutil, "which", lambda name: None)
    with pytest.raises(spark_engine.SparkUnavailable, match="Java") as caught:
        spark_engine.require_spark()
    assert "openjdk" in (caught.value.hint or "")
    monkeypatch.setattr(spark_engine.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(spark_engine.SparkUnavailable, match="pyspark") as caught:
        spark_engine.require_spark()
    assert ".[spark]" in (caught.value.hint or "")
