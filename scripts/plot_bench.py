#!/usr/bin/env python3
"""Plots of a scripts/bench.sh run: reads OUT/results.json and writes, into OUT,
throughput.png (ops/s of every closed-loop `dynamo bench` run, per store, target and
workload) and latency-w.png / latency-c.png (the latency CDFs of workload W and C,
one line per store and target; W's open-loop runs at half the peak dashed).

Usage: scripts/plot_bench.py [OUT]   (OUT defaults to docs/bench)

Matplotlib from Debian (python3-matplotlib, which bench.sh installs): the plots are a
documentation step of the benchmark script, so the dynamo binary gains no plotting
dependency for them.
"""
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter  # noqa: E402

# One colour per store, kept across the three figures; on the CDFs one line style per
# target (RESP dotted), and open-loop runs dashed.
COLOURS = {"redis": "#d62728", "etcd": "#1f77b4", "dynamo-1": "#2ca02c",
           "dynamo-3d": "#ff7f0e", "dynamo-3b": "#9467bd"}
STYLES = {"resp": ":", "dynamo-http": "-", "etcd": "-"}
# A CDF's x axis in "nines": 90% sits at 1, 99% at 2, 99.9% at 3 (HdrHistogram's plot).
NINES_MAX = 5.0


def label(report):
    return f"{report['store']} {report['target']}"


def colour(report):
    return COLOURS.get(report["store"], "#7f7f7f")


def throughput(reports, path):
    closed = [r for r in reports if r["rate_target"] is None]
    workloads = sorted({r["workload"] for r in closed}, key="wcab".index)
    fig, axes = plt.subplots(1, len(workloads), figsize=(6 * len(workloads), 4.5), squeeze=False)
    for axis, workload in zip(axes[0], workloads):
        runs = [r for r in closed if r["workload"] == workload]
        axis.bar(range(len(runs)), [r["throughput"] for r in runs], color=[colour(r) for r in runs])
        for i, r in enumerate(runs):
            axis.text(i, r["throughput"], f"{r['throughput']:.0f}", ha="center", va="bottom", fontsize=8)
        axis.set_xticks(range(len(runs)), [label(r) for r in runs], rotation=40, ha="right", fontsize=8)
        # Log scale: redis and etcd are orders of magnitude apart.
        axis.set_yscale("log")
        axis.set_ylabel("ops/s (log)")
        axis.set_title(f"workload {workload.upper()} ({'writes' if workload == 'w' else 'reads'})")
        axis.grid(axis="y", which="both", alpha=0.3)
    fig.suptitle("dynamo bench, closed loop: throughput")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def nines(percentile):
    return min(-math.log10(max(1.0 - percentile / 100.0, 10 ** -NINES_MAX)), NINES_MAX)


def latency(reports, workload, path):
    runs = [r for r in reports if r["workload"] == workload and (r.get("latency") or {}).get("cdf")]
    fig, axis = plt.subplots(figsize=(10, 5))
    for r in runs:
        points = r["latency"]["cdf"]
        name = label(r)
        style = STYLES.get(r["target"], "-")
        if r["rate_target"] is not None:
            name += f", open loop at {r['rate_target']:.0f} ops/s"
            style = "--"
        axis.plot([nines(p) for p, _ in points], [us / 1000 for _, us in points], style,
                  color=colour(r), label=name, linewidth=1.6)
    ticks = [0, 1, 2, 3, 4, 5]
    axis.xaxis.set_major_locator(FixedLocator(ticks))
    names = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: names[int(round(x))]))
    axis.set_xlim(0, NINES_MAX)
    axis.set_yscale("log")
    axis.set_xlabel("percentile")
    axis.set_ylabel("latency, ms (log)")
    axis.set_title(f"dynamo bench, workload {workload.upper()}: latency distribution")
    axis.grid(which="both", alpha=0.3)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "docs/bench"
    with open(f"{out}/results.json") as file:
        reports = json.load(file)["dynamo_bench"]
    throughput(reports, f"{out}/throughput.png")
    for workload in ("w", "c"):
        latency(reports, workload, f"{out}/latency-{workload}.png")
    print(f"plots in {out}: throughput.png latency-w.png latency-c.png")


if __name__ == "__main__":
    main()
