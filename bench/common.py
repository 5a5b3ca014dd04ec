"""What every benchmark shares: sizes, the run's own database and topics, results files.

A benchmark never touches the default database or topics: it creates a throw-away
database ``streamrec_bench_<random>`` on the server of ``settings.database_url``,
migrates it, and drops it at the end; its topics carry a prefix of its own and are
deleted at the end; its worker has an app id (consumer group) of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psycopg
from psycopg import sql

from infra import db
from infra.settings import Settings
from ml.synthetic import ML_1M, ML_100K
from streams import topic_admin

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"


@dataclass(frozen=True)
class Scale:
    """Sizes of one run; ``smoke`` is seconds per benchmark, for CI."""

    name: str
    n_users: int
    n_movies: int
    n_ratings: int
    seed_users: int  # users run through the seed's per-pair loop
    predict_epochs: int  # SVD epochs of the predict benchmark's model (timing only)
    ingest_events: int  # backlog of the ingest throughput phase
    latency_rate: int  # events/s of the latency phase
    latency_seconds: float
    svd_factors: int  # the retrain benchmark's worker (the settings' defaults at ml-1m)
    svd_epochs: int


SCALES: dict[str, Scale] = {
    "ml-1m": Scale("ml-1m", **ML_1M, seed_users=5, predict_epochs=2, ingest_events=200_000,
                   latency_rate=1000, latency_seconds=20.0, svd_factors=100, svd_epochs=20),
    "small": Scale("small", **ML_100K, seed_users=5, predict_epochs=2, ingest_events=20_000,
                   latency_rate=1000, latency_seconds=10.0, svd_factors=100, svd_epochs=20),
    "smoke": Scale("smoke", n_users=120, n_movies=200, n_ratings=4_000, seed_users=2,
                   predict_epochs=2, ingest_events=2_000, latency_rate=200, latency_seconds=2.0,
                   svd_factors=10, svd_epochs=5),
}


def scale_of(name: str, smoke: bool) -> Scale:
    return SCALES["smoke" if smoke else name]


Result = TypeVar("Result")


def alternate(ways: dict[str, Callable[[], Result]],
              repeat: int) -> tuple[dict[str, list[float]], dict[str, Result]]:
    """Each way run ``repeat`` times, the ways alternating, so that a shared machine's
    drift falls on all of them: the seconds of every run, and each way's last result."""
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    results: dict[str, Result] = {}
    for _ in range(repeat):
        for name, way in ways.items():
            started = time.perf_counter()
            results[name] = way()
            seconds[name].append(time.perf_counter() - started)
    return seconds, results


def side_by_side(seconds: dict[str, list[float]], fast: str, slow: str, *, unit: str = "s",
                 scale: float = 1.0, digits: int = 2) -> str:
    """Two ways' runs from :func:`alternate` and their ratios, run by run:
    ``"fast 1.00, 1.10 s; slow 2.00, 2.10 s; slow / fast 2.0x, 1.9x"``."""
    def runs(name: str) -> str:
        return ", ".join(f"{scale * s:.{digits}f}" for s in seconds[name])

    ratios = ", ".join(f"{s / f:.1f}x" for s, f in zip(seconds[slow], seconds[fast], strict=True))
    return f"{fast} {runs(fast)} {unit}; {slow} {runs(slow)} {unit}; {slow} / {fast} {ratios}"


@dataclass(frozen=True)
class Target:
    """One performance target and whether this run met it."""

    name: str
    value: float
    unit: str
    target: str  # e.g. "≤ 5 s"
    met: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "target": self.target,
                "met": self.met}


def at_most(name: str, value: float, limit: float, unit: str) -> Target:
    return Target(name, value, unit, f"≤ {limit:g} {unit}".strip(), value <= limit)


def at_least(name: str, value: float, limit: float, unit: str) -> Target:
    return Target(name, value, unit, f"≥ {limit:g} {unit}".strip(), value >= limit)


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _mem_total_bytes() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _kafka_version() -> str:
    pom = REPO / "infra" / "kafka" / "pom.xml"
    with contextlib.suppress(OSError):
        text = pom.read_text()
        start = text.find("<kafka.version>")
        if start >= 0:
            return text[start + len("<kafka.version>") : text.find("</kafka.version>")]
    return "unknown"


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "absent"


def machine(settings: Settings) -> dict[str, Any]:
    """Where the figures come from: cores, memory, load, versions."""
    postgres = "unreachable"
    with contextlib.suppress(psycopg.Error), psycopg.connect(
        settings.database_url, connect_timeout=5
    ) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        postgres = str(row[0]) if row else "unknown"
    return {
        "cores": os.cpu_count() or 0,
        "cpu": _cpu_model(),
        "memory_bytes": _mem_total_bytes(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": _version("pandas"),
        "scikit-surprise": _version("scikit-surprise"),
        "asyncpg": _version("asyncpg"),
        "aiokafka": _version("aiokafka"),
        "faust-streaming": _version("faust-streaming"),
        "postgres": postgres,
        "kafka": _kafka_version(),
    }


@dataclass(frozen=True)
class BenchRun:
    """The run's own settings (database, topic prefix, app id) and scratch directory."""

    settings: Settings
    tmp: Path

    def worker_env(self, **overrides: str) -> dict[str, str]:
        """Environment of a `streamrec worker` of this run (everything else inherited)."""
        s = self.settings
        env = {
            **os.environ,
            "STREAMREC_DATABASE_URL": s.database_url,
            "STREAMREC_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "STREAMREC_TOPIC_PREFIX": s.topic_prefix,
            "STREAMREC_APP_ID": s.app_id,
            "STREAMREC_MODEL_DIR": str(self.tmp / "models"),
            "STREAMREC_HOME": str(self.tmp / "home"),
            "STREAMREC_RATINGS_PARTITIONS": str(s.ratings_partitions),
            "STREAMREC_PREDICTION_JOBS_PARTITIONS": str(s.prediction_jobs_partitions),
            # No retrain from the ratings counter or the schedule during a benchmark.
            "STREAMREC_RETRAIN_EVERY_N_RATINGS": "1000000000",
            "STREAMREC_RETRAIN_CRON": "0 0 1 1 *",
        }
        env.update(overrides)
        return env


def _create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextlib.asynccontextmanager
async def bench_run(base: Settings, name: str, *, topics: bool = False) -> AsyncIterator[BenchRun]:
    """A migrated throw-away database (and, with ``topics``, topics of the run's own),
    removed again at the end whatever happens."""
    tag = uuid.uuid4().hex[:10]
    db_name = f"streamrec_bench_{tag}"
    _create_database(base.database_url, db_name)
    tmp = Path(tempfile.mkdtemp(prefix=f"streamrec-bench-{name}-"))
    settings = base.model_copy(update={
        "database_url": base.database.with_name(db_name),
        "topic_prefix": f"bench{tag}.",
        "app_id": f"streamrec-bench-{tag}",
        "model_dir": tmp / "models",
        "home": tmp / "home",
    })
    try:
        db.migrate(settings.database_url)
        if topics:
            await topic_admin.ensure_topics(settings)
        yield BenchRun(settings, tmp)
    finally:
        if topics:
            with contextlib.suppress(Exception):
                await delete_topics(settings)
        db.drop_database(base.database_url, db_name)
        shutil.rmtree(tmp, ignore_errors=True)


async def delete_topics(settings: Settings) -> None:
    """The run's topics and the ones Faust made for its app id."""
    await topic_admin.delete_run_topics(settings, app_id=settings.app_id)


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` holds the seconds taken."""
    box: list[float] = [0.0]
    started = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - started


def percentiles(values: list[float], points: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
    if not values:
        return {f"p{p:g}": float("nan") for p in points}
    arr = np.asarray(values, dtype=np.float64)
    return {f"p{p:g}": float(np.percentile(arr, p)) for p in points} | {"max": float(arr.max())}


def write_result(out_dir: Path, name: str, result: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path | datetime):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def load_results(out_dir: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for path in sorted(out_dir.glob("*.json")):
        with contextlib.suppress(ValueError, OSError):
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "benchmark" in data:
                results[str(data["benchmark"])] = data
    return results
