"""The one settings object of streamrec, read from ``STREAMREC_*`` environment variables.

Every process (CLI, worker, API, tests, benchmarks) builds a :class:`Settings` once and
passes it down; nothing else reads ``os.environ``.  Defaults run everything on one
machine: the local stack started by ``streamrec stack up`` listens on the ports below.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.wire import TimeWindow


class Settings(BaseSettings):
    """Typed configuration; each field is the variable ``STREAMREC_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix="STREAMREC_", frozen=True, extra="ignore")

    # --- Kafka -----------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        description="Kafka bootstrap servers (host:port[,host:port]); "
        "the local stack's broker listens on the first one.",
    )
    kafka_controller_port: int = Field(
        9093, description="KRaft controller port of the local stack's broker."
    )
    topic_prefix: str = Field(
        "streamrec.", description="Prefix of every topic name, so several deployments "
        "(or test runs) can share one cluster."
    )
    ratings_partitions: int = Field(8, ge=1, description="Partitions of the ratings topic.")
    prediction_jobs_partitions: int = Field(
        8, ge=1, description="Partitions of the prediction-jobs topic."
    )
    kafka_replication: int = Field(
        1, ge=1, description="Replication factor of the topics streamrec creates."
    )
    app_id: str = Field("streamrec", description="Faust app id (the consumer group).")

    # --- Postgres --------------------------------------------------------------------
    database_url: str = Field(
        "postgresql://streamrec:streamrec@127.0.0.1:5433/streamrec",
        description="Postgres URL; the local stack creates this role and database "
        "on this port.",
    )
    db_pool_min: int = Field(1, ge=0, description="Minimum connections in a process's pool.")
    db_pool_max: int = Field(10, ge=1, description="Maximum connections in a process's pool.")

    # --- Model -----------------------------------------------------------------------
    model_dir: Path = Field(
        Path(".streamrec/models"), description="Model store root (artifacts + latest)."
    )
    models_to_keep: int = Field(5, ge=1, description="Model versions kept in the store.")
    svd_factors: int = Field(100, ge=1, description="SVD latent factors.")
    svd_epochs: int = Field(20, ge=1, description="SVD epochs (the seed's n_epochs=20).")
    svd_lr: float = Field(0.01, gt=0, description="SVD learning rate (lr_all).")
    svd_reg: float = Field(0.05, ge=0, description="SVD regularisation (reg_all).")
    svd_seed: int = Field(0, description="Random seed for SVD and the held-out split.")
    test_size: float = Field(0.2, gt=0, lt=1, description="Held-out fraction for evaluation.")
    activation_tolerance: float = Field(
        0.01, ge=0, description="A new model activates when its held-out RMSE is at most "
        "the active model's (on the same split) plus this.",
    )
    activation_ndcg_tolerance: float = Field(
        0.005, ge=0, description="... and its list's NDCG@10 at least the active model's "
        "minus this (and always above popularity's).",
    )
    ranking_model: Literal["auto", "ease", "ials", "puresvd"] = Field(
        "auto", description="The model that orders lists: EASE^R up to "
        "ranking_ease_max_movies movies, iALS beyond (auto), or one of them.")
    ranking_ease_lambda: float = Field(1000.0, gt=0, description="EASE^R's L2 regularisation.")
    ranking_ease_max_movies: int = Field(
        4000, ge=1, description="Largest catalogue auto ranks with EASE^R (its movies x movies "
        "matrix: memory and fit time grow with the square and cube of this).")
    ranking_factors: int = Field(20, ge=1, description="PureSVD's factors.")
    ranking_ials_factors: int = Field(32, ge=1, description="iALS's factors.")
    ranking_ials_regularization: float = Field(
        50.0, gt=0, description="iALS's L2 regularisation (added to YᵀY and XᵀX as λI).")
    ranking_ials_alpha: float = Field(
        3.0, ge=0, description="iALS's confidence of a rated cell: 1 + alpha (an unrated one: 1).")
    ranking_ials_iterations: int = Field(8, ge=1, description="iALS's alternating sweeps.")
    top_k: int = Field(50, ge=1, description="Suggestions kept per user.")
    speed_layer: bool = Field(
        True, description="Re-rank the users of each ingested batch at once (their lists "
        "are marked realtime); false: lists change only at the next retrain.")
    speed_layer_max_users: int = Field(
        500, ge=1, description="Most users the speed layer re-ranks in one round (the rest "
        "wait for the next round): bounds one round's memory and write.")
    speed_layer_backlog_share: float = Field(
        0.25, gt=0, le=1, description="Share of the worker's time the speed layer may take "
        "while ingest drains a backlog (its last batch was full): after a round it waits "
        "that round's time x (1 - share) / share. 1: no bound.")
    speed_layer_memory_mb: int = Field(
        256, ge=0, description="Memory the speed layer may keep EASE users' history products "
        "in (a user's next re-rank adds the newly rated movies' rows instead of scoring the "
        "whole history again); 0: score every history in full.")
    prediction_batch_size: int = Field(500, ge=1, description="Users per prediction job.")
    prediction_write_parts: int = Field(
        2, ge=1, description="Transactions a prediction job's lists are written in at once "
        "(each on a connection of its own, for a range of the job's users): writing lists is "
        "Postgres CPU, and one statement uses one core.")
    prediction_max_yield_s: float = Field(
        2.0, ge=0, description="Longest a prediction job waits before it starts while ingest "
        "is behind or users wait for the speed layer (realtime work goes first; 0: no wait).")

    training_nice: int = Field(
        19, ge=0, le=19, description="Niceness of the training processes (19: the lowest "
        "priority), so the API, ingest and the speed layer get a core first during a fit.")
    training_idle: bool = Field(
        True, description="Run the training processes in Linux's SCHED_IDLE class: a fit "
        "gets only the CPU that nothing else wants (false: niceness alone).")
    training_blas_threads: int = Field(
        1, ge=0, description="BLAS/OpenMP threads of each training process (two processes "
        "fit side by side); 0: the libraries' default (one per core).")

    # --- Training engine -------------------------------------------------------------
    train_engine: Literal["local", "spark"] = Field(
        "local", description="What fits a version: local (Surprise SVD and the ranking model in "
        "the worker's training processes) or spark (ALS on Apache Spark at spark_master; needs "
        "the spark extra and Java 17).")
    spark_master: str = Field(
        "local[*]", description="Spark master of the spark engine: local[N] (in the trainer's own "
        "JVM) or spark://host:port (a standalone cluster, e.g. `streamrec stack up --spark`'s).")
    spark_driver_host: str = Field(
        "127.0.0.1", description="Address the spark engine's driver listens on; a remote "
        "cluster's executors must reach it.")
    spark_driver_memory: str = Field("2g", description="Java heap of the spark engine's driver.")
    spark_executor_memory: str = Field(
        "2g", description="Java heap of each Spark executor (at most spark_worker_memory on the "
        "local cluster).")
    spark_partitions: int = Field(
        4, ge=1, description="Spark ALS's user and movie blocks and the shuffles' partitions "
        "(fixed, so a retrain of the same ratings gives the same factors).")
    spark_als_rank: int = Field(
        16, ge=1, description="Factors of the spark engine's explicit ALS (the predicted rating's "
        "residuals after the biases; the svd_* parameters other than the seed do not apply).")
    spark_master_port: int = Field(
        17077, ge=1, le=65535, description="Port of the local stack's Spark standalone master.")
    spark_master_ui_port: int = Field(
        18080, ge=1, le=65535, description="Web UI (and /json/ status) port of the local Spark master.")
    spark_worker_port: int = Field(
        17078, ge=1, le=65535, description="Port of the local stack's Spark worker.")
    spark_worker_ui_port: int = Field(
        18081, ge=1, le=65535, description="Web UI port of the local Spark worker.")
    spark_worker_cores: int = Field(
        0, ge=0, description="Cores the local Spark worker offers executors (0: all).")
    spark_worker_memory: str = Field(
        "3g", description="Memory the local Spark worker offers executors.")

    # --- Retraining ------------------------------------------------------------------
    retrain_every_n_ratings: int = Field(
        100, ge=1, description="New ratings that trigger a retrain."
    )
    retrain_cron: str = Field(
        "0 2 * * *", description="Crontab of the scheduled retrain (the seed's 02:00)."
    )
    retrain_timezone: str = Field("UTC", description="Time zone of retrain_cron.")

    # --- API -------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Address the API binds.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port the API binds.")
    worker_metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of a worker's Prometheus /metrics; 0 turns it off "
        "(several workers on one host need different ports).",
    )
    admin_token: str | None = Field(
        None, description="Bearer token of the admin routes; unset disables them."
    )

    # --- Local stack -----------------------------------------------------------------
    home: Path = Field(
        Path(".streamrec"),
        description="Working directory of the local stack: data, logs, PIDs, jar cache.",
    )
    kafka_heap: str = Field("512m", description="Java heap (-Xmx) of the local broker.")
    postgres_bin_dir: Path | None = Field(
        None, description="Directory holding initdb and pg_ctl; found automatically "
        "when unset.",
    )
    stack_timeout_s: float = Field(
        90.0, gt=0, description="Seconds a service may take to become ready."
    )
    api_publish_timeout_s: float = Field(
        3.0, gt=0, description="How long POST /api/ratings waits for Kafka before answering 503.")
    api_impressions: bool = Field(
        True, description="Log every suggestions response as an impression on the impressions "
        "topic (off the request path), for online evaluation.")
    api_impressions_buffer: int = Field(
        10_000, ge=1, description="Impressions one API process holds while Kafka is slow or "
        "away; beyond, new ones are dropped and counted, never delaying a request.")
    attribution_window: timedelta = Field(
        timedelta(hours=24), gt=timedelta(0), description="How long after an impression a rating or "
        "hide of a movie it showed is credited to its version (ISO 8601 as PT24H, or HH:MM:SS).")
    api_db_timeout_s: float = Field(
        5.0, gt=0, description="How long an API query may take (a frozen Postgres gives 503 then).")
    api_header_timeout_s: float = Field(
        10.0, gt=0, description="How long a client may take to send a request's headers.")
    api_keep_alive_s: int = Field(5, ge=1, description="Idle seconds before a kept-alive connection closes.")
    api_max_connections_per_client: int = Field(
        256, ge=1, description="Connections one client address may hold open to one API process; "
        "beyond, a new one is closed at once (behind a proxy, every client is the proxy's address).")
    api_admin_failures_per_minute: int = Field(
        5, ge=1, description="Wrong admin tokens (sign-in form or bearer header) one address may "
        "send in a minute; beyond, 429 until the minute has passed.")
    api_body_timeout_s: float = Field(
        10.0, gt=0, description="How long a client may take to send a request's body, at most "
        "(a body must also come at api_body_min_rate; beyond either, 408).")
    api_body_min_rate: int = Field(
        1024, ge=1, description="Bytes a second a request's body must come at, on average, after "
        "a 2 s grace.")
    api_max_unfinished_bodies: int = Field(
        256, ge=1, description="Requests whose body is still arriving, at most, in one API process "
        "(beyond: 503).")
    api_max_unfinished_bodies_per_client: int = Field(
        16, ge=1, description="Requests whose body is still arriving, at most, from one client "
        "address (beyond: 429).")
    api_max_concurrency: int = Field(
        2000, ge=1, description="Connections and requests one API process serves at once; beyond, 503.")
    worker_wait_for_services: bool = Field(
        True, description="A worker started while Kafka or Postgres is away waits for them "
        "(false: it exits at once).")
    rated_at_earliest: datetime = Field(
        datetime(1995, 1, 1, tzinfo=UTC),
        description="Earliest rated_at the ratings topic accepts (older ones are dead-lettered).",
    )
    rated_at_max_ahead_s: float = Field(
        86_400.0, ge=0, description="How far past now a rated_at may lie (later ones are "
        "dead-lettered: the latest rated_at wins, so one far-future date would hide real ratings).",
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_a_topic_name(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("may contain only letters, digits, '.', '_' and '-'")
        return value

    @field_validator("rated_at_earliest")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @property
    def rated_at_window(self) -> TimeWindow:
        return TimeWindow(self.rated_at_earliest, timedelta(seconds=self.rated_at_max_ahead_s))

    def topic(self, name: str) -> str:
        """Full name of one of streamrec's topics (``ratings`` → ``<prefix>ratings``)."""
        return f"{self.topic_prefix}{name}"

    # Plain properties, not cached: model_copy(update=...) must not carry stale values.
    @property
    def kafka_host_port(self) -> tuple[str, int]:
        """Host and port of the first bootstrap server: where the local broker listens."""
        first = self.kafka_bootstrap.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def spark_cluster_url(self) -> str:
        """The master URL of the local stack's Spark cluster."""
        return f"spark://127.0.0.1:{self.spark_master_port}"

    @property
    def database(self) -> DatabaseAddress:
        return DatabaseAddress.parse(self.database_url)


class DatabaseAddress:
    """The parts of ``database_url`` that the local stack needs to create the cluster."""

    def __init__(self, host: str, port: int, user: str, password: str, name: str) -> None:
        self.host, self.port, self.user, self.password, self.name = (
            host, port, user, password, name
        )

    @classmethod
    def parse(cls, url: str) -> DatabaseAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"STREAMREC_DATABASE_URL must start with postgresql://, got {url!r}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "streamrec",
            password=parts.password or "",
            name=parts.path.lstrip("/") or "streamrec",
        )

    def with_name(self, name: str) -> str:
        """The URL of another database on the same server (tests use throw-away ones)."""
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{name}"

    @property
    def url(self) -> str:
        return self.with_name(self.name)


TUNED_FILE = "tuned.env"


def load_settings() -> Settings:
    """The settings of a process: the environment, over the parameters ``streamrec tune``
    wrote to ``<STREAMREC_HOME>/tuned.env`` (a variable set in the environment wins)."""
    settings = Settings()
    tuned = settings.home / TUNED_FILE
    return Settings(_env_file=tuned) if tuned.is_file() else settings
