"""``streamrec tune``: search the models' hyper-parameters, keep the best as settings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cli.output import console, print_json, print_table, settings_of
from infra import db
from infra.repositories import ratings as ratings_repo
from infra.settings import TUNED_FILE, Settings
from ml.data import load_ratings
from ml.params import ranking_params, svd_params
from ml.tune import as_settings
from ml.tune import tune as search


def _ratings(settings: Settings, path: Path | None, format: str) -> pd.DataFrame:
    if path is not None:
        return load_ratings(path, format).frame

    async def export() -> pd.DataFrame:
        pool = await db.create_pool(settings)
        try:
            async with pool.acquire() as conn:
                frame, _ = await ratings_repo.export(conn)
                return frame
        finally:
            await pool.close()

    return asyncio.run(export())


def tune(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(
        help="A ratings file or MovieLens directory [default: the ratings in Postgres].")] = None,
    format: str = typer.Option("auto", "--format", help="auto, ml-100k, ml-1m, ml-latest or csv."),
    budget_s: float = typer.Option(300.0, "--budget-s", min=1.0, help="Seconds the search may take."),
    write: bool = typer.Option(True, "--write/--no-write",
                               help=f"Write the best to <STREAMREC_HOME>/{TUNED_FILE}, which every "
                                    "process reads (environment variables still win)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search SVD (by RMSE) and ranking-model (by NDCG@10) parameters on a validation part
    of the training data, never the test part; report the winners' test figures."""
    settings = settings_of(ctx)
    result = search(_ratings(settings, path, format), svd_params(settings), ranking_params(settings),
                    budget_s=budget_s, test_size=settings.test_size, seed=settings.svd_seed)
    chosen = as_settings(result)
    target = settings.home / TUNED_FILE
    if write:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(f"{name}={value}\n" for name, value in chosen.items()))
    if as_json:
        print_json({"trials": [t.__dict__ for t in result.trials], "settings": chosen,
                    "test": result.test, "stopped_by_budget": result.stopped_by_budget,
                    "written": str(target) if write else None})
        return
    print_table("trials (validation part)", ["model", "parameters", "figure", "value", "seconds"],
                [(t.model, ", ".join(f"{k}={v}" for k, v in t.params.items() if k != "seed"), t.figure,
                  f"{t.value:.4f}", f"{t.seconds:.1f}") for t in result.trials])
    console.print(f"best on the test part: rmse {result.test['rmse']:.4f}, ndcg@10 "
                  f"{result.test['ndcg_at_10']:.4f} (popularity {result.test['baseline_ndcg_at_10']:.4f})"
                  + ("; the budget ended the search" if result.stopped_by_budget else ""),
                  highlight=False, markup=False)
    console.print(f"wrote {target}" if write else "not written (--no-write)", highlight=False, markup=False)
