#!/usr/bin/env python3
"""Plots of a scripts/bench.py run, as PNG files in its results directory (bench.py draws them
itself; this redraws them): python scripts/plots.py RESULTS_DIR

  failover.png   each request of a client asking every 10 ms around a failure of the director
                 carrying the VIP (0 s), its latency, or an x where it failed; a panel per kind
  rates.png      requests per second with wrk (a new connection per request and keep-alive)
                 against nginx and against the web app, and bulk throughput, per variant
  load.png       requests per second each real server answered while web1's weight changes and
                 web2 crashes and returns (this project, NAT)
"""
import json
import os
import sys

from core.rules import is_number

FAILURES = ("crash", "link", "hang")
TIMEOUT_MS = 1000


def draw(results, out):
    """Write the plots into `out`; their paths. ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = [failover_timeline(results, out, plt), request_rates(results, out, plt)]
    if results.get("load"):
        written.append(load_per_server(results["load"], out, plt))
    return written


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


RATE_PANELS = (
    ("requests/s, nginx (static file)", (("static_close_rps", "new connection per request"),
                                         ("static_keepalive_rps", "keep-alive"))),
    ("requests/s, the project's web app", (("app_close_rps", "new connection per request"),
                                           ("app_keepalive_rps", "keep-alive"))),
    ("Mbit/s, bulk download from nginx", (("bulk_1_mbps", "1 connection"), ("bulk_4_mbps", "4 connections"))),
)


def number(value):
    return value if is_number(value) else 0


def request_rates(results, out, plt):
    """Bars per variant: wrk's request rates against nginx and against the app, and bulk throughput."""
    rows = [r for r in results["rows"] if any(k in r for _, keys in RATE_PANELS for k, _ in keys)]
    names = [r["variant"] for r in rows]
    fig, axes = plt.subplots(1, len(RATE_PANELS), figsize=(16, 4.2))
    width = 0.4
    for ax, (title, keys) in zip(axes, RATE_PANELS):
        for offset, (key, label) in enumerate(keys):
            ax.bar([i + offset * width for i in range(len(rows))], [number(r.get(key)) for r in rows], width,
                   label=label)
        ax.set_xticks([i + width / 2 for i in range(len(rows))], names, rotation=30, ha="right")
        ax.set_title(title)
        ax.legend(frameon=False, fontsize="small")
    return save(fig, out, "rates.png", plt)


LOAD_BIN = 0.5      # s


def load_per_server(load, out, plt):
    """Requests per second each real server answered, in LOAD_BIN bins, with the steps marked."""
    servers = sorted({server for _, server in load["requests"] if server})
    end = max((t for t, _ in load["requests"]), default=0)
    bins = int(end / LOAD_BIN) + 1
    fig, ax = plt.subplots(figsize=(10, 4))
    for server in servers + [None]:
        counts = [0] * bins
        for t, answered_by in load["requests"]:
            if answered_by == server and t >= 0:
                counts[int(t / LOAD_BIN)] += 1
        ax.plot([i * LOAD_BIN for i in range(bins)], [c / LOAD_BIN for c in counts],
                label=server or "failed", linestyle="-" if server else ":")
    for at, label in load["steps"]:
        ax.axvline(at, color="grey", linestyle="--", linewidth=1)
        ax.annotate(label, (at, 1), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                    fontsize="small")
    ax.set_xlabel("seconds")
    ax.set_ylabel("requests answered per second")
    ax.legend(frameon=False)
    return save(fig, out, "load.png", plt)


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
