"""``streamrec eval PATH``: offline evaluation of the model on a ratings file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import print_json, print_table, settings_of
from ml.evaluate import evaluate_file
from ml.params import svd_params


def evaluate(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A ratings file or a MovieLens directory.")],
    format: str = typer.Option("auto", "--format",
                               help="auto, ml-100k, ml-1m, ml-latest or csv."),
    test_size: float = typer.Option(0.2, "--test-size", min=0.01, max=0.9,
                                    help="Held-out fraction."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out split."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip and count malformed lines."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Train with the settings' SVD parameters and report held-out RMSE, MAE and
    precision@10 / recall@10 against a popularity baseline on the same split."""
    params = svd_params(settings_of(ctx))
    result = evaluate_file(path, format, test_size, seed, params, skip_bad=skip_bad)
    if as_json:
        print_json(result)
        return
    print_table(f"held-out evaluation of {path.name} ({result.get('format', format)})",
                ["figure", "value"],
                [(key, f"{value:.4f}" if isinstance(value, float) else value)
                 for key, value in result.items()])
