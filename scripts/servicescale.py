#!/usr/bin/env python3
"""What virtual services cost a cluster, for 1, 16 and 128 of them.

For 1, 16 and 128 services of 4 real servers each (DR, one VIP
per service from 10.0.0.100 on, TCP 80, nginx on the web hosts), the cluster's start-up time,
the flows and groups on a proxy, the time to reconcile a reconnecting proxy (its tables kept: the
controller reads them back; emptied, as after a reboot: everything installed again), the
controller's resident memory, and new connections per second on the first service (wrk, a new
connection per request, from c1).

    sudo .venv/bin/python scripts/servicescale.py [--counts 1,16,128] [--seconds 5] [--out DIR]

Prints a Markdown table and writes services.csv into the output directory (default
runs/services-<time>). All traffic stays inside the emulated network; wrk is bounded in time.
"""
import csv
import os
import re
import subprocess
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench import cpu_seconds, flow_count, rss_mb, switch_cost, switch_work, wrk, wrk_figures  # noqa: E402
from core.flags import OneLineParser  # noqa: E402
from core.paths import ROOT  # noqa: E402
from topologies.runstate import sh, wait_until  # noqa: E402
from topologies.staticweb import NGINX  # noqa: E402

WEBS = 4
FIRST_VIP = 100        # 10.0.0.100
MAX_COUNT = 128        # VIPs from .100 up stay inside the public /24
REPEATS = 3            # wrk runs per point: the median is reported (one run varies by 10-20% here)
FIGURES = ("services", "startup_s", "proxy_flows", "proxy_groups", "readback_s", "reinstall_s",
           "controller_rss_mb", "close_rps", "close_p50", "close_p99", "close_p999", "controller_cpu_pct",
           "close_upcalls_per_conn", "close_xlate_per_conn", "close_dp_flows", "subtable_lookups_per_hit")


def rules(count):
    """`count` DR services, one VIP each, every one on the four web hosts."""
    lines = []
    for i in range(count):
        vip = "10.0.0.%d" % (FIRST_VIP + i)
        lines.append("-A -t %s:80 -s mh" % vip)
        lines += ["-a -t %s:80 -r 10.0.1.%d:80 -g -w 1" % (vip, 11 + w) for w in range(WEBS)]
    return lines


def group_count(switch):
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-groups", switch], capture_output=True,
                         text=True).stdout
    return out.count("group_id=")


def in_sync(cluster, proxy):
    status = cluster.rest("GET", "/lb/status")
    ready = next(s["ready"] for s in status["switches"] if s["name"] == proxy)
    return ready and status["flows_in_sync"]


def reconnect(cluster, proxy, empty):
    """Seconds from a standby proxy's reconnection to the controller's confirming its flows."""
    sh("ovs-vsctl", "--timeout=5", "del-controller", proxy)
    wait_until("%s to be seen disconnected" % proxy, lambda: not in_sync(cluster, proxy), timeout=30)
    if empty:
        for table in ("flows", "groups"):
            sh("ovs-ofctl", "-O", "OpenFlow13", "del-" + table, proxy)
    started = time.monotonic()
    sh("ovs-vsctl", "--timeout=5", "set-controller", proxy,
       *("%s:%s:%d" % (c.protocol, c.IP(), c.port) for c in cluster.net.controllers))
    wait_until("%s's flows to be confirmed" % proxy, lambda: in_sync(cluster, proxy), timeout=120, interval=0.02)
    return round(time.monotonic() - started, 2)


def point(count, seconds):
    from topologies.cluster import Cluster
    started = time.monotonic()
    with Cluster(mode="dr", clients=2, webs=WEBS, web_server=NGINX, services=rules(count)) as cluster:
        row = {"services": count, "startup_s": round(time.monotonic() - started, 1)}
        standby = cluster.description.proxies[1]
        row["proxy_flows"], row["proxy_groups"] = flow_count(standby), group_count(standby)
        row["readback_s"] = reconnect(cluster, standby, empty=False)
        row["reinstall_s"] = reconnect(cluster, standby, empty=True)
        row["controller_rss_mb"] = rss_mb(cluster.controller.pid)
        runs = sorted((new_connections(cluster, seconds) for _ in range(REPEATS)), key=lambda r: r["close_rps"])
        row.update(runs[len(runs) // 2])
    return row


def new_connections(cluster, seconds):
    """One wrk run on the first service: its figures, the controller's CPU meanwhile, Open
    vSwitch's work per connection and the datapath classifier's subtable lookups per hit."""
    pid = cluster.controller.pid
    sh("ovs-appctl", "dpif-netdev/pmd-stats-clear")
    work, cpu, started = switch_work(), cpu_seconds(pid), time.monotonic()
    report = wrk(cluster, "http://10.0.0.%d/" % FIRST_VIP, seconds, close=True)
    figures = dict(wrk_figures("close_", report),
                   controller_cpu_pct=round(100 * (cpu_seconds(pid) - cpu) / (time.monotonic() - started), 1))
    figures.update(switch_cost("close_", work, switch_work(), report["requests"]))
    stats = subprocess.run(["ovs-appctl", "dpif-netdev/pmd-stats-show"], capture_output=True, text=True).stdout
    lookups = re.findall(r"avg\. subtable lookups per megaflow hit: ([\d.]+)", stats)
    figures["subtable_lookups_per_hit"] = max(map(float, lookups)) if lookups else None
    return figures


def main(argv=None):
    parser = OneLineParser(prog="servicescale.py", description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1,16,128", help="service counts, 1 to %d each" % MAX_COUNT)
    parser.add_argument("--seconds", type=int, default=5, help="wrk's run on the first service, 1 to 60")
    parser.add_argument("--out", help="results directory (default runs/services-<time>)")
    args = parser.parse_args(argv)
    try:
        counts = [int(c) for c in args.counts.split(",")]
    except ValueError:
        parser.fail("--counts must be integers separated by commas, got %r" % args.counts)
    if not all(1 <= c <= MAX_COUNT for c in counts) or not 1 <= args.seconds <= 60:
        parser.fail("--counts must each be from 1 to %d and --seconds from 1 to 60" % MAX_COUNT)
    out = args.out or os.path.join(ROOT, "runs", "services-" + datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    rows = [point(count, args.seconds) for count in counts]
    with open(os.path.join(out, "services.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, FIGURES)
        writer.writeheader()
        writer.writerows(rows)
    print("| " + " | ".join(FIGURES) + " |\n|" + "---|" * len(FIGURES))
    for row in rows:
        print("| " + " | ".join(str(row[f]) for f in FIGURES) + " |")
    print("results in %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
