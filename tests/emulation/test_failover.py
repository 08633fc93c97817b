"""Proxy failover in NAT, TUN and DR: the active proxy crashes, loses its links, or hangs while
its OpenFlow channel lives; the standby takes the VIP, clients keep being served, a transfer in
flight completes byte for byte, and the two proxies never carry the VIP at once. The edges'
fast-failover groups move the VIP in the datapath (on the carrier's loss, or BFD's silence),
so a failover costs a client at most the one request in flight at that instant (its packets on
a cable that died), with or without the controller."""
import hashlib
import json
import os
import time

import pytest

from apps.webserver import pattern
from tests.emulation.helpers import ProxySampler, request_stream, status, wait_for
from topologies.cluster import Cluster

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
    assert sampler.handovers_violated([(started, active), (failed, standby)]) == [], sampler.carriers()
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
