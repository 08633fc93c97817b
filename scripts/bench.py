#!/usr/bin/env python3
"""Side-by-side benchmark: this project's directors (NAT, DR, TUN) against the peer an operator
would build instead (keepalived + HAProxy on two hosts in the proxies' place) and against the
baseline (the same client reaching one real server straight through r0, no load balancer), each
in the same emulated network, one after another on this machine.

    sudo .venv/bin/python scripts/bench.py [--quick] [--out DIR] [--variants sdn-nat,peer,...]

Prints a Markdown table; writes results.csv and results.json (with the machine and the git
commit) into the output directory. A figure that cannot be measured (a tool missing, or a figure
that does not apply, such as packet-ins for the peer) is written as "skipped: why".

Figures (latency in ms):
  wrk_close_rps, wrk_close_p50/p99/p999   wrk, a new connection per request (Connection: close)
  wrk_keepalive_rps, wrk_keepalive_p99    wrk, keep-alive
  packet_in_per_1000                      controller packet-ins per 1,000 new connections
  gap_crash/link/hang_ms                  the active director fails; the longest time without an
                                          answer for a client asking every 10 ms (1 s timeout)
  broken_crash/link/hang                  a download in flight when it failed broke (1) or not (0)
  maglev_moved_pct, maglev_balance_pct    Maglev alone (no emulation): share of connections that
                                          move when one of 4 real servers is removed; largest
                                          deviation from an even share over 10,000 connections
All traffic stays inside the emulated network; every generator is bounded in count and time.
"""
import csv
import json
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tqdm import tqdm  # noqa: E402

from controller.maglev import TABLE_SIZE, lookup_table  # noqa: E402
from topologies.description import HAPROXY  # noqa: E402
from topologies.flags import OneLineParser  # noqa: E402
from topologies.peer import PeerSettings  # noqa: E402
from topologies.runstate import ClusterError  # noqa: E402

import plots  # noqa: E402  (beside this script)
# name -> (Cluster keyword arguments, what the client asks: the VIP or web1 straight)
VARIANTS = {
    "baseline": (dict(mode="dr"), "web1"),
    "sdn-nat": (dict(mode="nat"), "vip"),
    "sdn-dr": (dict(mode="dr"), "vip"),
    "sdn-tun": (dict(mode="tun"), "vip"),
    "peer": (dict(director=HAPROXY, peer=PeerSettings(advert_int=0.1)), "vip"),
    "peer-default": (dict(director=HAPROXY, peer=PeerSettings()), "vip"),
}
FAILURES = ("crash", "link", "hang")
WRK_SCRIPT = os.path.join(ROOT, "scripts", "wrk-report.lua")


class Skipped(Exception):
    """A figure that cannot be measured here; the message says why."""


def skipped(why):
    return "skipped: %s" % why


def machine():
    ovs = subprocess.run(["ovs-vsctl", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"cores": os.cpu_count(), "kernel": platform.release(), "ovs": ovs, "commit": commit,
            "datapath": "userspace (netdev)" if not os.path.isdir("/sys/module/openvswitch") else "kernel",
            "python": platform.python_version(), "date": datetime.now().isoformat(timespec="seconds")}


def require(tool):
    if not shutil.which(tool):
        raise Skipped("%s is not installed (scripts/install.sh installs it)" % tool)


def wrk(cluster, url, seconds, close):
    """(requests/s, p50, p99, p99.9 in ms) from wrk on c1: 2 threads, 32 connections."""
    require("wrk")
    command = ["wrk", "-t2", "-c32", "-d%ds" % seconds, "--timeout", "2s", "-s", WRK_SCRIPT]
    if close:
        command += ["-H", "Connection: close"]
    out = cluster.host("c1").cmd(shlex.join(command + [url])).replace("\r", "")
    found = re.search(r"^REPORT (\{.*\})$", out, re.M)
    if not found:
        raise Skipped("wrk gave no report: %s" % out.strip()[-200:])
    return json.loads(found.group(1))


def http_figures(cluster, url, seconds):
    figures = {}
    for name, close in (("close", True), ("keepalive", False)):
        try:
            report = wrk(cluster, url, seconds, close)
        except Skipped as e:
            figures.update({"wrk_%s_%s" % (name, k): skipped(e) for k in ("rps", "p50", "p99", "p999")})
            continue
        figures["wrk_%s_rps" % name] = round(report["rps"])
        for key in ("p50", "p99", "p999"):
            figures["wrk_%s_%s" % (name, key)] = round(report[key] / 1000, 2)
        time.sleep(1)          # TIME_WAIT from the run before eases (PLATFORM.md)
    return figures


def packet_ins(cluster, url, variant):
    if cluster.directors_are_hosts or variant == "baseline":
        return skipped("no controller on this path")
    before = cluster.rest("GET", "/lb/status")["packet_in"]
    run = cluster.app("c2", "apps.loadclient", "--url", url, "--connections", 500)
    done = json.loads(run.communicate(timeout=120)[0])
    served = sum(done["served_by"].values())
    return round((cluster.rest("GET", "/lb/status")["packet_in"] - before) * 1000 / max(served, 1), 2)


def vip_owner(cluster):
    """The director carrying the VIP, once exactly one does (ClusterError after 10 s)."""
    from topologies.cluster import wait_until

    def owner():
        if not cluster.directors_are_hosts:
            return cluster.rest("GET", "/lb/status")["active_proxy"]
        holders = [name for name in cluster.directors if cluster.vip + "/" in cluster.host(name).cmd("ip -4 -o addr")]
        return holders[0] if len(holders) == 1 else None
    return wait_until("exactly one director to carry the VIP", owner, timeout=10)


def failover(cluster, kind, quick):
    """(longest gap in ms, 1 if a download in flight broke else 0, the client's requests as
    [seconds from the failure, latency or None]) for one failure kind."""
    active = vip_owner(cluster)
    size, rate = (800_000, 400_000) if quick else (3_000_000, 600_000)
    # A download that stalls for 5 s has broken (a full proxy's connections end with it).
    download = cluster.host("c2").popen(["curl", "-s", "-m", "60", "-y", "5", "-Y", "1", "-o", "/dev/null",
                                         "-w", "%{size_download}",
                                         "http://%s/download?bytes=%d&rate=%d" % (cluster.vip, size, rate)],
                                        stdout=subprocess.PIPE, text=True)
    stream = cluster.app("c1", "apps.loadclient", "--url", "http://%s/" % cluster.vip, "--connections",
                         150 if quick else 400, "--interval", 0.01, "--timeout", 1, "--timeline")
    time.sleep(1)
    failed_at = time.time()
    cluster.fail(active, kind)
    result = json.loads(stream.communicate(timeout=120)[0])
    got = download.communicate(timeout=120)[0].strip()
    cluster.recover(active)
    time.sleep(1 if quick else 2)          # the recovered director settles as standby
    timeline = [[round(at - failed_at, 4), latency] for at, latency in result["timeline"]]
    return round(result["max_gap"] * 1000), int(download.returncode != 0 or got != str(size)), timeline


def failover_figures(cluster, variant, quick):
    """The failover figures, and each kind's client timeline."""
    figures, timelines = {}, {}
    for kind in FAILURES:
        if variant == "baseline":
            figures["gap_%s_ms" % kind] = figures["broken_%s" % kind] = skipped("no director to fail")
            continue
        figures["gap_%s_ms" % kind], figures["broken_%s" % kind], timelines[kind] = failover(cluster, kind, quick)
    return figures, timelines


def maglev_figures(servers=4, connections=10_000):
    """Maglev alone: the share of connections that move when one of `servers` is removed (ideal:
    1/servers, its own), and the largest deviation from an even share."""
    names = ["web%d" % i for i in range(1, servers + 1)]
    weights = dict.fromkeys(names, 1)
    before = lookup_table(weights, set(names))
    after = lookup_table(weights, set(names[1:]))
    rng = random.Random(1)
    slots = [rng.randrange(TABLE_SIZE) for _ in range(connections)]
    moved = sum(before[s] != after[s] for s in slots) / connections
    shares = [sum(before[s] == name for s in slots) / connections for name in names]
    return {"maglev_moved_pct": round(100 * moved, 1),
            "maglev_balance_pct": round(100 * max(abs(share - 1 / servers) for share in shares) * servers, 1)}


STEPS = ("cluster up", "HTTP with wrk", "failovers")


def measure(variant, quick, progress):
    """One variant's figures, and its failover timelines; `progress(step)` after each step."""
    from topologies.cluster import Cluster
    kwargs, target = VARIANTS[variant]
    started = time.monotonic()
    with Cluster(clients=4, webs=2, **kwargs) as cluster:
        row = {"variant": variant, "startup_s": round(time.monotonic() - started, 1)}
        progress(STEPS[0])
        host = cluster.vip if target == "vip" else cluster.description.host(target).ip
        url = "http://%s/" % host
        row.update(http_figures(cluster, url, 1 if quick else 5))
        row["packet_in_per_1000"] = packet_ins(cluster, url, variant)
        progress(STEPS[1])
        figures, timelines = failover_figures(cluster, variant, quick)
        row.update(figures)
        progress(STEPS[2])
    return row, timelines


def markdown(rows):
    keys = [k for k in rows[0] if k != "variant"]
    lines = ["| figure | " + " | ".join(r["variant"] for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    lines += ["| %s | %s |" % (k, " | ".join(str(r.get(k, "")) for r in rows)) for k in keys]
    return "\n".join(lines)


def main(argv=None):
    parser = OneLineParser(prog="bench.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for the test suite")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated, from: %s" % ", ".join(VARIANTS))
    parser.add_argument("--out", help="results directory (default runs/bench-<time>)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.fail("unknown variant %r: choose from %s" % ((unknown or [""])[0], ", ".join(VARIANTS)))
    if os.geteuid() != 0:
        parser.fail("needs root (Mininet): run it with sudo")
    out = os.path.abspath(args.out or os.path.join(ROOT, "runs", "bench-" + datetime.now().strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)

    rows, timelines = [], {}
    with tqdm(total=len(variants) * len(STEPS), unit="step", file=sys.stderr) as bar:
        def progress(step):
            bar.set_postfix_str("%s: %s done" % (variant, step))
            bar.update()
        for variant in variants:
            bar.set_description(variant)
            try:
                row, timelines[variant] = measure(variant, args.quick, progress)
            except ClusterError as e:
                parser.fail("%s: %s" % (variant, e))
            rows.append(row)
    rows.append(dict({"variant": "maglev"}, **maglev_figures()))
    results = {"machine": machine(), "quick": args.quick, "rows": rows, "timelines": timelines}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(markdown(rows[:-1]))
    print()
    print(markdown(rows[-1:]))
    try:
        written = plots.draw(results, out)
        print("\nplots: %s" % ", ".join(written))
    except ImportError as e:
        print("\nplots skipped: %s (scripts/install.sh installs matplotlib)" % e)
    print("results in %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
