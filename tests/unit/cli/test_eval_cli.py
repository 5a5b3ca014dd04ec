"""`streamrec eval PATH`: held-out figures of a ratings file (no service needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli import app as streamrec_app
from ml.synthetic import generate
from ml.writers import write_dataset


def test_eval_prints_the_held_out_figures_as_json(tmp_path: Path) -> None:
    data = generate(150, 80, 4000, seed=3)
    files = write_dataset(data.ratings, data.movies, tmp_path, "ml-latest")
    env = {"STREAMREC_SVD_FACTORS": "8", "STREAMREC_SVD_EPOCHS": "10"}
    result = CliRunner().invoke(streamrec_app, ["eval", str(files["ratings"]), "--json"], env=env)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for key in ("rmse", "mae", "n_ratings", "fit_seconds", "precision_at_10",
                "baseline_precision_at_10"):
        assert key in figures
    assert figures["n_ratings"] == 4000
    assert 0 < figures["mae"] <= figures["rmse"] < figures["baseline_rmse"]


def test_eval_of_an_unknown_format_lists_the_supported_ones(tmp_path: Path) -> None:
    odd = tmp_path / "ratings.xyz"
    odd.write_text("1,2,3\n")
    streamrec = Path(sys.executable).with_name("streamrec")
    result = subprocess.run([str(streamrec), "eval", str(odd), "--format", "nope"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "ml-100k" in result.stderr and "Traceback" not in result.stderr


def test_eval_reports_each_protocol_on_movielens_formats(tmp_path: Path) -> None:
    data = generate(150, 80, 4000, seed=3, half_stars=False)  # ml-100k and ml-1m: whole stars
    env = {"STREAMREC_SVD_FACTORS": "8", "STREAMREC_SVD_EPOCHS": "10"}
    for fmt in ("ml-100k", "ml-1m", "ml-latest"):
        files = write_dataset(data.ratings, data.movies, tmp_path / fmt, fmt)
        for protocol in ("random", "temporal", "prequential"):
            result = CliRunner().invoke(streamrec_app, ["eval", str(files["ratings"]), "--json",
                                                        "--protocol", protocol], env=env)
            assert result.exit_code == 0, (fmt, protocol, result.output)
            figures = json.loads(result.stdout)
            assert figures["protocol"] == protocol and figures["format"] == fmt
            if protocol == "prequential":
                assert 0 < figures["baseline_hit_rate_at_10"] < figures["hit_rate_at_10"] <= 1
            else:
                assert figures["ndcg_at_10"] > figures["baseline_ndcg_at_10"]


def test_eval_refuses_an_unknown_protocol(tmp_path: Path) -> None:
    data = generate(150, 80, 4000, seed=3)
    files = write_dataset(data.ratings, data.movies, tmp_path, "ml-latest")
    result = CliRunner().invoke(streamrec_app, ["eval", str(files["ratings"]), "--protocol", "future"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "'future' is not one of random, temporal, prequential" in result.output
