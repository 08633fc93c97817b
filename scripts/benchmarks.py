#!/usr/bin/env python3
"""Benchmarks: the figures the tests only bound. Each brings a cluster up per forwarding method
and measures, writing a CSV (and printing a table):

  startup_s            the Cluster harness from nothing to every real server up
  conn_per_s           new HTTP connections per second through the VIP (4 clients at once)
  packet_in            controller packet-ins during those connections
  bulk_mbit_s          one 200 MB download through the VIP, client side
  proxy_share          bytes the proxies carried towards clients / bytes received
  web_out_crash_ms     a web server killed -> out of the Maglev table (controller view)
  web_out_link_ms      a web host's link cut -> out of the table
  web_back_ms          the web server restarted -> back in the table
  failover_KIND_ms     the active proxy crashed / its links cut / hung -> the standby carries
                       the VIP (controller view)
  gap_KIND_ms          longest time without an answer for a client asking every 20 ms meanwhile
                       (each request times out after 0.2 s)

    sudo .venv/bin/python scripts/benchmarks.py [--modes nat,tun,dr] [--out runs/bench.csv]

All traffic stays inside the emulated network; every generator is bounded in count and time.
"""
import argparse
import csv
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from topologies.cluster import Cluster  # noqa: E402

CLIENTS = ("c1", "c2", "c3", "c4")
CONNECTIONS_PER_CLIENT = 500
BULK_BYTES = 200_000_000


def backend(cluster, name):
    return next(b for b in cluster.rest("GET", "/lb/backends")["backends"] if b["name"] == name)


def ms_until(check, timeout=10.0):
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            return float("nan")
        time.sleep(0.005)
    return round((time.monotonic() - started) * 1000)


def connection_rate(cluster):
    before = cluster.rest("GET", "/lb/status")["packet_in"]
    started = time.monotonic()
    runs = [cluster.app(c, "apps.loadclient", "--url", "http://%s/" % cluster.vip,
                        "--connections", CONNECTIONS_PER_CLIENT) for c in CLIENTS]
    results = [json.loads(run.communicate(timeout=300)[0]) for run in runs]
    seconds = time.monotonic() - started
    ok = sum(sum(r["served_by"].values()) for r in results)
    return round(ok / seconds), cluster.rest("GET", "/lb/status")["packet_in"] - before


def bulk(cluster):
    proxy_ports = [(p, cluster.description.proxy_uplink(p)) for p in cluster.description.proxies]
    before = sum(cluster.port_bytes(p, port)[1] for p, port in proxy_ports)
    out = cluster.host("c1").cmd("curl -s -m 120 -o /dev/null -w '%%{size_download} %%{time_total}' "
                                 "'http://%s/download?bytes=%d'" % (cluster.vip, BULK_BYTES))
    size, seconds = out.split()
    carried = sum(cluster.port_bytes(p, port)[1] for p, port in proxy_ports) - before
    return round(int(size) * 8 / float(seconds) / 1e6), round(carried / int(size), 3)


def web_failures(cluster):
    def out():
        b = backend(cluster, "web1")
        return b["state"] == "down" and b["slots"] == 0
    figures = {}
    for kind in ("crash", "link"):
        cluster.fail("web1", kind)
        figures["web_out_%s_ms" % kind] = ms_until(out)
        cluster.recover("web1")
        back = ms_until(lambda: backend(cluster, "web1")["slots"] > 0)
        if kind == "crash":
            figures["web_back_ms"] = back
    return figures


def proxy_failovers(cluster):
    figures = {}
    for kind in ("crash", "link", "hang"):
        active = cluster.rest("GET", "/lb/status")["active_proxy"]
        stream = cluster.app("c1", "apps.loadclient", "--url", "http://%s/" % cluster.vip,
                             "--connections", 150, "--interval", 0.02, "--timeout", 0.2)
        time.sleep(1)
        cluster.fail(active, kind)
        figures["failover_%s_ms" % kind] = ms_until(
            lambda: cluster.rest("GET", "/lb/status")["active_proxy"] not in (active, None))
        outcome = json.loads(stream.communicate(timeout=120)[0])
        figures["gap_%s_ms" % kind] = round(outcome["max_gap"] * 1000)
        cluster.recover(active)
        ms_until(lambda: all(p["role"] != "down" for p in cluster.rest("GET", "/lb/status")["proxies"]))
    return figures


def measure(mode):
    started = time.monotonic()
    with Cluster(mode=mode, clients=4, webs=2) as cluster:
        row = {"mode": mode, "startup_s": round(time.monotonic() - started, 1)}
        row["conn_per_s"], row["packet_in"] = connection_rate(cluster)
        row["bulk_mbit_s"], row["proxy_share"] = bulk(cluster)
        row.update(web_failures(cluster))
        row.update(proxy_failovers(cluster))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="nat,tun,dr")
    parser.add_argument("--out", default=os.path.join("runs", "benchmarks.csv"))
    args = parser.parse_args()
    rows = [measure(mode) for mode in args.modes.split(",")]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("%-18s" % "figure" + "".join("%10s" % row["mode"] for row in rows))
    for key in list(rows[0])[1:]:
        print("%-18s" % key + "".join("%10s" % row[key] for row in rows))
    print("written to %s" % args.out)


if __name__ == "__main__":
    main()
