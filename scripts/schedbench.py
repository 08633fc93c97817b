#!/usr/bin/env python3
"""What the schedulers do with unequal real servers, and what persistence costs.

One DR cluster, two web hosts running the web app, four services on their own VIPs: mh, wlc and rr
(each over both hosts) and mh with persistence (-p 300). web2 is the slow real server: every
request to /slow?on=web2&ms=DELAY waits DELAY ms there and none on web1.
  - latency: an open-loop client (apps/openloop.py: requests at a fixed rate on new connections,
    latency from when each was due) on each scheduler's VIP in turn, REPEATS rounds interleaved;
    the median round's (by p90) mean, p50, p90 and p99 per scheduler.
  - persistence: wrk (2 threads, 32 connections, a new connection per request, from c1) on the
    persistent and the plain mh service in turn: new connections per second of a known client.
  - new clients: all 64 clients at once make their first connection (curl), on plain mh and on
    mh with persistence (-p 3, so that the entries are gone again before the next round): the
    time for all 64 (new clients per second) and each first connection's connect time.

    sudo .venv/bin/python scripts/schedbench.py [--delay-ms 100] [--rate 100] [--seconds 5] [--out DIR]

Prints a Markdown table and writes schedulers.csv (default runs/schedulers-<time>). All traffic
stays inside the emulated network; every client is bounded in count and time.
"""
import csv
import json
import os
import subprocess
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench import wrk, wrk_figures  # noqa: E402
from core.flags import OneLineParser  # noqa: E402
from core.paths import ROOT  # noqa: E402

SERVICES = {"mh": "10.0.0.100", "wlc": "10.0.0.101", "rr": "10.0.0.102", "mh -p 300": "10.0.0.103",
            "mh -p 3": "10.0.0.104"}
LATENCY = ("mh", "wlc", "rr")
REPEATS = 3
CLIENTS = 64            # MAX_CLIENTS: as many client addresses as the cluster has
FORGET = 5              # s between new-client rounds: longer than -p 3, so every client is new again


def rules():
    lines = []
    for scheduler, vip in SERVICES.items():
        lines.append("-A -t %s:80 -s %s" % (vip, scheduler))
        lines += ["-a -t %s:80 -r 10.0.1.%d:80 -g -w 1" % (vip, 11 + w) for w in range(2)]
    return lines


def open_loop(cluster, vip, delay_ms, rate, seconds):
    url = "http://%s/slow?on=web2&ms=%d" % (vip, delay_ms)
    run = cluster.app("c1", "apps.openloop", "--url", url, "--rate", rate, "--seconds", seconds, "--timeout", 2)
    return json.loads(run.communicate(timeout=seconds + 30)[0])


def new_clients(cluster, vip):
    """Every client's first connection to `vip`, all at once: (clients per second, connect times in
    ms sorted, failures)."""
    clients = [c.name for c in cluster.description.hosts_with_role("client")]
    started = time.monotonic()
    runs = [cluster.host(c).popen(["curl", "-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code} %{time_connect}",
                                   "http://%s/" % vip], stdout=subprocess.PIPE, text=True) for c in clients]
    answers = [run.communicate(timeout=30)[0].split() for run in runs]
    elapsed = time.monotonic() - started
    good = sorted(float(a[1]) * 1000 for a in answers if len(a) == 2 and a[0] == "200")
    return round(len(clients) / elapsed), good, len(clients) - len(good)


def median(rows, key):
    ordered = sorted(rows, key=lambda r: r[key])
    return ordered[len(ordered) // 2]


def measure(delay_ms, rate, seconds):
    from topologies.cluster import Cluster
    found = []
    with Cluster(mode="dr", clients=CLIENTS, webs=2, services=rules()) as cluster:
        rounds = {s: [] for s in LATENCY}
        for _ in range(REPEATS):
            for scheduler in LATENCY:
                rounds[scheduler].append(open_loop(cluster, SERVICES[scheduler], delay_ms, rate, seconds))
        for scheduler in LATENCY:
            report = median(rounds[scheduler], "p90")
            found.append({"measure": "latency", "service": scheduler, "mean_ms": report["mean"],
                          "p50_ms": report["p50"], "p90_ms": report["p90"], "p99_ms": report["p99"],
                          "errors": sum(r["errors"] for r in rounds[scheduler]), "close_rps": None})
        runs = {s: [] for s in ("mh", "mh -p 300")}
        for _ in range(REPEATS):
            for scheduler in runs:
                report = wrk(cluster, "http://%s/" % SERVICES[scheduler], seconds, close=True)
                runs[scheduler].append(wrk_figures("close_", report))
        for scheduler, figures in runs.items():
            row = median(figures, "close_rps")
            found.append({"measure": "new connections", "service": scheduler, "mean_ms": None,
                          "p50_ms": row["close_p50"], "p90_ms": None, "p99_ms": row["close_p99"], "errors": None,
                          "close_rps": row["close_rps"]})
        found += measure_new_clients(cluster)
    return found


def measure_new_clients(cluster):
    rounds = {s: [] for s in ("mh", "mh -p 3")}
    for _ in range(REPEATS):
        time.sleep(FORGET)
        for scheduler in rounds:
            rounds[scheduler].append(new_clients(cluster, SERVICES[scheduler]))
    rows = []
    for scheduler, results in rounds.items():
        rate, connects, _ = sorted(results)[len(results) // 2]
        connects = connects or [float("nan")]   # every first connection failed: the errors say so
        rows.append({"measure": "new clients", "service": scheduler, "mean_ms": round(sum(connects) / len(connects), 1),
                     "p50_ms": round(connects[len(connects) // 2], 1), "p90_ms": None,
                     "p99_ms": round(connects[-1], 1), "errors": sum(r[2] for r in results), "close_rps": rate})
    return rows


def main(argv=None):
    parser = OneLineParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay-ms", type=int, default=100, help="the slow real server's delay, 0 to 2000")
    parser.add_argument("--rate", type=int, default=100, help="open-loop requests per second, 1 to 1000")
    parser.add_argument("--seconds", type=int, default=5, help="each run's length, 1 to 60")
    parser.add_argument("--out", help="results directory (default runs/schedulers-<time>)")
    args = parser.parse_args(argv)
    for name, value, low, high in (("--delay-ms", args.delay_ms, 0, 2000), ("--rate", args.rate, 1, 1000),
                                   ("--seconds", args.seconds, 1, 60)):
        if not low <= value <= high:
            parser.error("%s must be from %d to %d, got %d" % (name, low, high, value))
    if os.geteuid() != 0:
        parser.error("it runs the emulated cluster: run it as root (sudo)")
    out = args.out or os.path.join(ROOT, "runs", "schedulers-" + datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    rows = measure(args.delay_ms, args.rate, args.seconds)
    with open(os.path.join(out, "schedulers.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("| measure | service | mean ms | p50 ms | p90 ms | p99 ms (new clients: max) | errors | per second |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s |" % " | ".join("-" if v is None else str(v) for v in r.values()))
    print("\nwritten: %s" % os.path.join(out, "schedulers.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
