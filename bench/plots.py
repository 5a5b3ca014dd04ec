"""One PNG per benchmark (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

GiB = 1024**3


def _predict(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    labels = ["seed loop", "streamrec"]
    values = [r["seed_per_user_s"] * 1000, r["streamrec_per_user_s"] * 1000]
    bars = ax1.barh(labels, values, color=["#b0b0b0", "#2a7ab0"])
    ax1.set_xscale("log")
    ax1.set_xlabel("ms per user (log scale)")
    ax1.set_title(f"per user: {r['ratio']:,.0f}x faster")
    for bar, value in zip(bars, values, strict=True):
        ax1.text(value, bar.get_y() + bar.get_height() / 2, f" {value:.3g} ms", va="center")
    parts = [("read", r["streamrec_read_s"]), ("score", r["streamrec_score_s"]),
             ("write", r["streamrec_write_s"])]
    left = 0.0
    for (name, seconds), color in zip(parts, ["#9ecae1", "#3182bd", "#08519c"], strict=True):
        ax2.barh(["streamrec\nall users"], [seconds], left=left, color=color, label=f"{name} {seconds:.2f} s")
        left += seconds
    ax2.axvline(5.0, color="red", linestyle="--", label="target 5 s")
    ax2.set_xlabel("seconds")
    ax2.set_title(f"{r['n_users']:,} users' top-{r['top_k']}: {r['streamrec_total_s']:.2f} s")
    ax2.legend(loc="lower right", fontsize=8)


def _rss(ax: Axes, series: list[list[float]], title: str) -> None:
    if series:
        ax.plot([p[0] for p in series], [p[1] / 2**20 for p in series], color="#6a51a3")
    ax.axhline(1024, color="red", linestyle="--", label="target 1 GiB")
    ax.set_xlabel("seconds")
    ax.set_ylabel("worker tree RSS (MiB)")
    ax.set_title(title)
    ax.legend(fontsize=8)


def _ingest(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2, ax4, ax3 = fig.subplots(1, 4)
    over_time = r.get("latency_over_time", [])
    ax4.scatter([p[0] for p in over_time], [p[1] for p in over_time], s=2, color="#2a7ab0")
    ax4.axhline(200, color="red", linestyle="--", label="200 ms")
    ax4.set_xlabel("seconds since the first send")
    ax4.set_ylabel("latency (ms)")
    ax4.set_title("latency over the run")
    ax4.legend(fontsize=8)
    progress = r.get("progress", [])
    ax1.plot([p[0] for p in progress], [p[1] for p in progress], color="#2a7ab0")
    ax1.set_xlabel("seconds since the worker started")
    ax1.set_ylabel("ratings visible in Postgres")
    ax1.set_title(f"backlog: {r['events_per_s']:,.0f} events/s")
    latencies = sorted(r.get("latencies_ms", []))
    if latencies:
        n = len(latencies)
        ax2.plot(latencies, [(i + 1) / n for i in range(n)], color="#2a7ab0")
        for key, style in (("p50", ":"), ("p95", "-."), ("p99", "--")):
            ax2.axvline(r["latency_ms"][key], linestyle=style, color="gray",
                        label=f"{key} {r['latency_ms'][key]:.0f} ms")
    ax2.axvline(200, color="red", linestyle="--", label="target p99 200 ms")
    ax2.set_xlabel("publish → did_rate visible (ms)")
    ax2.set_ylabel("fraction of events")
    ax2.set_title(f"at {r['latency_rate']:,} events/s")
    ax2.legend(fontsize=8)
    _rss(ax3, r.get("rss_series", []), f"peak {r['worker_peak_rss_bytes'] / 2**20:.0f} MiB")


def _retrain(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    left = 0.0
    colors = ["#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"]
    for (name, seconds), color in zip(r["phases_s"].items(), colors, strict=False):
        ax1.barh(["retrain"], [max(seconds, 0.0)], left=left, color=color, label=f"{name} {seconds:.1f} s")
        left += max(seconds, 0.0)
    limit = r["fit_s"] + 10.0
    ax1.axvline(limit, color="red", linestyle="--", label=f"target fit + 10 s = {limit:.1f} s")
    ax1.set_xlabel("seconds since the RetrainRequest")
    ax1.set_title(f"request → all {r['n_users']:,} users live: {r['total_s']:.1f} s")
    ax1.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.2), ncol=2)
    _rss(ax2, r.get("rss_series", []), f"peak {r['worker_peak_rss_bytes'] / 2**20:.0f} MiB")


def _quality(fig: Figure, r: dict[str, Any]) -> None:
    axes = fig.subplots(1, len(r["datasets"]), squeeze=False)[0]
    for ax, (name, figures) in zip(axes, r["datasets"].items(), strict=True):
        models = list(figures["models"])
        ndcg = [figures["models"][m]["ndcg"] for m in models]
        colours = ["#b0b0b0" if m == "popularity" else "#2a7ab0" if m.startswith("ranking") else "#8fb8d8"
                   for m in models]
        ax.barh(models, ndcg, color=colours)
        ax.invert_yaxis()
        ax.set_xlabel("NDCG@10 on the held-out split (higher is better)")
        ax.set_title(name, fontsize=9)


def _api(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    names = ["bare Starlette", "/api/suggestions/"]
    ax1.bar(names, [r["bare_rps"], r["api_rps"]], color=["#b0b0b0", "#2a7ab0"])
    ax1.set_ylabel("requests/s (closed loop)")
    ax1.set_title(f"ratio {r['ratio']:.2f}")
    ax2.bar(["p50", "p99"], [r["api_fixed_rate_ms"]["p50"], r["api_fixed_rate_ms"]["p99"]],
            color="#2a7ab0")
    ax2.axhline(10, color="red", linestyle="--", label="target p99 10 ms")
    ax2.set_ylabel(f"ms at {r['fixed_rate']:,} requests/s")
    ax2.legend(fontsize=8)


def _realtime(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    ax1.bar(["speed layer off", "speed layer on"], [r["events_per_s_off"], r["events_per_s_on"]],
            color=["#b0b0b0", "#2a7ab0"])
    ax1.axhline(10_000, color="red", linestyle="--", label="target 10,000/s")
    ax1.set_ylabel("ingest, events/s (backlog drain)")
    ax1.set_title(f"on / off: {r['on_off_ratio']:.2f}")
    ax1.legend(fontsize=8)
    latencies = r.get("latencies_ms", [])
    if latencies:
        ax2.plot(latencies, [i / len(latencies) for i in range(len(latencies))], color="#2a7ab0")
    ax2.axvline(100, color="red", linestyle="--", label="target p99 100 ms")
    ax2.set_xlabel(f"ms, publish → list re-ranked, at {r['latency_rate']:,}/s")
    ax2.set_ylabel("share of ratings")
    ax2.legend(fontsize=8)


def _mixed(fig: Figure, r: dict[str, Any]) -> None:
    axes = fig.subplots(3, 1, sharex=True)
    series = [("api_per_second", "p99_ms", f"API p99 ms\n{r['api_rate']}/s", 25.0),
              ("freshness_per_second", "p99_ms",
               f"freshness p99 ms\n{r['rating_rate']:,} ratings/s", 1000.0),
              ("lag_per_second", "lag", "consumer lag\nevents", 2000.0)]
    for ax, (key, field, label, target) in zip(axes, series, strict=True):
        points = [p for p in r.get(key, []) if p.get(field) is not None]
        ax.plot([p["t"] for p in points], [p[field] for p in points], color="#2a7ab0")
        if target is not None:
            ax.axhline(target, color="red", linestyle="--", linewidth=0.8)
            ax.set_yscale("log")
        ax.set_ylabel(label, fontsize=8)
        retrain = r.get("retrain", {})
        if retrain.get("requested_s") is not None and retrain.get("all_lists_s") is not None:
            # The retrain window: from the request until every list is of the new version.
            ax.axvspan(retrain["requested_s"], retrain["all_lists_s"], color="#f3d9a4", alpha=0.4)
        for moment, colour in (("requested_s", "grey"), ("activated_s", "green"), ("all_lists_s", "purple")):
            if retrain.get(moment) is not None:
                ax.axvline(retrain[moment], color=colour, linestyle=":", linewidth=1,
                           label=moment.removesuffix("_s").replace("_", " "))
    axes[0].legend(fontsize=7, title="retrain", title_fontsize=7)
    axes[-1].set_xlabel("seconds into the run")


def _scale(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    runs = sorted(r["sizes"].values(), key=lambda s: s["n_ratings"])
    n = [s["n_ratings"] for s in runs]
    for phase in runs[-1]["phases_s"]:
        seconds = [s["phases_s"].get(phase, float("nan")) for s in runs]
        ax1.plot(n, seconds, marker="o", label=phase)
    ax1.plot(n, [runs[0]["phases_s"]["svd fit"] * x / n[0] for x in n], color="gray", linestyle=":",
             label="linear (from svd fit)")
    ax1.set_title("seconds per phase")
    for part in runs[-1]["memory_gib"]:
        ax2.plot(n, [s["memory_gib"].get(part, float("nan")) for s in runs], marker="o", label=part)
    ax2.axhline(8.0, color="red", linestyle="--", label="target 8 GiB")
    ax2.set_title("peak memory (GiB)")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ratings")
        ax.legend(fontsize=6, loc="upper left")


def _store(fig: Figure, r: dict[str, Any]) -> None:
    ax = fig.subplots()
    ways = {"the trainer's file": r["trainer_file_s"], "stored in Postgres": r["store_s"],
            "loaded by a second host": r["second_host_load_s"],
            "from that host's cache": r["cached_load_s"]}
    width = 0.8 / len(ways)
    for i, (label, seconds) in enumerate(ways.items()):
        ax.bar(np.arange(len(seconds)) + i * width, seconds, width, label=label)
    rounds = len(r["store_s"])
    ax.set_xticks(np.arange(rounds) + width * (len(ways) - 1) / 2, [f"round {n + 1}" for n in range(rounds)])
    ax.set_ylabel("seconds")
    ax.set_title(f"a {r['size']} version of {r['artifact_bytes'] / 2**20:,.0f} MiB")
    ax.legend(fontsize=7)


def _spark(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    engines = r["engines"]
    names = list(engines)
    for i, part in enumerate(("seconds", "serving_svd_fit_s", "serving_ranking_fit_s")):
        ax1.bar(np.arange(len(names)) + i * 0.27, [engines[n][part] for n in names], 0.27,
                label={"seconds": "a version", "serving_svd_fit_s": "serving rating fit",
                       "serving_ranking_fit_s": "serving ranking fit"}[part])
    ax1.set_xticks(np.arange(len(names)) + 0.27, names)
    ax1.set_ylabel("seconds")
    ax1.legend(fontsize=7)
    for i, metric in enumerate(("rmse", "ndcg_at_10")):
        ax2.bar(np.arange(len(names)) + i * 0.4, [engines[n][metric] for n in names], 0.4,
                label=metric.replace("_at_", "@"))
    ax2.set_xticks(np.arange(len(names)) + 0.2, names)
    ax2.set_title("held-out figures on the same split")
    ax2.legend(fontsize=7)


def _online(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    ax1.bar(["impressions", "ratings (with attribution)"],
            [r["impressions_per_s"], r["ratings_attributed_per_s"]])
    ax1.axhline(500, linestyle=":", label="impressions target 500/s")
    ax1.axhline(1000, linestyle="--", label="ratings target 1,000/s")
    ax1.set_ylabel("stored per second")
    ax1.legend(fontsize=7)
    ax2.bar(["attributable ratings", "attributions stored"], [r["attributable"], r["attributions"]])
    ax2.set_title("ratings credited to an impression")


def _slowbody(fig: Figure, r: dict[str, Any]) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    points = ["p50", "p95", "p99"]
    width = 0.4
    for offset, (key, label) in enumerate((("readyz_before_ms", "before the flood"),
                                           ("readyz_ms", f"{r['sockets']:,} slow sockets"))):
        ax1.bar([i + offset * width for i in range(3)], [r[key][p] for p in points], width, label=label)
    ax1.set_xticks([i + width / 2 for i in range(3)], points)
    ax1.axhline(100, color="red", linestyle="--", label="target p99 100 ms")
    ax1.set_ylabel("/readyz ms")
    ax1.legend(fontsize=7)
    answers = r["flood_answers"]
    ax2.bar(list(answers), list(answers.values()), color="#6a51a3")
    ax2.set_title("what the flood's requests got")


def _notaken(fig: Figure, r: dict[str, Any]) -> None:
    ax = fig.subplots()
    phases = list(r["answered_503"])
    width = 0.27
    for offset, (key, label) in enumerate((("answered_503", "answered 503"),
                                           ("stored_after_503", "stored after Kafka returned"),
                                           ("stored_after_retries", "stored after 2 retries with the key"))):
        ax.bar([i + offset * width for i in range(len(phases))], [r[key][p] for p in phases], width,
               label=label)
    ax.set_xticks([i + width for i in range(len(phases))], [f"Kafka {p}" for p in phases])
    ax.set_ylabel("ratings")
    ax.legend(fontsize=7)


PLOTS: dict[str, Callable[[Figure, dict[str, Any]], None]] = {
    "predict": _predict, "ingest": _ingest, "retrain": _retrain, "quality": _quality, "api": _api,
    "realtime": _realtime, "mixed": _mixed, "online": _online, "scale": _scale, "store": _store,
    "spark": _spark, "slowbody": _slowbody, "notaken": _notaken,
}


def plot(name: str, result: dict[str, Any], path: Path) -> None:
    draw = PLOTS.get(name)
    if draw is None:
        return
    width = 19 if name == "ingest" else 11
    fig = plt.figure(figsize=(width, 4.2), layout="constrained")
    try:
        draw(fig, result)
        fig.suptitle(f"streamrec {name} ({result.get('scale', '')}, {result['machine']['cores']} cores)")
        fig.savefig(path, dpi=80)
    finally:
        plt.close(fig)
