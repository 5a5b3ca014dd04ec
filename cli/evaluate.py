"""``streamrec eval PATH``: offline evaluation of the model on a ratings file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import print_json, print_table, settings_of
from ml.evaluate import evaluate_file
from ml.params import ranking_params, svd_params
from ml.prequential import PROTOCOLS


def evaluate(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A ratings file or a MovieLens directory.")],
    format: str = typer.Option("auto", "--format",
                               help="auto, ml-100k, ml-1m, ml-latest or csv."),
    test_size: float = typer.Option(0.2, "--test-size", min=0.01, max=0.9,
                                    help="Held-out fraction."),
    seed: int = typer.Option(0, "--seed", help="Seed of the (first) held-out split."),
    seeds: int = typer.Option(1, "--seeds", min=1, max=50,
                              help="Splits to evaluate (seed, seed+1, ...): reports their spread."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip and count malformed lines."),
    protocol: str = typer.Option(
        "random", "--protocol",
        help="random: a fifth of the (user, movie) pairs held out, as the trainer's gate; "
             "temporal: trained on the ratings before a global time cut, tested on those after; "
             "prequential: the ratings after the cut replayed in time order (hit rate@10 of "
             "each user's list at that moment, with and without the speed layer)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Train both models with the settings' parameters and report, on the same held-out
    split, RMSE and MAE of the predicted rating and P@10, recall@10, NDCG@10 and
    coverage of the list streamrec serves, against popularity, biases only and SVD
    ranked by predicted rating."""
    settings = settings_of(ctx)
    chosen = next((known for known in PROTOCOLS if known == protocol), None)
    if chosen is None:
        raise typer.BadParameter(f"{protocol!r} is not one of {', '.join(PROTOCOLS)}",
                                 param_hint="--protocol")
    result = evaluate_file(path, format, test_size, seed, svd_params(settings),
                           ranking=ranking_params(settings), seeds=seeds, skip_bad=skip_bad,
                           protocol=chosen)
    if as_json:
        print_json(result)
        return
    if chosen == "prequential":
        print_table(f"prequential replay of {path.name} ({result.get('format', format)})",
                    ["figure", "value"],
                    [(key, f"{value:.4f}" if isinstance(value, float) else value)
                     for key, value in result.items() if key != "spread"])
        return
    figures = {key: value for key, value in result.items() if key not in ("models", "spread")}
    print_table(f"held-out evaluation of {path.name} ({result.get('format', format)})",
                ["figure", "value"],
                [(key, f"{value:.4f}" if isinstance(value, float) else value)
                 for key, value in figures.items()])
    print_table("each model on the same split", ["model", "rmse", "p@10", "ndcg@10", "coverage"],
                [(name, "-" if row["rmse"] is None else f"{row['rmse']:.4f}", f"{row['precision']:.4f}",
                  f"{row['ndcg']:.4f}", f"{row['coverage']:.3f}")
                 for name, row in result["models"].items()])
    if "spread" in result:
        print_table(f"spread over {seeds} splits", ["figure", "mean", "std", "min", "max"],
                    [(key, *(f"{row[part]:.4f}" for part in ("mean", "std", "min", "max")))
                     for key, row in result["spread"].items()])
