"""One worker process: the Faust app with every agent of streamrec."""

from __future__ import annotations

import faust

from agents import fanout, hidden, impressions, predictor, ratings, schedule, speed, trainer
from agents.deps import WorkerDeps
from agents.outbox import flush_retrain_outbox
from infra.settings import Settings
from streams.app import create_app, declare_topics


def build_worker_app(settings: Settings) -> tuple[faust.App, WorkerDeps]:
    app = create_app(settings)
    deps = WorkerDeps(settings, declare_topics(app, settings))
    for agent_module in (ratings, hidden, impressions, trainer, fanout, predictor, schedule, speed):
        agent_module.register(app, deps)

    async def publish_leftover_retrain_requests() -> None:
        # A worker that died between a commit and its publish left them in the outbox.
        await flush_retrain_outbox(deps)

    app.task(publish_leftover_retrain_requests)
    return app, deps
