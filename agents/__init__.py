"""Faust agents: ratings, schedule, trainer, fan-out, predictor.

Each agent is a small ``async for`` loop that calls plain functions of its module to do
the work; :func:`agents.worker.build_worker_app` wires them to an app.
"""
