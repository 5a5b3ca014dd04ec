"""predict: every user's top-50 scored and written to Postgres, streamrec's way vs the seed's.

Side by side in one run, on one throw-away database holding the synthetic movies,
users and ratings:

* streamrec: jobs of ``settings.prediction_batch_size`` users, each as the predictor
  agent does it (read the users' rated pairs and the catalogue in one statement,
  ``ml.serve.suggestion_rows`` on the event loop in slices: the ranking model orders, the
  SVD gives each row its predicted rating; ``suggestions.replace_in_parts``: one upsert
  of a row per user, in ``prediction_write_parts`` transactions at once), a job scored
  while the previous job's lists are written; run twice, before and after the seed
  loop, and averaged;
* the seed: for a few users, ``algo.predict(user, movie).est`` of a Surprise SVD for
  every movie and one ``INSERT … ON CONFLICT (user_id, movie_id) DO UPDATE`` per pair
  over asyncpg in autocommit (Django's ``update_or_create``), extrapolated per user.

Both use the same fitted Surprise SVD (few epochs: the timing does not depend on
the fit's quality).  Then one more streamrec pass under cProfile, for the profile.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np

from agents.scoring import rows_in_slices
from bench.common import BenchRun, Scale, at_least, at_most, bench_run, stopwatch
from bench.dataload import load_movies, load_ratings
from bench.profiling import cprofiled
from infra import db
from infra.repositories import rerank as rerank_repo
from infra.repositories import suggestions as suggestions_repo
from infra.settings import Settings
from ml.dataset import clean_ratings
from ml.model_store import ModelBundle
from ml.params import ranking_params
from ml.ranking import fit_ranking
from ml.scoring import from_surprise
from ml.serve import SuggestionRow
from ml.synthetic import generate
from ml.train import SVDParams, fit_svd
from schemas.ratings import RATING_MAX, RATING_MIN

# The seed's table: a row per (user, movie), its two indexes.
SEED_TABLE = (
    "CREATE TABLE seed_suggestions (user_id integer, movie_id integer, value double precision, "
    "model_version text, did_rate boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL "
    "DEFAULT now(), PRIMARY KEY (user_id, movie_id)); "
    "CREATE INDEX ON seed_suggestions (user_id, did_rate, value DESC)"
)
SEED_UPSERT = (
    "INSERT INTO seed_suggestions (user_id, movie_id, value, model_version) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (user_id, movie_id) DO UPDATE SET value = EXCLUDED.value, "
    "model_version = EXCLUDED.model_version, updated_at = now()"
)

METHOD = (
    "Synthetic data of the scale's size (`ml.synthetic.generate`), a Surprise SVD fitted on it "
    "with few epochs (timing does not depend on fit quality), movies/users/ratings COPYed into "
    "a throw-away database. streamrec: jobs of `prediction_batch_size` users, each reading the "
    "users' rated pairs and the catalogue in one statement, `ml.serve.suggestion_rows` on the event "
    "loop in slices of 100 users (top 50, rated excluded) and "
    "`suggestions.replace_in_parts` (one upsert of a row per user, its items rendered, in "
    "`prediction_write_parts` transactions at once on connections of their own), a job read and "
    "scored while the previous job's lists are written — the predictor agent's steps without "
    "Kafka (`write_s` adds up the writes, which overlap the next jobs' reading and scoring); two "
    "passes (before and after the seed loop), averaged. Seed: for the first users, "
    "`algo.predict(u, i).est` for every movie and one `INSERT … ON CONFLICT DO UPDATE` per pair into "
    "a table of the seed's shape (a row per pair, its two indexes) "
    "via asyncpg in autocommit (as Django's `update_or_create`; mostly inserts, as streamrec keeps "
    "only the top 50 rows of a user); extrapolated per user. Ratio = seed seconds per user / "
    "streamrec seconds per user. A last streamrec pass runs under cProfile for the profile below."
)

LIMITS = (
    "Scoring and the write, about equally. Scoring all 6,040 users (the ranking model's history "
    "rows times its item side, then the top 50 of each, in two chunks at once) takes about 2 s, "
    "reading each job's rated pairs (two arrays in one row) about 0.04 s per job; the write in "
    "`replace_for_users` is one upsert of a row per user (migration 0008): Postgres sorts the "
    "job's 25,000 items by (user, position), renders each as served from the movie's card, "
    "aggregates each user's four arrays and writes the row (its items lz4-compressed), about "
    "0.2 s per job of 500 users. That write costs more in bulk than the 50 rows per user it "
    "replaced (DELETE + COPY, about 0.12 s a job); it is what makes a request one primary-key "
    "read and a re-rank one row. The seed loop is bound by one round trip and one autocommitted "
    "transaction per pair plus Surprise's `predict()`. The machine is shared: absolute seconds "
    "vary by about 30% between runs; the ratio is measured minutes apart in one process."
)


@dataclass
class Pass:
    total_s: float
    read_s: float
    score_s: float
    write_s: float
    rows: int


async def streamrec_pass(pool: asyncpg.Pool, settings: Settings, bundle: ModelBundle,
                         users: list[int], version: str) -> Pass:
    """Every user's list, as the predictor agent writes a retrain's jobs: each job read
    in one statement and scored on the event loop in slices, and scored while the
    previous job's lists are written (writes in the jobs' order). ``write_s`` adds up
    the writes' own durations, which overlap the next jobs' reads and scoring."""
    read = score = 0.0
    writes: list[float] = []
    rows = 0
    started = time.perf_counter()
    batch = settings.prediction_batch_size
    writing: asyncio.Task[int] | None = None

    async def write(job: list[int], top: list[SuggestionRow], rated_from: int) -> int:
        with stopwatch() as t_write:
            written = await suggestions_repo.replace_in_parts(pool, job, top, version, rated_from=rated_from,
                                                              parts=settings.prediction_write_parts)
        writes.append(t_write[0])
        return written

    async with pool.acquire() as conn:
        for start in range(0, len(users), batch):
            job = sorted(users[start : start + batch])
            with stopwatch() as t_read:
                inputs = await rerank_repo.rerank_inputs(conn, job)  # the predictor's one read
            with stopwatch() as t_score:
                top = await rows_in_slices(bundle, job, k=settings.top_k, catalogue=inputs.catalogue,
                                           rated=inputs.rated)
            read, score = read + t_read[0], score + t_score[0]
            if writing is not None:
                rows += await writing
            writing = asyncio.create_task(write(job, top, inputs.rated.rated_from))
    if writing is not None:
        rows += await writing
    return Pass(time.perf_counter() - started, read, score, sum(writes), rows)


async def seed_loop(url: str, algo: Any, users: list[int], movies: list[int]) -> tuple[float, int]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SEED_TABLE)
        started = time.perf_counter()
        for user in users:
            for movie in movies:
                est = algo.predict(user, movie).est
                await conn.execute(SEED_UPSERT, user, movie, float(est), "seed")
        return time.perf_counter() - started, len(users) * len(movies)
    finally:
        await conn.close()


async def run(base: Settings, scale: Scale) -> dict[str, Any]:
    out: dict[str, Any] = {"method": METHOD, "limits": LIMITS}
    with stopwatch() as t_gen:
        data = generate(scale.n_users, scale.n_movies, scale.n_ratings, seed=0)
    ratings = clean_ratings(data.ratings)
    params = SVDParams(n_epochs=scale.predict_epochs)
    algo, fit_s = fit_svd(ratings, params, (RATING_MIN, RATING_MAX))
    factors = from_surprise(algo)
    with stopwatch() as t_rank:
        ranking = fit_ranking(ratings, ranking_params(base))
    bundle = ModelBundle(factors, ranking, None)
    print(f"predict: {len(ratings):,} ratings generated in {t_gen[0]:.1f} s, "
          f"SVD ({params.n_epochs} epochs) fitted in {fit_s:.1f} s, ranking model ({ranking.kind}) "
          f"in {t_rank[0]:.1f} s")
    users = np.unique(ratings["user_id"].to_numpy(np.int64)).tolist()
    movies = sorted(data.movies["id"].tolist())

    async with bench_run(base, "predict") as bench:
        result = await _measure(bench, data, ratings, algo, bundle, users, movies, scale, out)
    out |= result | {
        "model": f"Surprise SVD {params.as_dict()} (timing only)", "fit_s": fit_s,
        "n_users": len(users), "n_movies": len(movies), "n_ratings": len(ratings),
    }
    return out


async def _measure(bench: BenchRun, data: Any, ratings: Any, algo: Any, bundle: ModelBundle,
                   users: list[int], movies: list[int], scale: Scale,
                   out: dict[str, Any]) -> dict[str, Any]:
    settings = bench.settings
    pool = await db.create_pool(settings)
    try:
        async with pool.acquire() as conn:
            await load_movies(conn, data)
            with stopwatch() as t_load:
                await load_ratings(conn, ratings)
        print(f"predict: ratings loaded into {settings.database_url.rsplit('/', 1)[-1]} in {t_load[0]:.1f} s")

        first = await streamrec_pass(pool, settings, bundle, users, "bench-1")
        print(f"predict: streamrec pass 1: {first.total_s:.2f} s for {len(users):,} users "
              f"({first.rows:,} rows)")
        seed_users = users[: scale.seed_users]
        seed_s, seed_pairs = await seed_loop(settings.database_url, algo, seed_users, movies)
        print(f"predict: seed loop: {seed_s:.2f} s for {len(seed_users)} users ({seed_pairs:,} pairs)")
        second = await streamrec_pass(pool, settings, bundle, users, "bench-2")
        print(f"predict: streamrec pass 2: {second.total_s:.2f} s")

        # The predicted ratings written are Surprise's own predictions.
        check_user = seed_users[0]
        rows = await pool.fetch("SELECT movie_id, predicted_rating FROM suggestions WHERE user_id = $1",
                                check_user)
        # predicted_rating is a real (float4): equal to within its precision.
        diff = max(abs(r["predicted_rating"] - algo.predict(check_user, r["movie_id"]).est) for r in rows)

        profiled: dict[str, Any] = {}
        with cprofiled(profiled, "one streamrec pass (all users), in-process"):
            await streamrec_pass(pool, settings, bundle, users, "bench-3")
        out["profile"] = profiled["profile"]
    finally:
        await pool.close()

    passes = [first, second]
    total = float(np.mean([p.total_s for p in passes]))
    per_user = total / len(users)
    seed_per_user = seed_s / len(seed_users)
    ratio = seed_per_user / per_user
    targets = [
        at_most("streamrec: all users' top-50 written", total, 5.0, "s"),
        at_least("ratio seed / streamrec per user", ratio, 100.0, "x"),
    ]
    return {
        "streamrec_total_s": total,
        "streamrec_passes_s": [p.total_s for p in passes],
        "streamrec_read_s": float(np.mean([p.read_s for p in passes])),
        "streamrec_score_s": float(np.mean([p.score_s for p in passes])),
        "streamrec_write_s": float(np.mean([p.write_s for p in passes])),
        "streamrec_rows": first.rows,
        "streamrec_per_user_s": per_user,
        "jobs": -(-len(users) // settings.prediction_batch_size),
        "prediction_batch_size": settings.prediction_batch_size,
        "top_k": settings.top_k,
        "seed_users": len(seed_users),
        "seed_pairs": seed_pairs,
        "seed_s": seed_s,
        "seed_per_user_s": seed_per_user,
        "seed_pairs_per_s": seed_pairs / seed_s,
        "seed_projected_total_s": seed_per_user * len(users),
        "ratio": ratio,
        "max_abs_difference_vs_surprise": float(diff),
        "targets": [t.as_dict() for t in targets],
    }
