#!/usr/bin/env python3
"""This project's directors beside keepalived + HAProxy and a direct path, on one machine.

Side by side: this project's directors (NAT, DR, TUN) against the peer an operator would build
instead (keepalived + HAProxy on two hosts in the proxies' place) and against the
baseline (the same client reaching one real server straight through r0, no load balancer), each
in the same emulated network, one after another on this machine. Two more variants put the peer
and the direct path on plain learning switches (fail mode standalone, no controller: no port
security, segmentation or connection log), as an operator would wire the pair by hand, so the
table says both what this project's director costs beside the pair and what its network costs
(peer against peer-plain, baseline against direct-plain).

    sudo .venv/bin/python scripts/bench.py [--quick] [--out DIR] [--variants sdn-nat,peer,...]

Prints a Markdown table; writes results.csv and results.json (with the machine and the git
commit) into the output directory. A full run (every variant, the scale sweep, not --quick) also
makes its results the docs': docs/bench-results.json, docs/BENCHMARKS.md's generated tables (a
test checks they are the ones that file gives) and the plots in docs/images/. A figure that
cannot be measured (a tool missing, or a figure that does not apply, such as packet-ins for the
peer) is written as "skipped: why".

Figures (latency in ms; "static" against nginx serving a small file on the web hosts, "app"
against the project's own Python web app):
  static_close_*, app_close_*             wrk, a new connection per request (Connection: close):
                                          rps, p50, p99, p999
  static_keepalive_*, app_keepalive_*     wrk, keep-alive
  static_close_xlate_per_conn,            Open vSwitch's own cost per new connection during the
  static_close_upcalls_per_conn,          static_close run, all bridges together: flow
  static_close_dp_flows                   translations (coverage xlate_actions) and datapath
                                          misses sent up (pmd-stats "miss with success upcall")
                                          per connection, and datapath flows alive at its end
  synflood_close_rps, synflood_close_p99  static_close again while c2 sends SYN_FLOOD_RATE SYNs/s
                                          to the same address (hping3, bounded): what a burst of
                                          half-open connections costs everyone else
  bulk_1_mbps, bulk_4_mbps                one client downloading from nginx over 1 and 4 TCP
                                          connections at once (curl), Mbit/s
  bulk_director_share                     bytes the directors sent towards the clients during the
                                          1-connection download / bytes downloaded (NAT and the
                                          pair: every reply crosses a director; DR, TUN: none)
  openloop_p50/p99/p999, openloop_errors  new connections sent at a fixed rate below saturation
                                          (OPENLOOP_RATE/s), latency from the scheduled time
  packet_in_per_1000                      controller packet-ins per 1,000 new connections
  gap_<kind>_ms, gap_<kind>_max_ms        the active director fails (kind: crash, link, hang), 5
                                          times each (once with --quick): the longest time without
                                          an answer for a client asking every 10 ms (1 s timeout),
                                          median and worst over the failures
  failed_<kind>                           the client's failed requests over those failures
  broken_<kind>                           downloads in flight that broke, over those failures
  web_detect_ms, web_gap_ms,              web1's server crashes under a client asking every 10 ms:
  web_failed_requests                     until the director takes it out, the client's longest
                                          gap, its failed requests
  web_back_ms, web_link_detect_ms         web1's server restarted -> back in service (Python's
                                          start-up included); web1's cables cut -> out
  load_web1_share_pct                     (sdn-nat) web1's share of four clients' requests once
                                          its weight is 3 against web2's 1 (ideal 75); the run
                                          is plotted in load.png with web2 crashing and returning
  maglev_moved_pct, maglev_balance_pct    Maglev alone (no emulation): share of connections that
                                          move when one of 4 real servers is removed; largest
                                          deviation from an even share over 10,000 connections
The Markdown table gives each figure's ratio to the baseline's beside it.

The scale sweep (NAT, nginx on the web hosts; --no-scale leaves it out) brings up 4 clients and 2
web hosts, 16 and 8, 64 and 32 (--quick: 2 and 1, 4 and 2) and reports start-up, flows on a proxy
and on the edge switches, the controller's resident memory and CPU (at start, and idle: health
checks and probes), and that every client is served (scale.csv).
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
from collections import Counter
from datetime import datetime

from tqdm import tqdm

from controller.maglev import TABLE_SIZE, lookup_table
from core.addressing import HAPROXY, SDN
from core.flags import OneLineParser
from core.paths import ROOT
from core.rules import is_number
from topologies.peer import PeerSettings
from topologies.staticweb import APP, NGINX
from core.settings import ACTIVE_ACTIVE, NetworkPolicy, ProxyPolicy
from topologies.runstate import ClusterError

import plots  # beside this script
# name -> (Cluster keyword arguments, what the client asks: the VIP or web1 straight)
VARIANTS = {
    "baseline": (dict(mode="dr", network_policy=NetworkPolicy(segmentation=False)), "web1"),   # web1 reachable
    "sdn-nat": (dict(mode="nat"), "vip"),
    "sdn-dr": (dict(mode="dr"), "vip"),
    "sdn-tun": (dict(mode="tun"), "vip"),
    "sdn-nat-aa": (dict(mode="nat", proxy_policy=ProxyPolicy(mode=ACTIVE_ACTIVE)), "vip"),
    "peer": (dict(director=HAPROXY, peer=PeerSettings(advert_int=0.1)), "vip"),
    "peer-default": (dict(director=HAPROXY, peer=PeerSettings()), "vip"),
    # as an operator would wire the pair: on plain learning switches (no controller, no port
    # security, segmentation or connection log), and the direct path on those switches
    "peer-plain": (dict(director=HAPROXY, peer=PeerSettings(advert_int=0.1), plain_switches=True), "vip"),
    "direct-plain": (dict(director=HAPROXY, plain_switches=True), "web1"),
}
# Left out of a quick run (the suite's): the plain switches' figures belong to a full run, and
# tests/emulation/test_peer.py runs the pair on them.
FULL_RUN_ONLY = ("peer-plain", "direct-plain")
FAILURES = ("crash", "link", "hang")
FAILOVER_REPEATS = 5         # failures of each kind in a full run (one in a quick run)
FAILOVER_FIGURES = (("gap", "_ms"), ("gap", "_max_ms"), ("failed", ""), ("broken", ""))
WRK_FIGURES = ("rps", "p50", "p99", "p999")      # requests/s, then latencies in ms
OPENLOOP_RATE = 400          # requests/s: below every variant's new-connection saturation
SYN_FLOOD_RATE = 5000        # SYNs/s from one client, for as long as the wrk run beside it
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


def not_installed(tool):
    return "%s is not installed (scripts/install.sh installs it)" % tool


def require(tool):
    if not shutil.which(tool):
        raise Skipped(not_installed(tool))


def missing_daemons(variant):
    """The tools a variant's directors need that this machine lacks."""
    from topologies.cluster import missing_tools
    every_cluster_needs = set(missing_tools())
    return [t for t in missing_tools(director=VARIANTS[variant][0].get("director", SDN))
            if t not in every_cluster_needs]


def nginx_missing():
    from topologies.cluster import missing_tools
    return "nginx" in missing_tools(web_server=NGINX)


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


def http_figures(cluster, url, seconds, server):
    """wrk's figures against `server` (static or app), keep-alive and a new connection per
    request, and for the latter what each connection cost Open vSwitch."""
    figures = {}
    for name, close in (("keepalive", False), ("close", True)):
        prefix = "%s_%s_" % (server, name)
        before = switch_work()
        try:
            report = wrk(cluster, url, seconds, close)
        except Skipped as e:
            figures.update({prefix + k: skipped(e) for k in WRK_FIGURES})
            continue
        figures.update(wrk_figures(prefix, report))
        if close:
            figures.update(switch_cost(prefix, before, switch_work(), report["rps"] * seconds))
        time.sleep(min(1.0, seconds / 3))     # TIME_WAIT from the run before eases (docs/PLATFORM.md)
    return figures


def wrk_figures(prefix, report):
    figures = {prefix + "rps": round(report["rps"])}
    figures.update({prefix + key: round(report[key] / 1000, 2) for key in WRK_FIGURES[1:]})
    return figures


def switch_work():
    """Open vSwitch's work so far: flow translations and datapath misses sent up (userspace
    datapath: pmd-stats; the kernel datapath has no such counter here)."""
    def appctl(*args):
        return subprocess.run(["ovs-appctl"] + list(args), capture_output=True, text=True).stdout
    pmd = appctl("dpif-netdev/pmd-stats-show")
    upcalls = re.findall(r"miss with success upcall: (\d+)", pmd)
    return {"xlate": int(appctl("coverage/read-counter", "xlate_actions").strip() or 0),
            "upcalls": sum(int(n) for n in upcalls) if upcalls else None,
            "dp_flows": sum(int(n) for n in re.findall(r"flows\s*:\s*\(current (\d+)\)", appctl("upcall/show")))}


def switch_cost(prefix, before, after, connections):
    connections = max(connections, 1)
    upcalls = (skipped("no userspace datapath statistics") if after["upcalls"] is None
               else round((after["upcalls"] - before["upcalls"]) / connections, 3))
    return {prefix + "xlate_per_conn": round((after["xlate"] - before["xlate"]) / connections, 3),
            prefix + "upcalls_per_conn": upcalls, prefix + "dp_flows": after["dp_flows"]}


def syn_flood(cluster, url, host, seconds):
    """static_close from c1 while c2 floods `host` with SYN_FLOOD_RATE SYNs/s (each from a new
    source port, none completed: half-open connections), for as long."""
    require("hping3")
    flood = cluster.host("c2").popen(
        ["hping3", "-q", "-S", "-p", str(cluster.description.http_port), "-i", "u%d" % (1e6 // SYN_FLOOD_RATE),
         "-c", str(SYN_FLOOD_RATE * seconds), host], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        report = wrk(cluster, url, seconds, close=True)
    finally:
        try:
            flood.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            flood.kill()
    figures = wrk_figures("synflood_close_", report)
    return {k: figures[k] for k in ("synflood_close_rps", "synflood_close_p99")}


def bulk(cluster, host, streams, seconds):
    """Mbit/s of c1 downloading nginx's bulk file over `streams` connections at once for
    `seconds` (each curl stops at that bound), and the bytes downloaded."""
    require("curl")
    runs = [cluster.host("c1").popen(["curl", "-s", "-o", "/dev/null", "-m", str(seconds), "-w",
                                      "%{size_download} %{time_total}", "http://%s/bulk" % host],
                                     stdout=subprocess.PIPE, text=True) for _ in range(streams)]
    results = [run.communicate(timeout=seconds + 30)[0].split() for run in runs]
    if any(len(r) != 2 for r in results):
        raise Skipped("curl gave no figures: %s" % results)
    total = sum(float(size) for size, _ in results)
    elapsed = max(float(t) for _, t in results)
    if not total or not elapsed:
        raise Skipped("nothing was downloaded")
    return round(total * 8 / elapsed / 1e6), total


def directors_sent(cluster):
    """Bytes the directors (proxies or hosts) have sent into s_pub, towards the clients: in DR
    and TUN the replies bypass them, in NAT and through HAProxy every reply crosses one."""
    d = cluster.description
    ports = ([d.host(n).interface_on(d.public_edge).port for n in cluster.directors] if cluster.directors_are_hosts
             else [d.proxy_port(d.public_edge, p) for p in d.proxies])
    return sum(cluster.port_bytes(d.public_edge, port)[0] for port in ports)


def open_loop(cluster, url, seconds):
    run = cluster.app("c1", "apps.openloop", "--url", url, "--rate", OPENLOOP_RATE, "--seconds", seconds)
    report = json.loads(run.communicate(timeout=seconds + 60)[0])
    return {"openloop_p50": report["p50"], "openloop_p99": report["p99"], "openloop_p999": report["p999"],
            "openloop_errors": report["errors"]}


def static_figures(cluster, host, quick):
    """Everything measured against nginx: wrk, bulk throughput and open-loop latency."""
    seconds = 1 if quick else 5
    url = "http://%s/" % host
    figures = http_figures(cluster, url, seconds, "static")
    try:
        figures.update(syn_flood(cluster, url, host, seconds))
    except Skipped as e:
        figures.update(dict.fromkeys(("synflood_close_rps", "synflood_close_p99"), skipped(e)))
    time.sleep(min(1.0, seconds / 3))
    for streams in (1, 4):
        sent = directors_sent(cluster)
        try:
            figures["bulk_%d_mbps" % streams], downloaded = bulk(cluster, host, streams, seconds)
        except Skipped as e:
            figures["bulk_%d_mbps" % streams], downloaded = skipped(e), 0
        if streams == 1:
            figures["bulk_director_share"] = (round((directors_sent(cluster) - sent) / downloaded, 3)
                                              if downloaded and host == cluster.vip
                                              else skipped("no director: the client asks one real server"))
        time.sleep(min(1.0, seconds / 3))
    figures.update(open_loop(cluster, url, seconds))
    return figures


def stream(cluster, client, url, connections, interval=0.0, timeout=1.0, timeline=False):
    """apps.loadclient on `client`: `connections` new connections to `url`, one every `interval`
    s, each with `timeout` (a Popen; its output is one JSON object)."""
    return cluster.app(client, "apps.loadclient", "--url", url, "--connections", connections, "--interval",
                       interval, "--timeout", timeout, *(["--timeline"] if timeline else []))


def direct(variant):
    """Whether the variant's client asks a real server straight, with no director between."""
    return VARIANTS[variant][1] != "vip"


def packet_ins(cluster, url, variant):
    if cluster.directors_are_hosts or direct(variant):
        return skipped("no controller on this path")
    before = cluster.rest("GET", "/lb/status")["packet_in"]
    run = stream(cluster, "c2", url, 500, timeout=2.0)
    done = json.loads(run.communicate(timeout=120)[0])
    served = sum(done["served_by"].values())
    return round((cluster.rest("GET", "/lb/status")["packet_in"] - before) * 1000 / max(served, 1), 2)


def vip_owner(cluster):
    """The director carrying the VIP, once exactly one does (ClusterError after 10 s)."""
    from topologies.runstate import wait_until

    def owner():
        if not cluster.directors_are_hosts:
            return cluster.rest("GET", "/lb/status")["active_proxy"]
        holders = [name for name in cluster.directors if cluster.vip + "/" in cluster.host(name).cmd("ip -4 -o addr")]
        return holders[0] if len(holders) == 1 else None
    return wait_until("exactly one director to carry the VIP", owner, timeout=10)


def failover(cluster, kind, quick):
    """One failure of the director carrying the VIP: (longest gap in ms, failed requests, 1 if a
    download in flight broke else 0, the client's requests as [seconds from the failure, latency
    or None])."""
    active = vip_owner(cluster)
    size, rate = (800_000, 400_000) if quick else (3_000_000, 600_000)
    # A download that stalls for 5 s has broken (a full proxy's connections end with it).
    download = cluster.host("c2").popen(["curl", "-s", "-m", "60", "-y", "5", "-Y", "1", "-o", "/dev/null",
                                         "-w", "%{size_download}",
                                         "http://%s/download?bytes=%d&rate=%d" % (cluster.vip, size, rate)],
                                        stdout=subprocess.PIPE, text=True)
    client = stream(cluster, "c1", "http://%s/" % cluster.vip, 150 if quick else 400, 0.01, timeline=True)
    # At a random instant of the client's request cycle: a fixed delay after starting it would
    # strike at the same moment of a request every time.
    time.sleep((0.5 if quick else 1) + random.uniform(0, 0.02))
    failed_at = time.time()
    cluster.fail(active, kind)
    result = json.loads(client.communicate(timeout=120)[0])
    got = download.communicate(timeout=120)[0].strip()
    cluster.recover(active)
    time.sleep(0.5 if quick else 2)          # the recovered director settles as standby
    timeline = [[round(at - failed_at, 4), latency] for at, latency, _server in result["timeline"]]
    return (round(result["max_gap"] * 1000), result["errors"], int(download.returncode != 0 or got != str(size)),
            timeline)


def failover_figures(cluster, variant, quick):
    """The failover figures over FAILOVER_REPEATS failures of each kind (whether a request is in
    flight at the instant of a failure is chance), and each kind's first client timeline."""
    figures, timelines = {}, {}
    for kind in FAILURES:
        keys = ["%s_%s%s" % (figure, kind, unit) for figure, unit in FAILOVER_FIGURES]
        why = "no director to fail" if direct(variant) else {
            "sdn-nat-aa": "active-active: both proxies carry the VIP"}.get(variant)
        if why:
            figures.update(dict.fromkeys(keys, skipped(why)))
            continue
        runs = [failover(cluster, kind, quick) for _ in range(1 if quick else FAILOVER_REPEATS)]
        gaps = sorted(gap for gap, _, _, _ in runs)
        figures.update(zip(keys, (gaps[len(gaps) // 2], gaps[-1], sum(r[1] for r in runs), sum(r[2] for r in runs))))
        timelines[kind] = runs[0][3]
    return figures, timelines


def in_service(cluster, server):
    """Whether the director carrying the VIP would send a new connection to `server`."""
    if cluster.directors_are_hosts:
        return cluster.peer.haproxy_servers(vip_owner(cluster)).get(server, "").startswith("UP")
    backend = next(b for b in cluster.rest("GET", "/lb/backends")["backends"] if b["name"] == server)
    return backend["state"] == "up" and backend["slots"] > 0


def web_failure(cluster, quick):
    """web1's server crashes under a client asking every 10 ms (1 s timeout): ms until the
    director took it out, the client's longest gap in ms, and its failed requests; ms from its
    restart until it is back in service; then web1's cables cut: ms until it is out."""
    client = stream(cluster, "c1", "http://%s/" % cluster.vip, 150 if quick else 300, 0.01)
    time.sleep(0.5)
    detected_ms = ms_until(lambda: cluster.fail("web1", "crash"), lambda: not in_service(cluster, "web1"), 10)
    result = json.loads(client.communicate(timeout=120)[0])
    back_ms = ms_until(lambda: cluster.recover("web1"), lambda: in_service(cluster, "web1"), 20)
    link_ms = ms_until(lambda: cluster.fail("web1", "link"), lambda: not in_service(cluster, "web1"), 10)
    ms_until(lambda: cluster.recover("web1"), lambda: in_service(cluster, "web1"), 20)
    return {"web_detect_ms": detected_ms, "web_gap_ms": round(result["max_gap"] * 1000),
            "web_failed_requests": result["errors"], "web_back_ms": back_ms, "web_link_detect_ms": link_ms}


def ms_until(change, check, timeout):
    """Milliseconds from the start of `change()` until `check()` holds (ClusterError after
    `timeout` s)."""
    from topologies.runstate import wait_until
    started = time.monotonic()
    said = change()
    wait_until("web1's change (%s) to take effect" % said, check, timeout=timeout, interval=0.01)
    return round((time.monotonic() - started) * 1000)


def web_failure_figures(cluster, variant, quick):
    if direct(variant):
        why = skipped("no director: the client asks one real server")
        return dict.fromkeys(("web_detect_ms", "web_gap_ms", "web_failed_requests", "web_back_ms",
                              "web_link_detect_ms"), why)
    return web_failure(cluster, quick)


# The load experiment (sdn-nat): what happens at what fraction of its length.
LOAD_STEPS = ((0.25, "web1 weight 1 -> 3"), (0.5, "web2 crashes"), (0.75, "web2 recovered"))


def load_experiment(cluster, quick):
    """Four clients ask the VIP every 20 ms while web1's weight triples, then web2 crashes and
    returns: each request's time and serving host, the steps' times, and web1's share of the
    requests between the weight change and the crash (ideal 75%)."""
    seconds = 6 if quick else 20
    clients = [stream(cluster, c, "http://%s/" % cluster.vip, int(seconds / 0.025), 0.02, timeline=True)
               for c in ("c1", "c2", "c3", "c4")]
    start = time.time()
    steps = []
    actions = (lambda: cluster.rest("PUT", "/lb/backends/web1", {"weight": 3}),
               lambda: cluster.fail("web2", "crash"), lambda: cluster.recover("web2"))
    for (fraction, label), action in zip(LOAD_STEPS, actions):
        time.sleep(max(0.0, start + fraction * seconds - time.time()))
        steps.append([round(time.time() - start, 3), label])
        action()
    requests = []
    for client in clients:
        result = json.loads(client.communicate(timeout=seconds + 120)[0])
        requests += [[round(at - start, 3), server] for at, _latency, server in result["timeline"]]
    cluster.rest("PUT", "/lb/backends/web1", {"weight": 1})
    weighted = [server for at, server in requests if steps[0][0] + 1 <= at < steps[1][0] and server]
    share = round(100 * weighted.count("web1") / len(weighted), 1) if weighted else skipped("no request served")
    return {"steps": steps, "requests": sorted(requests, key=lambda r: r[0])}, share


# Under the sweep's load nothing fails, so each of these events is a false alarm.
SCALE_FALSE_ALARMS = (("real-server-health", "health_changes"), ("bfd-down", "bfd_downs"),
                      ("proxy-failover", "proxy_failovers"))
# (clients, web hosts) of the scale sweep, and of its --quick form.
SCALE_POINTS = ((4, 2), (16, 8), (64, 32))
QUICK_SCALE_POINTS = ((2, 1), (4, 2))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        return round(int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) / 1024, 1)


def flow_count(switch):
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-aggregate", switch], capture_output=True,
                         text=True).stdout
    found = re.search(r"flow_count=(\d+)", out)
    return int(found.group(1)) if found else skipped("ovs-ofctl gave no count for %s" % switch)


def scale_point(clients, webs, quick):
    """One point of the sweep (NAT, nginx on the web hosts): start-up, flows per switch, and the
    controller's memory and CPU, at start and while idle (health checks and probes only)."""
    from topologies.cluster import Cluster
    started = time.monotonic()
    with Cluster(mode="nat", clients=clients, webs=webs, web_server=NGINX) as cluster:
        row = {"variant": "scale-%dx%d" % (clients, webs), "clients": clients, "webs": webs,
               "startup_s": round(time.monotonic() - started, 1)}
        pid = cluster.controller.pid
        row["controller_cpu_start_s"] = round(cpu_seconds(pid), 2)
        window = 2 if quick else 5
        before = cpu_seconds(pid)
        time.sleep(window)
        row["controller_cpu_idle_pct"] = round(100 * (cpu_seconds(pid) - before) / window, 1)
        row["controller_rss_mb"] = rss_mb(pid)
        d = cluster.description
        for switch in (d.proxies[0], d.public_edge, d.lan_edge):
            row["flows_%s" % switch] = flow_count(switch)
        load_started = time.time()
        served, errors = cluster.served_counts(5 if quick else 20)
        row["served_real_servers"] = len(served)
        row["failed_requests"] = errors
        changes = Counter(e["event.action"] for e in cluster.controller_events(load_started, time.time()))
        for action, figure in SCALE_FALSE_ALARMS:
            row[figure] = changes[action]
    return row


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


STATIC_FIGURES = (["static_%s_%s" % (kind, k) for kind in ("close", "keepalive") for k in WRK_FIGURES]
                  + ["static_close_%s" % k for k in ("xlate_per_conn", "upcalls_per_conn", "dp_flows")]
                  + ["synflood_close_rps", "synflood_close_p99"]
                  + ["bulk_1_mbps", "bulk_director_share", "bulk_4_mbps"]
                  + ["openloop_p50", "openloop_p99", "openloop_p999", "openloop_errors"])
STEPS = ("static server", "web app", "failures")
LOAD_VARIANT = "sdn-nat"


def measure(variant, quick, progress):
    """One variant's figures, and its failover timelines; `progress(step)` after each step. The
    cluster starts twice: with nginx on the web hosts, then with the project's web app."""
    from topologies.cluster import Cluster
    kwargs, target = VARIANTS[variant]

    def target_host(cluster):
        return cluster.vip if target == "vip" else cluster.description.host(target).ip

    row = {"variant": variant}
    if not nginx_missing():
        with Cluster(clients=4, webs=2, web_server=NGINX, **kwargs) as cluster:
            row.update(static_figures(cluster, target_host(cluster), quick))
    else:
        row.update(dict.fromkeys(STATIC_FIGURES, skipped(not_installed("nginx"))))
    progress(STEPS[0])
    started = time.monotonic()
    with Cluster(clients=4, webs=2, web_server=APP, **kwargs) as cluster:
        row["startup_s"] = round(time.monotonic() - started, 1)
        url = "http://%s/" % target_host(cluster)
        row.update(http_figures(cluster, url, 1 if quick else 5, "app"))
        row["packet_in_per_1000"] = packet_ins(cluster, url, variant)
        progress(STEPS[1])
        row.update(web_failure_figures(cluster, variant, quick))
        figures, timelines = failover_figures(cluster, variant, quick)
        row.update(figures)
        if variant == LOAD_VARIANT:
            timelines["load"], row["load_web1_share_pct"] = load_experiment(cluster, quick)
        progress(STEPS[2])
    return row, timelines


def cell(value, base):
    """A table cell: the figure, with its ratio to the baseline's when both are numbers."""
    if is_number(value) and is_number(base) and base:
        return "%s (%.2fx)" % (value, value / base)
    return str(value)


def markdown(rows):
    keys = list(dict.fromkeys(k for r in rows for k in r if k != "variant"))
    base = next((r for r in rows if r["variant"] == "baseline"), {})
    lines = ["| figure | " + " | ".join(r["variant"] for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    for key in keys:
        cells = [cell(r.get(key, ""), None if r is base else base.get(key)) for r in rows]
        lines.append("| %s | %s |" % (key, " | ".join(cells)))
    return "\n".join(lines)


DOCS_RESULTS = os.path.join(ROOT, "docs", "bench-results.json")
DOCS_PAGE = os.path.join(ROOT, "docs", "BENCHMARKS.md")
DOCS_IMAGES = os.path.join(ROOT, "docs", "images")
REGION = "<!-- bench.py: %s, written from docs/bench-results.json by a full run: do not edit -->"
REGION_END = "<!-- bench.py: end of %s -->"


def tables(results):
    """docs/BENCHMARKS.md's generated parts from a run's results: {region name: Markdown}."""
    maglev = next(r for r in results["rows"] if r["variant"] == "maglev")
    m = results["machine"]
    ovs = m["ovs"].replace("ovs-vsctl (Open vSwitch)", "Open vSwitch")
    run = ("The run: commit %s, %s; %s cores, kernel %s, %s, the %s datapath, Python %s.\n\n"
           % (m["commit"], m["date"], m["cores"], m["kernel"], ovs, m["datapath"], m["python"]))
    found = {"figures": run + markdown([r for r in results["rows"] if r["variant"] != "maglev"]) + (
        "\n\nMaglev alone (no emulation): removing one of 4 real servers moves %s%% of 10,000 connections\n"
        "(ideal: 25%%, that server's own); the most loaded server's share is %s%% off an even share."
        % (maglev["maglev_moved_pct"], maglev["maglev_balance_pct"]))}
    if results.get("scale"):
        found["scale"] = markdown(results["scale"])
    return found


def with_tables(page, results):
    """The page with each generated region replaced by the one these results give; ValueError
    naming a region the page lacks."""
    for name, text in tables(results).items():
        begin, end = REGION % name, REGION_END % name
        if begin not in page or end not in page:
            raise ValueError("docs/BENCHMARKS.md has no region %r (%s ... %s)" % (name, begin, end))
        head, rest = page.split(begin, 1)
        page = head + begin + "\n" + text + "\n" + end + rest.split(end, 1)[1]
    return page


def write_docs(results, out, written):
    """A full run's results become the docs': the results file, the tables and the plots."""
    shutil.copyfile(os.path.join(out, "results.json"), DOCS_RESULTS)
    with open(DOCS_PAGE) as f:
        page = with_tables(f.read(), results)
    with open(DOCS_PAGE, "w") as f:
        f.write(page)
    for path in written:
        shutil.copyfile(path, os.path.join(DOCS_IMAGES, os.path.basename(path)))


def main(argv=None):
    parser = OneLineParser(prog="bench.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for the test suite")
    parser.add_argument("--variants", help="comma-separated, from: %s (default: all; with --quick, all but %s)"
                        % (", ".join(VARIANTS), ", ".join(FULL_RUN_ONLY)))
    parser.add_argument("--out", help="results directory (default runs/bench-<time>)")
    parser.add_argument("--no-scale", action="store_true", help="leave out the scale sweep")
    args = parser.parse_args(argv)
    variants = ([v for v in args.variants.split(",") if v] if args.variants is not None
                else [v for v in VARIANTS if not (args.quick and v in FULL_RUN_ONLY)])
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
            missing = missing_daemons(variant)
            if missing:
                rows.append({"variant": variant, "note": skipped(not_installed(" and ".join(missing)))})
                bar.update(len(STEPS))
                continue
            try:
                row, timelines[variant] = measure(variant, args.quick, progress)
            except ClusterError as e:
                parser.fail("%s: %s" % (variant, e))
            rows.append(row)
    scale = []
    if not args.no_scale and nginx_missing():
        print("scale sweep skipped: %s" % not_installed("nginx"), file=sys.stderr)
    elif not args.no_scale:
        points = QUICK_SCALE_POINTS if args.quick else SCALE_POINTS
        with tqdm(total=len(points), unit="point", file=sys.stderr, desc="scale sweep") as bar:
            for clients, webs in points:
                try:
                    scale.append(scale_point(clients, webs, args.quick))
                except ClusterError as e:
                    parser.fail("scale sweep, %d clients and %d web hosts: %s" % (clients, webs, e))
                bar.update()
    rows.append(dict({"variant": "maglev"}, **maglev_figures()))
    load = next((t.pop("load") for t in timelines.values() if "load" in t), None)
    results = {"machine": machine(), "quick": args.quick, "rows": rows, "timelines": timelines, "load": load,
               "scale": scale}
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
    if scale:
        print()
        print(markdown(scale))
        with open(os.path.join(out, "scale.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(scale[0]))
            writer.writeheader()
            writer.writerows(scale)
    try:
        written = plots.draw(results, out)
        print("\nplots: %s" % ", ".join(written))
    except ImportError as e:
        written = []
        print("\nplots skipped: %s (scripts/install.sh installs matplotlib)" % e)
    print("results in %s" % out)
    if not args.quick and variants == list(VARIANTS) and scale:
        write_docs(results, out, written)
        print("a full run: docs/bench-results.json, docs/BENCHMARKS.md's tables and docs/images/ written from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
