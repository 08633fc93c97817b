"""Proxy failover in NAT, TUN and DR: the active proxy crashes, loses its links, or hangs while
its OpenFlow channel lives; the standby takes the VIP, clients keep being served, a transfer in
flight completes byte for byte, and the two proxies never carry the VIP at once. The edges'
fast-failover groups move the VIP in the datapath (on the carrier's loss, or BFD's silence),
so a failover costs a client at most the one request in flight at that instant (its packets on
a cable that died), with or without the controller."""
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

from apps.webserver import pattern
from tests.emulation.helpers import (ProxySampler, flush_counters, request_stream, status, vip_packets,
                                     wait_for)
from topologies.cluster import Cluster
from topologies.priority import ovs_vswitchd_pid

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module", params=["nat", "tun", "dr"])
def cluster(request):
    with Cluster(mode=request.param, clients=4, webs=2) as running:
        yield running


@pytest.mark.parametrize("kind", ["crash", "link", "hang"])
def test_the_standby_takes_over_and_nothing_in_flight_is_lost(cluster, kind):
    active = status(cluster)["active_proxy"]
    standby = next(p for p in cluster.description.proxies if p != active)
    size, rate = 3_000_000, 600_000                 # a 5 s download spanning the failover
    body = os.path.join(cluster.run_dir, "failover-%s.bin" % kind)
    download = cluster.host("c2").popen(["curl", "-s", "-m", "60", "-o", body,
                                         "http://%s/download?bytes=%d&rate=%d" % (cluster.vip, size, rate)])
    stream = request_stream(cluster, 250)
    sampler = ProxySampler(cluster)
    sampler.start()
    try:
        started = time.monotonic()
        time.sleep(1.5)
        failed = time.monotonic()
        cluster.fail(active, kind)
        wait_for(lambda: status(cluster)["active_proxy"] == standby, 3, "no failover to %s" % standby)
        wait_for(lambda: sampler.carried_since(standby, failed), 5, "%s carried nothing" % standby)
        time.sleep(1.5)
        cluster.recover(active)
        result = json.loads(stream.communicate(timeout=60)[0])
        assert download.wait(timeout=60) == 0
    finally:
        sampler.stop()
    # A client asking every 20 ms: at most the request in flight when the proxy failed is lost (a
    # lost SYN costs a Linux client 1 s, its timeout here).
    assert result["errors"] <= 1, result
    assert sum(result["served_by"].values()) >= 249 and result["max_gap"] < 1.5, result
    assert status(cluster)["active_proxy"] == standby            # failback is not preemptive
    assert sampler.carriers()[-1] == {standby}                  # served by the standby at the end
    assert sampler.handovers_violated([(started, active), (failed, standby)]) == [], sampler.since(started)
    with open(body, "rb") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(pattern(0, size)).digest()
    failover = status(cluster)["last_failover"]
    assert failover["from"] == [active] and failover["to"] == [standby]
    wait_for(lambda: next(p for p in status(cluster)["proxies"] if p["name"] == active)["role"] == "standby",
             5, "%s did not come back as standby" % active)


def test_with_both_proxies_down_the_vip_is_down_until_one_returns(cluster):
    first, second = cluster.description.proxies
    assert "both proxies are down" not in cluster.fail(first, "crash")
    assert "both proxies are down: the VIP is down" in cluster.fail(second, "hang")
    try:
        wait_for(lambda: status(cluster)["vip_state"] == "down", 3, "the VIP is not reported down")
        assert cluster.host("c3").cmd("curl -s -m 1 http://%s/" % cluster.vip).strip() == ""
    finally:
        cluster.recover(second)
    wait_for(lambda: status(cluster)["vip_state"] == "up", 2, "the VIP did not come back")
    assert "served_by" in cluster.host("c3").cmd("curl -s -m 2 http://%s/" % cluster.vip)
    cluster.recover(first)
    wait_for(lambda: all(p["role"] != "down" for p in status(cluster)["proxies"]), 5, "a proxy stayed down")


@pytest.mark.parametrize("node,kind,message", [
    ("lb9", "crash", "no node named 'lb9'"),
    ("lb1", "melt", "cannot fail lb1 (proxy) by 'melt'; kinds for it: crash, link, hang"),
])
def test_impossible_proxy_failures_are_refused(cluster, node, kind, message):
    from topologies.cluster import ClusterError
    with pytest.raises(ClusterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cluster.fail(node, kind)
    with pytest.raises(ClusterError, match="lb2 has not failed"):
        cluster.recover("lb2")


def bfd_at_full_rate(cluster):
    """Every BFD session of the proxies' cables up and at its configured intervals (a session
    just up still runs at the 1 s of its start for a moment, and a stall would not expire it)."""
    out = subprocess.run(["ovs-appctl", "bfd/show"], capture_output=True, text=True, timeout=10).stdout
    intervals = [int(ms) for ms in re.findall(r"[TR]X Interval: Approx (\d+)ms", out)]
    policy, sessions = cluster.proxy_policy, 4 * len(cluster.description.proxies)
    return (all(end["bfd"] == "up" for proxy in status(cluster)["proxies"] for end in proxy["cables"])
            and len(intervals) == 2 * sessions and max(intervals) <= max(policy.bfd_min_rx, policy.bfd_min_tx))


def test_a_stall_of_the_switches_moves_no_vip(cluster):
    """Every switch runs in one ovs-vswitchd: stopped for 0.1 s, it silences BFD towards both
    proxies at once, and the sessions come back one by one over a second or two. The controller
    must not take that for a proxy's failure, and while it holds BFD's verdicts the edges'
    groups must not hand the standby the VIP as the standby's sessions come back first. (At the
    stall's onset, in the milliseconds between the active's and the standby's sessions expiring,
    the edge may send the standby a packet or two: see docs/HOW-IT-WORKS.md.)"""
    wait_for(lambda: bfd_at_full_rate(cluster), 10, "BFD not up at full rate on every proxy cable")
    active = status(cluster)["active_proxy"]
    standby = next(p for p in cluster.description.proxies if p != active)
    pid = ovs_vswitchd_pid()
    stream = request_stream(cluster, 600)
    started, during_holds = time.time(), []
    try:
        for _ in range(4):
            wait_for(lambda: bfd_at_full_rate(cluster), 10, "BFD not up at full rate on every proxy cable")
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(0.15)             # over BFD's 60 ms detection time
            finally:
                os.kill(pid, signal.SIGCONT)
            wait_for(lambda: status(cluster)["bfd"]["held"], 2, "no stall noticed")
            time.sleep(0.2)                  # the pinned groups are on the edges
            flush_counters()
            held_from = vip_packets(cluster, standby)
            wait_for(lambda: not status(cluster)["bfd"]["held"], 5, "BFD's verdicts still held")
            flush_counters()
            during_holds.append(vip_packets(cluster, standby) - held_from)
        result = json.loads(stream.communicate(timeout=60)[0])
    finally:
        stream.kill()
    assert during_holds == [0] * 4
    assert status(cluster)["active_proxy"] == active
    assert result["errors"] == 0, result
    actions = [e["event.action"] for e in cluster.controller_events(started)]
    assert "proxy-failover" not in actions and actions.count("bfd-held") == 4, actions
