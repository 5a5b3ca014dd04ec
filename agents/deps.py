"""What the agents of one worker process share: settings, topics, the Postgres pool,
the model store and the training process pool. Created lazily, never at import."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import asyncpg

from agents.metrics import WorkerMetrics
from infra.db import create_pool
from infra.repositories.models import ModelVersion
from infra.settings import Settings
from infra.shared_models import SharedModelStore
from ml.errors import ModelIntegrityError
from ml.history_products import HistoryProducts
from ml.model_store import ModelBundle, ModelStore
from ml.params import background_params
from ml.train import training_executor
from streams.app import Topics
from streams.retry import with_retry

log = logging.getLogger(__name__)


class ModelCache:
    """Versions' models by version, verified against their recorded sha256 when loaded
    (from this host's files or Postgres's copy: :class:`SharedModelStore`)."""

    def __init__(self, store: SharedModelStore, keep: int = 2) -> None:
        self._store = store
        self._keep = keep
        self._loaded: dict[tuple[str, str], ModelBundle] = {}

    async def get(self, version: ModelVersion) -> ModelBundle:
        key = (version.version_name, version.sha256)
        if key not in self._loaded:
            self.put(*key, await self._store.load_bundle(version))
        return self._loaded[key]

    def put(self, version: str, sha256: str, bundle: ModelBundle) -> None:
        """Keep a bundle already read and verified against ``sha256`` (the trainer's read-back)."""
        self._loaded[(version, sha256)] = bundle
        while len(self._loaded) > self._keep:  # the oldest loaded goes first
            del self._loaded[next(iter(self._loaded))]


class DirtyUsers:
    """Users whose ratings were stored since the speed layer last re-ranked them.

    Ingest marks them and goes on; the speed layer's task takes them in rounds, so a
    user who rated five times meanwhile is re-ranked once, and ingest never waits for it.
    First marked, first taken: while more users are marked than a round can take, none
    waits longer than the ones marked before them (taking the lowest ids first starved
    the highest under a steady load). Kept in memory: after a crash the lists of users
    still marked wait for their next rating or retrain (they stay exact: rated movies
    are excluded at serve time)."""

    def __init__(self) -> None:
        self._users: dict[int, None] = {}  # insertion-ordered: the order of first marking
        self._marked = asyncio.Event()
        # Set by ingest when its last batch was full (more events were waiting): the
        # speed layer then takes only its share of the worker (STREAMREC_SPEED_LAYER_BACKLOG_SHARE).
        self._behind_until = 0.0  # event-loop time until which ingest counts as behind
        self._rounds_done = 0  # rounds the speed layer has scored
        self._progress = asyncio.Event()  # set (and replaced) when either of those changes

    def mark(self, user_ids: Iterable[int]) -> None:
        before = len(self._users)
        for user in user_ids:
            self._users.setdefault(user, None)
        if len(self._users) > before:
            self._marked.set()

    async def take(self, most: int) -> list[int]:
        """Up to ``most`` marked users, the longest waiting first, waiting until there is one."""
        while not self._users:
            self._marked.clear()
            await self._marked.wait()
        taken = list(itertools.islice(self._users, most))
        for user in taken:
            del self._users[user]
        return taken

    @property
    def ingest_behind(self) -> bool:
        """Whether ingest's last batch was full, a moment ago: more events were waiting.
        It lapses by itself (INGEST_BEHIND_HOLD_S) when no batch follows: a backlog whose
        last batch happened to be full leaves nothing behind."""
        return asyncio.get_running_loop().time() < self._behind_until

    @ingest_behind.setter
    def ingest_behind(self, behind: bool) -> None:
        was = self.ingest_behind
        self._behind_until = asyncio.get_running_loop().time() + INGEST_BEHIND_HOLD_S if behind else 0.0
        if was and not behind:
            self._progressed()

    def round_scored(self) -> None:
        """The speed layer scored a round (called by it, before the round's write)."""
        self._rounds_done += 1
        self._progressed()

    def _progressed(self) -> None:
        # Every waiter holds the event of its time: wake them all, and start a new one.
        self._progress.set()
        self._progress = asyncio.Event()

    async def serving_first(self, most_s: float) -> float:
        """Wait, at most ``most_s``, while realtime work is pending: until ingest keeps up
        and the users marked now have been through one round of the speed layer (or none
        are marked). A prediction job calls it first, so a retrain's fan-out takes what
        the speed layer and ingest leave instead of delaying them. Returns the seconds waited."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        rounds_at_start = self._rounds_done
        while True:
            now = loop.time()
            behind = now < self._behind_until
            if not behind and not (self._users and self._rounds_done == rounds_at_start):
                break
            remaining = most_s - (now - started)
            if remaining <= 0:
                break
            if behind:  # woken when the hold lapses, if nothing else happens first
                remaining = min(remaining, self._behind_until - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return loop.time() - started

    def __len__(self) -> int:
        return len(self._users)


INGEST_BEHIND_HOLD_S = 0.5  # a full batch means "behind" for this long (batches come faster)



@dataclass
class WorkerDeps:
    settings: Settings
    topics: Topics
    _pool: asyncpg.Pool | None = field(default=None, init=False)
    _pool_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _executor: ProcessPoolExecutor | None = field(default=None, init=False)
    models: ModelCache = field(init=False)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics, init=False)
    dirty_users: DirtyUsers = field(default_factory=DirtyUsers, init=False)
    _kept: HistoryProducts | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.models = ModelCache(SharedModelStore(self.local_models(), self.pool))

    async def bundle_of(self, version: ModelVersion) -> ModelBundle | None:
        """The version's models, or None (logged and counted) when its artifact is
        missing, truncated or altered: nothing refused is ever used."""
        try:
            return await self.models.get(version)
        except ModelIntegrityError as err:
            log.error("model %s refused: %s", version.version_name, err.describe())
            self.metrics.model_refused.inc()
            return None

    def local_models(self) -> ModelStore:
        """This host's model directory: the trainer's versions and the cache."""
        return ModelStore(self.settings.model_dir, keep=self.settings.models_to_keep)

    def kept_products(self, bundle: ModelBundle) -> HistoryProducts | None:
        """The speed layer's history products for this version's model (EASE's score
        rows, iALS's fold-in sums; a new version starts with none kept), or None when it
        keeps none."""
        ranking = bundle.ranking
        budget = self.settings.speed_layer_memory_mb << 20
        if ranking is None or budget == 0:
            return None
        if self._kept is None or self._kept.weights is not ranking.weights:
            self._kept = ranking.history_products(budget)
        return self._kept

    async def pool(self) -> asyncpg.Pool:
        """The process's pool; waits (with backoff) while Postgres is unreachable."""
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await with_retry(
                    "connecting to Postgres", lambda: create_pool(self.settings)
                )
            return self._pool

    def training_executor(self) -> ProcessPoolExecutor:
        """The process's training pool (two spawn processes, started by the first
        training: the held-out fit and the serving fit run side by side, at the lowest
        CPU priority: ``STREAMREC_TRAINING_*``)."""
        if self._executor is not None and getattr(self._executor, "_broken", False):
            # A training process died (e.g. killed for memory): the pool refuses all work
            # from then on, so the next training gets a new one.
            log.warning("the training pool is broken; starting a new one")
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self._executor is None:
            self._executor = training_executor(background=background_params(self.settings))
        return self._executor

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
