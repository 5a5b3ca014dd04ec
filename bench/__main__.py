"""``python -m bench [all|<benchmark>] [--scale small|ml-1m] [--smoke]`` (benchmarks: BENCHMARKS)

Each benchmark writes ``<out>/<name>.json`` and ``<out>/<name>.png``, then
``BENCHMARKS.md`` is regenerated from every results file in ``<out>``.  By default
``<out>`` is ``bench/results`` and the report is the repository's ``BENCHMARKS.md``;
``--smoke`` (tiny sizes, seconds each, for CI) writes into ``--out`` or a fresh
temporary directory, never over the committed results.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS_DIR, load_results, machine, now_iso, scale_of, write_result
from bench.plots import plot
from bench.report import write_report
from infra.settings import Settings, load_settings

BENCHMARKS = ("predict", "ingest", "retrain", "quality", "api", "realtime", "mixed", "online", "scale",
              "store", "spark", "slowbody", "notaken")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[2])
    parser.add_argument("which", nargs="?", default="all", choices=("all", *BENCHMARKS))
    parser.add_argument("--scale", choices=("small", "ml-1m"), default="ml-1m")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI (no speed claims)")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results; "
                        "a temporary one with --smoke)")
    parser.add_argument("--events", type=int, help="ingest: ratings of the throughput phase")
    parser.add_argument("--movielens", type=Path, help="quality: also evaluate this ratings file")
    parser.add_argument("--sizes", default="1M,5M,10M,25M",
                        help="scale: ratings per size, e.g. 1M,5M (ml-25m's shape scaled down)")
    parser.add_argument("--retrain-workers", type=int, default=1,
                        help="scale: also retrain with this many workers on the box (one trains), "
                        "side by side with the one-worker retrain")
    parser.add_argument("--engine", default="local",
                        help="scale: retrain with each of these training engines, side by side "
                        "(local,spark)")
    parser.add_argument("--spark-master", help="spark, scale: the Spark master "
                        "(default STREAMREC_SPARK_MASTER)")
    parser.add_argument("--report-only", action="store_true",
                        help="only regenerate BENCHMARKS.md from the results files")
    parser.add_argument("--no-spy", action="store_true",
                        help="ingest/retrain: do not profile the worker with py-spy")
    return parser.parse_args(argv)


async def run_one(name: str, args: argparse.Namespace, settings: Settings,
                  out: Path) -> dict[str, Any] | None:
    module = importlib.import_module(f"bench.{name}")
    scale = scale_of(args.scale, args.smoke)
    options: dict[str, Any] = {}
    if name == "ingest":
        options = {"events": args.events, "spy": not args.no_spy and not args.smoke}
    elif name == "retrain":
        options = {"spy": not args.no_spy and not args.smoke}
    elif name == "quality":
        options = {"movielens": args.movielens}
    elif name == "scale":  # sizes measured before and not now are kept
        options = {"sizes": args.sizes, "previous": load_results(out).get("scale"),
                   "retrain_workers": args.retrain_workers, "engines": args.engine,
                   "spark_master": args.spark_master}
    elif name == "spark":
        options = {"ratings": args.sizes.split(",")[0], "master": args.spark_master}
    result: dict[str, Any] | None = await module.run(settings, scale, **options)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out is not None:
        out = args.out
    elif args.smoke:
        out = Path(tempfile.mkdtemp(prefix="streamrec-bench-smoke-"))
    else:
        out = RESULTS_DIR
    report = out / "BENCHMARKS.md" if (args.smoke or args.out is not None) else REPO / "BENCHMARKS.md"
    settings = load_settings()
    # `all` runs scale only in smoke mode: its full sizes take an hour and more.
    # spark needs a Spark master and minutes: only when named.
    every = tuple(b for b in BENCHMARKS if b != "spark" and (args.smoke or b != "scale"))
    names: tuple[str, ...] = every if args.which == "all" else (args.which,)
    if args.report_only:
        names = ()
    failed: list[str] = []
    for name in names:
        started = time.perf_counter()
        size = ("smoke" if args.smoke else args.sizes if name == "scale"
                else args.sizes.split(",")[0] if name == "spark" else "25M" if name == "store"
                else args.scale)
        print(f"== {name} ({size})", flush=True)
        try:
            result = asyncio.run(run_one(name, args, settings, out))
        except Exception as err:  # one broken benchmark must not lose the others' results
            print(f"{name} failed: {type(err).__name__}: {err}", file=sys.stderr)
            failed.append(name)
            continue
        if result is None:
            continue
        result = {
            "benchmark": name,
            "scale": size,
            "smoke": args.smoke,
            "finished_at": now_iso(),
            "duration_s": time.perf_counter() - started,
            "machine": machine(settings),
            **result,
        }
        path = write_result(out, name, result)
        plot(name, result, out / f"{name}.png")
        for target in result.get("targets", []):
            mark = "met" if target["met"] else "MISSED"
            print(f"   {target['name']}: {target['value']:.4g} {target['unit']} "
                  f"(target {target['target']}: {mark})")
        print(f"   wrote {path} in {result['duration_s']:.0f} s", flush=True)
    write_report(out, report)
    print(f"report: {report}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
