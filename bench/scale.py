"""scale: the pipeline's phases at growing sizes of the ml-25m shape (issue #17).

Per size (ratings; users and movies from ``ml.sparse_synthetic.ml25m_shape``):
generate the ratings (``generate_sparse``), COPY movies and history into a throw-away
database (the fixture), then, timed one by one:

* ingest: a backlog of fresh ratings drained by a real ``streamrec worker`` (the
  ingest benchmark's ``publish_backlog`` / ``drain_backlog``), its memory sampled;
* export: ``ratings.export``, as the trainer calls it;
* fits, in one training process of ``ml.train.training_executor``: the Surprise
  trainset and SVD fit (``fit_svd``, the settings' parameters) and the ranking model
  (``fit_ranking``), with the process's RSS after each and its peak;
* every user's top 50 scored and written, the predictor's steps (the predict
  benchmark's ``streamrec_pass``), with this process's peak RSS while it runs;
* serving: the API under uvicorn at a fixed rate (the api benchmark's ``Server`` and
  load generator), latency percentiles.

Results of earlier runs for other sizes are kept in ``scale.json``; the growth of
each phase is the log-log slope between the smallest and the largest size measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pandas as pd

from bench.api import VERSION, Server, activate_for_serving, run_loadgen
from bench.common import BenchRun, Target, at_least, at_most, bench_run, stopwatch
from bench.dataload import load_movies, load_ratings
from bench.ingest import drain_backlog, encode_ratings, publish_backlog
from bench.predict import streamrec_pass
from bench.retrain import _wait_for_model
from bench.worker import WorkerProcess, worker_session
from infra import db
from infra.repositories import ratings as ratings_repo
from infra.settings import Settings
from ml.dataset import clean_ratings
from ml.model_store import ModelBundle
from ml.params import ranking_params, svd_params
from ml.ranking import RankingModel, RankingParams, fit_ranking
from ml.scoring import SVDFactors, from_surprise
from ml.sparse_synthetic import generate_sparse, ml25m_shape
from ml.train import SVDParams, fit_svd, training_executor
from schemas.ratings import RATING_MAX, RATING_MIN
from streams.publisher import EventPublisher

GiB = 1024**3
SMOKE_RATINGS = 20_000
DEFAULT_SIZES = "1M,5M,10M,25M"
# Phases whose seconds should grow at most linearly with the ratings.
GROWING = ("generate", "export", "svd trainset", "svd fit", "ranking fit", "read rated pairs",
           "score all users", "write all lists")

METHOD = (
    "Per size: ratings of the ml-25m shape scaled down (`ml.sparse_synthetic.ml25m_shape`: users "
    "∝ ratings, movies ∝ √ratings; `generate_sparse`, seed 0), COPYed with the movies into a "
    "throw-away database. Ingest: a backlog of fresh ratings of the same shape (held back from "
    "the generated set) published first, then drained by a real `streamrec worker` (events/s as "
    "in the ingest benchmark). Export: `ratings.export`. Fits: in one spawned training process, "
    "`fit_svd` with the settings' SVD parameters (trainset build and fit timed apart) and "
    "`fit_ranking` with the settings' ranking parameters (iALS above 4,000 movies: every size "
    "here but the smoke one); RSS from /proc after each step and the process's peak (VmHWM). "
    "Scoring and writing every user's top 50: the predict benchmark's `streamrec_pass` (jobs of "
    "`prediction_batch_size` users: read rated pairs, `ml.serve.suggestion_rows`, "
    "`suggestions.replace_in_parts`), this process's peak RSS reset just before. Serving: the "
    "API under uvicorn, open loop at a fixed rate over all users in random order (the api "
    "benchmark's load generator). Growth: (t_large / t_small) / (n_large / n_small) between the "
    "smallest and the largest size measured (1 = linear)."
)

LIMITS = (
    "Measured 1M → 25M (ratings; 6,502 x 11,809 → 162,540 x 59,047 users x movies), the ranking "
    "model iALS (32 factors, 8 sweeps) at both sizes, on a machine that was also running the "
    "test suite during the fixture's load and the ingest. Every list at 25M is written in 63 s "
    "(57 s with PureSVD the same morning, target 60 s): a job's rated pairs are read in one "
    "statement as packed int4 arrays (20 s at 25M, 1.2x linear: the 25M ratings table, about "
    "3 GiB with its indexes, is far beyond the local stack's 256 MB of shared buffers), each "
    "job's users are folded in by one batched least-squares solve, the lists score only the movie "
    "blocks that can reach a user's top 50 (`ml.block_topk`, exact), and a job is scored while "
    "the previous job's lists are written, so the phases' sums exceed the wall time. The iALS "
    "fit is 57 s at 25M (PureSVD 15 s) and its held-out NDCG@10 0.061 against PureSVD's 0.068 on "
    "this latent-factor data (popularity 0.018), where a truncated SVD recovers the generator's "
    "own factors. The retrain at 25M misses its target: the serving fit is 253 s, the held-out "
    "job (its own fit on 80%, then scoring the held-out lists) outlasts it, so the model is "
    "recorded about 70 s after the fit ends, and every list is live 142 s after the record. "
    "Memory fits: Surprise's trainset is numpy columns (20 bytes a rating), a training process "
    "peaks at 2.1 GiB at 25M, and the worker with its two training processes at 7.7 GiB (target "
    "8 GiB). Training processes run at the lowest CPU priority, so ingest during a fit stays near "
    "the rate without one; the drain alone at 25M, right after the fixture's load, shares the "
    "machine with the autovacuum of that load. The fixture load (COPY of the history, not a "
    "measured phase) takes about 22 s per million ratings. Measured on a shared 2-core machine; "
    "absolute seconds vary by about 30% between runs."
)


def parse_sizes(text: str) -> list[int]:
    """``"1M,5M,250k,25000095"`` → ratings per size."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        factor = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        sizes.append(int(float(part.rstrip("km")) * factor))
    return sizes


def label(n_ratings: int) -> str:
    if n_ratings % 1_000_000 == 0:
        return f"{n_ratings // 1_000_000}M"
    return f"{n_ratings // 1_000}k" if n_ratings % 1_000 == 0 else str(n_ratings)


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss() -> None:
    """Start this process's VmHWM afresh (Linux: ``5`` to clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def fit_job(data: pd.DataFrame, svd: SVDParams, ranking: RankingParams) -> dict[str, Any]:
    """Both serving fits in a training process, timed and with its memory after each."""
    gc.collect()
    _reset_peak_rss()
    before = _status_bytes("VmRSS")
    with stopwatch() as t_svd:
        algo, fit_s = fit_svd(data, svd, (RATING_MIN, RATING_MAX))
    with_trainset = _status_bytes("VmRSS")
    factors = from_surprise(algo)
    del algo
    gc.collect()
    with stopwatch() as t_rank:
        model = fit_ranking(data, ranking)
    return {
        "factors": factors, "ranking": model,
        "seconds": {"svd trainset": t_svd[0] - fit_s, "svd fit": fit_s, "ranking fit": t_rank[0]},
        "rss_before_bytes": before,
        "rss_with_surprise_model_bytes": with_trainset,
        "peak_rss_bytes": _status_bytes("VmHWM"),
    }


async def _fits(ratings: pd.DataFrame, settings: Settings) -> dict[str, Any]:
    pool = training_executor(max_workers=1)
    try:
        job = asyncio.get_running_loop().run_in_executor(
            pool, fit_job, ratings, svd_params(settings), ranking_params(settings))
        result: dict[str, Any] = await job
    finally:
        pool.shutdown(wait=True)
    return result


async def _serve(bench: BenchRun, users: list[int], rate: int, seconds: float) -> dict[str, Any]:
    paths = [f"/api/suggestions/?user_id={u}" for u in np.random.default_rng(4).permutation(users).tolist()]
    api = Server("api.app:app_from_env", bench.worker_env(), bench.tmp / "api.log")
    try:
        await api.wait_ready(paths[0])
        fixed = await run_loadgen({"host": "127.0.0.1", "port": api.port, "paths": paths, "mode": "rate",
                             "rate": rate, "duration": seconds}, bench.tmp)
    finally:
        api.stop()
    return {"rate": rate, "latency_ms": fixed["latency_ms"]}


async def _retrain(bench: BenchRun, pool: asyncpg.Pool, backlog: list[tuple[bytes, bytes]] | None,
                   already: int, n_users: int, *, wait_s: float, workers: int = 1,
                   engine: str = "local", spark_master: str | None = None) -> dict[str, Any]:
    """A real worker's retrain, request → every list of the new version live, with a
    backlog of fresh ratings published once the fit is under way (``wait_s`` after the
    request: the export's time and a margin) and its drain rate while the fit runs (no
    backlog: no ingest figures). ``workers`` > 1: more workers in the same groups on this
    box (one of them trains; all of them ingest and run prediction jobs). ``engine``:
    the worker's ``STREAMREC_TRAIN_ENGINE`` (spark: on ``spark_master``, else the
    settings')."""
    async with pool.acquire() as conn:
        # The stand-in version of the serving phase has no artifact, and a version of an
        # engine measured before must not gate this one: train as if first.
        await conn.execute("UPDATE model_versions SET is_active = false")
    env = bench.worker_env(STREAMREC_TRAIN_ENGINE=engine,
                           **({"STREAMREC_SPARK_MASTER": spark_master} if spark_master else {}))
    worker = WorkerProcess(env, bench.tmp / f"worker-retrain-{engine}.log", interval=0.5)
    others = [WorkerProcess(env, bench.tmp / f"worker-retrain-{engine}-{i}.log", interval=0.5)
              for i in range(1, workers)]
    worker.start()
    for other in others:
        other.start()
    try:
        await worker.wait_ready(timeout_s=120)
        for other in others:
            await other.wait_ready(timeout_s=120)
        publisher = EventPublisher(bench.settings)
        await publisher.start()
        try:
            requested = time.time()
            await publisher.request_retrain("manual")
        finally:
            await publisher.stop()
        drained = None
        if backlog:
            await asyncio.sleep(wait_s)
            clock = time.time() - time.perf_counter()  # perf_counter → wall time
            await publish_backlog(bench.settings, backlog)
            drained = await drain_backlog(pool, worker, len(backlog), None,
                                          timeout_s=600 + len(backlog) / 200, already=already)
        version, done = await _wait_for_model(pool, worker, n_users, timeout_s=3600)
        worker.sample_once()
    finally:
        worker.stop()
        for other in others:
            other.stop()
    created = version.created_at.timestamp() if version.created_at else done
    fit_s = float(version.params["fit_seconds"]) + float((version.params.get("ranking") or {})
                                                         .get("fit_seconds", 0.0))
    ingest: dict[str, Any] = {}
    if drained is not None:
        # The part of the drain before the model was recorded: the fit (and its evaluation).
        progress = [(clock + worker.started_at + t, n) for t, n in drained["progress"]]
        start_t, start_n = progress[0]
        inside = [(t, n) for t, n in progress if t <= created]
        end_t, end_n = inside[-1] if len(inside) > 1 else progress[-1]
        ingest = {
            "ingest_during_fit_events": end_n - start_n,
            "ingest_during_fit_events_per_s": (end_n - start_n) / max(end_t - start_t, 1e-9),
            "ingest_drained_within_fit": len(inside) == len(progress),
        }
    return {
        "total_s": done - requested, "fit_s": fit_s, "beyond_fit_s": done - requested - fit_s,
        "model_recorded_after_s": created - requested,
        "lists_live_after_model_s": done - created,
        **ingest,
        "decision": version.decision,
        "engine": version.engine, "rmse": version.rmse, "ndcg_at_10": version.ndcg_at_10,
        "popularity_ndcg_at_10": version.baseline_ndcg_at_10,
        "workers": workers,
        "worker_peak_gib": worker.peak_rss_bytes / GiB,
        # The worker process alone: with spark the fit's memory is the driver's and the
        # executors' (the driver in the worker's training process, executors elsewhere).
        "worker_own_peak_gib": worker.peak_by_pid.get(worker.pid, 0) / GiB,
        "other_workers_peak_gib": [other.peak_rss_bytes / GiB for other in others],
    }


async def measure_size(base: Settings, n_ratings: int, *, smoke: bool, more_workers: int = 1,
                       engines: tuple[str, ...] = ("local",), spark_master: str | None = None
                       ) -> dict[str, Any]:
    """The size's phases; the retrain with each of ``engines`` in turn (the first with
    the ingest during its fit), side by side on the same database."""
    shape = ml25m_shape(n_ratings)
    n_ingest = 2_000 if smoke else 100_000
    seconds: dict[str, float] = {}
    _reset_peak_rss()
    with stopwatch() as t:
        # Two backlogs held back: one drained alone, one drained while the worker trains.
        data = generate_sparse(shape["n_users"], shape["n_movies"], n_ratings + 2 * n_ingest, seed=0)
    seconds["generate"] = t[0]
    generator_peak = _status_bytes("VmHWM")
    shuffled = np.random.default_rng(0).permutation(len(data.ratings))
    held_back = np.zeros(len(data.ratings), dtype=bool)
    held_back[shuffled[: 2 * n_ingest]] = True
    during_fit = np.zeros(len(data.ratings), dtype=bool)
    during_fit[shuffled[n_ingest : 2 * n_ingest]] = True
    backlog = encode_ratings(data.ratings[held_back & ~during_fit])
    backlog_during_fit = encode_ratings(data.ratings[during_fit])
    history = clean_ratings(data.ratings[~held_back])
    users = np.unique(history["user_id"].to_numpy(np.int64)).tolist()
    print(f"scale {label(n_ratings)}: {len(history):,} ratings, {len(users):,} users x "
          f"{shape['n_movies']:,} movies generated in {t[0]:.1f} s", flush=True)
    memory: dict[str, float] = {"generator process": generator_peak / GiB}
    async with bench_run(base, "scale", topics=True) as bench:
        settings = bench.settings
        pool = await db.create_pool(settings)
        worker = WorkerProcess(bench.worker_env(), bench.tmp / "worker.log")
        async with worker_session(worker, pool):
            async with pool.acquire() as conn:
                await load_movies(conn, data)
                with stopwatch() as t:
                    await load_ratings(conn, history)
                    # A serving database's steady state: autovacuum has set the visibility
                    # map of settled rows, so reading a job's ratings is an index-only scan.
                    await conn.execute("VACUUM (ANALYZE) ratings")
            seconds["load (fixture, COPY)"] = t[0]
            await publish_backlog(settings, backlog)
            worker.start()
            drained = await drain_backlog(pool, worker, len(backlog), None, timeout_s=90 + n_ingest / 500)
            worker.sample_once()
            memory["worker (ingest)"] = worker.peak_rss_bytes / GiB
            worker.stop()
            seconds["ingest drain"] = drained["drain_s"]
            print(f"scale {label(n_ratings)}: ingest {drained['events_per_s']:,.0f} events/s", flush=True)

            async with pool.acquire() as conn:
                with stopwatch() as t:
                    exported, _ = await ratings_repo.export(conn)
            seconds["export"] = t[0]
            exported = clean_ratings(exported)
            fits = await _fits(exported, settings)
            del exported
            seconds |= fits["seconds"]
            memory["training process"] = fits["peak_rss_bytes"] / GiB
            memory["Surprise trainset + model"] = (
                fits["rss_with_surprise_model_bytes"] - fits["rss_before_bytes"]) / GiB
            factors: SVDFactors = fits["factors"]
            ranking: RankingModel = fits["ranking"]
            print(f"scale {label(n_ratings)}: fits " + ", ".join(
                f"{k} {v:.1f} s" for k, v in fits["seconds"].items()), flush=True)

            gc.collect()
            _reset_peak_rss()
            before = _status_bytes("VmRSS")
            done = await streamrec_pass(pool, settings, ModelBundle(factors, ranking, None), users, VERSION)
            memory["scoring (this process, peak above its start)"] = (_status_bytes("VmHWM") - before) / GiB
            seconds["read rated pairs"] = done.read_s
            seconds["score all users"] = done.score_s
            seconds["write all lists"] = done.write_s
            print(f"scale {label(n_ratings)}: all lists in {done.total_s:.1f} s", flush=True)
            async with pool.acquire() as conn:
                await activate_for_serving(conn, len(history))
            serving = await _serve(bench, users, 100 if smoke else 500, 1.0 if smoke else 10.0)
            print(f"scale {label(n_ratings)}: serving {serving['latency_ms']}", flush=True)
            # The other engines first, on the ratings the first one's fit will export (its
            # backlog is published after the export), so all hold out the same pairs.
            by_engine: dict[str, dict[str, Any]] = {}
            for engine in engines[1:]:
                by_engine[engine] = _engine_row(await _retrain(
                    bench, pool, None, n_ingest, len(users), wait_s=0.0, engine=engine,
                    spark_master=spark_master))
            retrain = await _retrain(bench, pool, backlog_during_fit, n_ingest, len(users),
                                     wait_s=seconds["export"] + 2.0, engine=engines[0],
                                     spark_master=spark_master)
            memory["worker (retrain, with its training processes)"] = retrain.pop("worker_peak_gib")
            print(f"scale {label(n_ratings)}: retrain request → every list live in "
                  f"{retrain['total_s']:.1f} s "
                  f"(fit {retrain['fit_s']:.1f} s); ingest during the fit "
                  f"{retrain['ingest_during_fit_events_per_s']:,.0f} events/s", flush=True)
            if more_workers > 1:  # the same retrain again, with more workers on the box
                retrain["with_more_workers"] = await _retrain(
                    bench, pool, None, n_ingest, len(users), wait_s=0.0, workers=more_workers)
                print(f"scale {label(n_ratings)}: with {more_workers} workers, every list live "
                      f"{retrain['with_more_workers']['lists_live_after_model_s']:.1f} s after the model "
                      f"(one worker: {retrain['lists_live_after_model_s']:.1f} s)", flush=True)
            by_engine[engines[0]] = _engine_row(retrain)
            if len(engines) > 1:
                print(f"scale {label(n_ratings)}: retrain by engine " + "; ".join(
                    f"{e}: fit {r['fit_s']:.1f} s, every list live {r['total_s']:.1f} s, RMSE "
                    f"{r['rmse']:.4f}, NDCG@10 {r['ndcg_at_10']:.4f}, worker alone "
                    f"{r['worker_own_peak_gib']:.2f} GiB" for e, r in by_engine.items()), flush=True)
    alone = drained["events_per_s"]  # 0 when a (smoke) backlog is stored before the first poll
    retrain["ingest_ratio_during_fit"] = retrain["ingest_during_fit_events_per_s"] / alone if alone else None
    return {
        "n_ratings": len(history), "n_users": len(users), "n_movies": shape["n_movies"],
        "ranking_model": ranking.kind, "svd": svd_params(base).as_dict(),
        "phases_s": seconds, "all_lists_s": done.total_s, "lists_rows": done.rows,
        "ingest_events": n_ingest, "ingest_events_per_s": drained["events_per_s"],
        "serving_rate": serving["rate"], "serving_ms": serving["latency_ms"],
        "retrain": retrain, "retrain_by_engine": by_engine, "memory_gib": memory,
    }


ENGINE_FIGURES = ("fit_s", "total_s", "rmse", "ndcg_at_10", "popularity_ndcg_at_10", "decision",
                  "worker_own_peak_gib", "worker_peak_gib")


def _engine_row(retrain: dict[str, Any]) -> dict[str, Any]:
    return {key: retrain.get(key) for key in ENGINE_FIGURES}


def _engine_targets(name: str, size: dict[str, Any]) -> list[Target]:
    """Spark's retrain against the local engine's at one size (when both were measured):
    quality on the same held-out pairs, and the worker's own memory (the fit's is Spark's)."""
    engines = size.get("retrain_by_engine") or {}
    local, spark = engines.get("local"), engines.get("spark")
    if spark is None:
        return []
    targets = [at_most(f"worker alone during a spark retrain at {name}", spark["worker_own_peak_gib"],
                       1.0, "GiB")]
    if local is not None and local["ndcg_at_10"] and spark["ndcg_at_10"] is not None:
        targets += [
            at_most(f"spark retrain's held-out RMSE minus the local engine's at {name}",
                    spark["rmse"] - local["rmse"], 0.01, ""),
            at_least(f"spark retrain's held-out NDCG@10 / the local engine's at {name}",
                     spark["ndcg_at_10"] / local["ndcg_at_10"], 0.97, "x"),
        ]
    return targets


def growth(sizes: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each phase's growth between the smallest and the largest size: (t ratio) / (n ratio)
    and the log-log exponent (1 = linear)."""
    runs = sorted(sizes.values(), key=lambda r: r["n_ratings"])
    if len(runs) < 2:
        return {}
    small, large = runs[0], runs[-1]
    n_ratio = large["n_ratings"] / small["n_ratings"]
    out = {}
    for phase in GROWING:
        a, b = small["phases_s"].get(phase), large["phases_s"].get(phase)
        if a and b and a > 0:
            out[phase] = {"vs_linear": (b / a) / n_ratio, "exponent": math.log(b / a) / math.log(n_ratio)}
    return out


def _retrain_targets(name: str, size: dict[str, Any]) -> list[Target]:
    """The retrain phase's targets (sizes measured before it existed have none)."""
    retrain = size.get("retrain")
    if retrain is None:
        return []
    targets = [
        at_most(f"worker peak (retrain, with its training processes) at {name}",
                size["memory_gib"]["worker (retrain, with its training processes)"], 8.0, "GiB"),
        at_most(f"retrain request → every list live, beyond the fit, at {name}", retrain["beyond_fit_s"],
                60.0, "s"),
    ]
    if retrain["ingest_ratio_during_fit"] is not None:
        targets.append(at_least(f"ingest during a fit / without one at {name}",
                                retrain["ingest_ratio_during_fit"], 0.5, "x"))
    return targets


async def run(base: Settings, scale: Any, *, sizes: str = DEFAULT_SIZES,
              previous: dict[str, Any] | None = None, retrain_workers: int = 1,
              engines: str = "local", spark_master: str | None = None) -> dict[str, Any]:
    """``retrain_workers`` > 1: after the one-worker retrain, the same retrain again with
    that many workers on the box, side by side in the run. ``engines`` (``local,spark``):
    the retrain by each training engine, side by side on the same ratings."""
    chosen = tuple(e.strip() for e in engines.split(",") if e.strip())
    unknown = set(chosen) - {"local", "spark"}
    if not chosen or unknown:
        raise ValueError(f"--engine takes local and/or spark (comma-separated), got {engines!r}")
    smoke = scale.name == "smoke"
    wanted = [SMOKE_RATINGS] if smoke else parse_sizes(sizes)
    measured: dict[str, dict[str, Any]] = {} if smoke or previous is None else dict(previous.get("sizes", {}))
    for n in wanted:
        measured[label(n)] = await measure_size(base, n, smoke=smoke, more_workers=retrain_workers,
                                                engines=chosen, spark_master=spark_master)
    measured = dict(sorted(measured.items(), key=lambda kv: kv[1]["n_ratings"]))
    grown = growth(measured)
    largest_label, largest = list(measured.items())[-1]
    targets = [
        at_most(f"all users' top-50 written at {largest_label}", largest["all_lists_s"], 60.0, "s"),
        at_most(f"training process peak at {largest_label}", largest["memory_gib"]["training process"],
                8.0, "GiB"),
        at_most(f"worker peak (ingest) at {largest_label}", largest["memory_gib"]["worker (ingest)"],
                8.0, "GiB"),
        *_retrain_targets(largest_label, largest),
        *[target for name, size in measured.items() for target in _engine_targets(name, size)],
        *[at_most(f"{phase}: growth vs linear", g["vs_linear"], 1.3, "x") for phase, g in grown.items()],
    ]
    fastest = max(grown, key=lambda p: grown[p]["exponent"]) if grown else None
    return {"method": METHOD, "limits": LIMITS, "sizes": measured, "growth": grown,
            "fastest_growing_phase": fastest, "targets": [t.as_dict() for t in targets]}
