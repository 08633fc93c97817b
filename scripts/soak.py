#!/usr/bin/env python3
"""Soaks: a quiet one (nothing failed on purpose) and a chaos one (scripts/chaos.py).

A quiet soak: the cluster left idle, then under load, with nothing failed on purpose. Every
failover, real server taken out, BFD session lost, extra health check and failed background
round is counted; on a machine that is merely busy, a failover or a removal is a false alarm.

    sudo .venv/bin/python scripts/soak.py [--mode nat] [--idle-minutes 10] [--load-minutes 10] [--out DIR]

A chaos soak (scripts/chaos.py): 4 clients' conversations while a seeded random schedule fails
and recovers a web host, a DB member, the active proxy and the controller; writes soak.json and
chaos.png, prints a table; exit 0 if no turn was lost or duplicated, under 1% of requests failed,
the controller's memory held and the switches' flows came back.

    sudo .venv/bin/python scripts/soak.py --minutes 5 [--seed 1] [--mode nat] [--out DIR]

Through the whole soak c3 asks the VIP every 100 ms (1 s timeout). Under load, c1 and c2 each run
wrk in rounds of at most 60 s (16 connections, a new connection per request) against nginx on
the web hosts (the web app if nginx is missing). Prints a table per phase and writes soak.json
into the output directory (default runs/soak-<time>); exit 0 if nothing failed over and no real
server was taken out, else 1.
"""
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime

from core.addressing import MODES
from core.flags import OneLineParser
from core.paths import ROOT
from topologies.runstate import ClusterError
from topologies.staticweb import APP, NGINX

MONITOR_INTERVAL = 0.1       # s between c3's requests
WRK_ROUND = 60               # s, the longest wrk run
# What each counted event means here; the first two are false alarms in a soak.
COUNTED = (("proxy-failover", "failovers"), ("real-server-down", "removals"), ("bfd-down", "BFD sessions lost"),
           ("real-server-suspect", "extra checks"), ("loop-round-failed", "failed rounds"))
FALSE_ALARMS = ("proxy-failover", "real-server-down")


def parse_args(argv):
    parser = OneLineParser(prog="soak.py", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", default="nat", help="forwarding method: %s (default nat)" % ", ".join(MODES))
    parser.add_argument("--idle-minutes", type=float, help="quiet soak: minutes idle (default 10)")
    parser.add_argument("--load-minutes", type=float, help="quiet soak: minutes under load (default 10)")
    parser.add_argument("--minutes", type=float, help="a chaos soak of this many minutes (1 to 1440)")
    parser.add_argument("--seed", type=int, default=1, help="the chaos soak's schedule (default 1)")
    parser.add_argument("--out", help="output directory (default runs/soak-<time>)")
    args = parser.parse_args(argv)
    if args.mode not in MODES:
        parser.fail("unknown mode %r: choose one of %s" % (args.mode, ", ".join(MODES)))
    if args.minutes is not None:
        if args.idle_minutes is not None or args.load_minutes is not None:
            parser.fail("--minutes (a chaos soak) and --idle-minutes/--load-minutes (a quiet soak): give one kind")
        if not 1 <= args.minutes <= 24 * 60:
            parser.fail("--minutes must be from 1 to 1440, got %g" % args.minutes)
    args.idle_minutes = 10 if args.idle_minutes is None else args.idle_minutes
    args.load_minutes = 10 if args.load_minutes is None else args.load_minutes
    for flag, minutes in (("--idle-minutes", args.idle_minutes), ("--load-minutes", args.load_minutes)):
        if not 0 <= minutes <= 24 * 60:
            parser.fail("%s must be from 0 to 1440 minutes, got %g" % (flag, minutes))
    if args.idle_minutes + args.load_minutes <= 0:
        parser.fail("nothing to soak: --idle-minutes and --load-minutes are both 0")
    if os.geteuid() != 0:
        parser.fail("needs root (Mininet): run it with sudo")
    return args


def monitor(cluster, minutes):
    """c3 asking the VIP every MONITOR_INTERVAL s for about `minutes` (a Popen)."""
    count = max(1, int(minutes * 60 / MONITOR_INTERVAL))
    return cluster.app("c3", "apps.loadclient", "--url", "http://%s/" % cluster.vip, "--connections", count,
                       "--interval", MONITOR_INTERVAL, "--timeout", 1)


def load(cluster, seconds):
    """wrk from c1 and c2 for `seconds`, in rounds of at most WRK_ROUND s: requests served."""
    served, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        round_seconds = max(1, min(WRK_ROUND, int(deadline - time.monotonic())))
        command = shlex.join(["wrk", "-t1", "-c16", "-d%ds" % round_seconds, "--timeout", "2s",
                              "-H", "Connection: close", "http://%s/" % cluster.vip])
        runs = [cluster.host(c).popen(["sh", "-c", command], stdout=subprocess.PIPE, text=True) for c in ("c1", "c2")]
        for run in runs:
            out = run.communicate(timeout=round_seconds + 30)[0]
            served += sum(int(line.split()[0]) for line in out.splitlines() if "requests in" in line)
    return served


def events_between(cluster, start, end):
    """Counts of the counted event actions logged from `start` to `end` (Unix times)."""
    counts = Counter(event["event.action"] for event in cluster.controller_events(start, end))
    return {action: counts[action] for action, _ in COUNTED}


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        return round(next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024, 1)


def phase(cluster, name, minutes, loaded):
    started = time.time()
    watcher = monitor(cluster, minutes)
    served = load(cluster, minutes * 60) if loaded else 0
    watched = json.loads(watcher.communicate(timeout=minutes * 60 * 2 + 120)[0])
    time.sleep(1)                    # events of the last moment are written
    return {"phase": name, "minutes": minutes, "events": events_between(cluster, started, time.time()),
            "monitor_requests": watched["connections"], "monitor_failed": watched["errors"],
            "monitor_max_gap_ms": round(watched["max_gap"] * 1000), "load_requests": served,
            "controller_rss_mb": rss_mb(cluster.controller.pid)}


def table(phases):
    header = ["phase", "minutes"] + [label for _, label in COUNTED] + [
        "c3's requests", "failed", "longest gap (ms)", "wrk requests", "controller RSS (MB)"]
    rows = [[p["phase"], "%g" % p["minutes"]] + [str(p["events"][action]) for action, _ in COUNTED]
            + [str(p[k]) for k in ("monitor_requests", "monitor_failed", "monitor_max_gap_ms", "load_requests",
                                   "controller_rss_mb")] for p in phases]
    return "\n".join("| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header)] + rows)


def chaos_soak(args, out):
    import chaos
    from topologies.cluster import Cluster
    try:
        with Cluster(mode=args.mode, clients=4, webs=2, run_dir=os.path.join(out, "run")) as cluster:
            result = chaos.run(cluster, args.minutes, args.seed, out)
    except ClusterError as e:
        OneLineParser(prog="soak.py").fail(str(e))
    broken = chaos.verdict(result)
    result["verdict"] = broken
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump(result, f, indent=1)
    chaos.plot(result, os.path.join(out, "chaos.png"))
    print(chaos.table(result))
    print("\n%s; results in %s" % ("every promise kept" if not broken else "broken: " + "; ".join(broken), out))
    return 0 if not broken else 1


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from topologies.cluster import Cluster, missing_tools
    out = os.path.abspath(args.out or os.path.join(ROOT, "runs", "soak-" + datetime.now().strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)
    if args.minutes is not None:
        return chaos_soak(args, out)
    web_server = APP if "nginx" in missing_tools(web_server=NGINX) else NGINX
    phases = []
    try:
        with Cluster(mode=args.mode, clients=4, webs=2, web_server=web_server,
                     run_dir=os.path.join(out, "run")) as cluster:
            for name, minutes, loaded in (("idle", args.idle_minutes, False), ("load", args.load_minutes, True)):
                if minutes:
                    phases.append(phase(cluster, name, minutes, loaded))
    except ClusterError as e:
        OneLineParser(prog="soak.py").fail(str(e))
    result = {"mode": args.mode, "web_server": web_server, "phases": phases}
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(table(phases))
    alarms = sum(p["events"][action] for p in phases for action in FALSE_ALARMS)
    print("\n%s; results in %s" % ("no false alarm" if not alarms else "%d false alarms" % alarms, out))
    return 0 if not alarms else 1


if __name__ == "__main__":
    sys.exit(main())
