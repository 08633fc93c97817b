#!/usr/bin/env python3
"""Plots of a scripts/bench.py run, as PNG files in its results directory (bench.py draws them
itself; this redraws them): python scripts/plots.py RESULTS_DIR

  failover.png   each request of a client asking every 10 ms around a failure of the director
                 carrying the VIP (0 s), its latency, or an x where it failed; a panel per kind
  rates.png      requests per second with wrk, a new connection per request and keep-alive
"""
import json
import os
import sys

FAILURES = ("crash", "link", "hang")
TIMEOUT_MS = 1000


def draw(results, out):
    """Write the plots into `out`; their paths. ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return [failover_timeline(results, out, plt), request_rates(results, out, plt)]


def failover_timeline(results, out, plt):
    fig, axes = plt.subplots(1, len(FAILURES), figsize=(15, 4.5), sharey=True)
    colours = {}
    for ax, kind in zip(axes, FAILURES):
        for variant, timelines in results.get("timelines", {}).items():
            points = timelines.get(kind)
            if not points:
                continue
            colour = colours.setdefault(variant, "C%d" % len(colours))
            served = [(t, latency * 1000) for t, latency in points if latency is not None]
            failed = [t for t, latency in points if latency is None]
            ax.plot([t for t, _ in served], [ms for _, ms in served], ".", ms=3, color=colour, label=variant)
            ax.plot(failed, [TIMEOUT_MS] * len(failed), "x", ms=7, color=colour)
        ax.axvline(0, color="red", linestyle="--", linewidth=1)
        ax.set_title("director %s at 0 s" % kind)
        ax.set_xlabel("seconds from the failure")
        ax.set_yscale("log")
    axes[0].set_ylabel("request latency, ms (x: failed, %d ms timeout)" % TIMEOUT_MS)
    handles, labels = axes[0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
    return save(fig, out, "failover.png", plt)


def request_rates(results, out, plt):
    rows = [r for r in results["rows"] if isinstance(r.get("wrk_close_rps"), (int, float))]
    names = [r["variant"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.4
    for offset, (key, label) in enumerate((("wrk_close_rps", "new connection per request"),
                                           ("wrk_keepalive_rps", "keep-alive"))):
        values = [r[key] if isinstance(r.get(key), (int, float)) else 0 for r in rows]
        ax.bar([i + offset * width for i in range(len(rows))], values, width, label=label)
    ax.set_xticks([i + width / 2 for i in range(len(rows))], names)
    ax.set_ylabel("requests per second (wrk, 32 connections)")
    ax.legend(frameon=False)
    return save(fig, out, "rates.png", plt)


def save(fig, out, name, plt):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv):
    if len(argv) != 1 or not os.path.isfile(os.path.join(argv[0], "results.json")):
        sys.stderr.write("plots.py: error: give one bench.py results directory (it holds results.json)\n")
        return 2
    with open(os.path.join(argv[0], "results.json")) as f:
        print("\n".join(draw(json.load(f), argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
