"""VIP load balancing in NAT, TUN and DR: reachability, Maglev shares, no controller on the
forwarding path, direct return in TUN/DR, and connection affinity across changes."""
import hashlib
import json
import os
import re
import time

import pytest

from apps.webserver import pattern
from tests.emulation.helpers import CLIENTS
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module", params=["nat", "tun", "dr"])
def cluster(request):
    with Cluster(mode=request.param, clients=4, webs=3) as running:
        running.rest("DELETE", "/lb/backends/web3")   # in reserve for the affinity test
        yield running


def packet_ins(cluster):
    return cluster.rest("GET", "/lb/status")["packet_in"]


def backend(cluster, name):
    return next(b for b in cluster.rest("GET", "/lb/backends")["backends"] if b["name"] == name)


def test_every_client_reaches_the_vip_by_ping_and_http(cluster):
    for client in CLIENTS:
        host = cluster.host(client)
        assert " 0% packet loss" in host.cmd("ping -c2 -W2 %s" % cluster.vip), client
        response = host.cmd("curl -s -m 5 -D - http://%s/" % cluster.vip)
        served_by = json.loads(response.strip().splitlines()[-1])["served_by"]   # the body
        assert served_by in ("web1", "web2")
        assert "X-Served-By: %s" % served_by in response


def test_equal_weights_share_evenly_and_the_controller_stays_out(cluster):
    before = packet_ins(cluster)
    counts, errors = cluster.served_counts()
    assert errors == 0
    assert sum(counts.values()) == 400 and set(counts) == {"web1", "web2"}
    for web in ("web1", "web2"):
        assert 0.40 <= counts[web] / 400 <= 0.60, counts
    assert packet_ins(cluster) - before < 4      # under 1% of 400 connections


def test_weights_3_to_1_give_three_quarters(cluster):
    cluster.rest("PUT", "/lb/backends/web1", {"weight": 3})
    try:
        counts, errors = cluster.served_counts()
    finally:
        cluster.rest("PUT", "/lb/backends/web1", {"weight": 1})
    assert errors == 0
    assert 0.65 <= counts["web1"] / 400 <= 0.85, counts


def test_replies_bypass_the_proxy_in_tun_and_dr_and_nat_keeps_the_client_address(cluster):
    size = 20_000_000
    uplink_ports = [(proxy, cluster.description.proxy_uplink(proxy)) for proxy in cluster.description.proxies]
    before = sum(cluster.port_bytes(proxy, port)[1] for proxy, port in uplink_ports)
    received = cluster.host("c1").cmd("curl -s -m 60 -o /dev/null -w '%%{size_download}' "
                                      "'http://%s/download?bytes=%d'" % (cluster.vip, size))
    through_proxies = sum(cluster.port_bytes(proxy, port)[1] for proxy, port in uplink_ports) - before
    assert int(received) == size
    if cluster.mode == "nat":
        assert through_proxies >= size
        client_ip = cluster.description.host("c1").ip
        sources = set()
        for web in ("web1", "web2"):
            with open(os.path.join(cluster.log_dir, "%s-access.jsonl" % web)) as log:
                sources |= {json.loads(line)["source.ip"] for line in log}
        assert client_ip in sources
    else:
        assert through_proxies < 0.05 * size, through_proxies


def test_a_long_lived_connection_survives_weights_drain_and_a_new_server(cluster):
    size, rate = 3_000_000, 300_000          # about 10 s
    body = os.path.join(cluster.run_dir, "slow-download.bin")
    headers = body + ".headers"
    download = cluster.host("c1").popen(
        ["curl", "-s", "-m", "60", "-D", headers, "-o", body,
         "http://%s/download?bytes=%d&rate=%d" % (cluster.vip, size, rate)])
    try:
        deadline = time.monotonic() + 10
        while not (os.path.exists(headers) and "X-Served-By" in open(headers).read()):
            assert time.monotonic() < deadline, "no response headers"
            time.sleep(0.1)
        serving = re.search(r"X-Served-By: (\S+)", open(headers).read()).group(1)
        other = "web2" if serving == "web1" else "web1"
        deadline = time.monotonic() + 5    # counters are polled every second
        while backend(cluster, serving)["active_connections"] < 1:
            assert time.monotonic() < deadline, "the connection is not counted"
            time.sleep(0.2)
        for change in (("PUT", "/lb/backends/" + serving, {"weight": 2}),
                       ("PUT", "/lb/backends/" + other, {"weight": 3}),
                       ("PUT", "/lb/backends/" + other, {"weight": 0}),
                       ("POST", "/lb/backends", {"name": "web3"})):
            cluster.rest(*change)
            time.sleep(1)
        assert download.wait(timeout=60) == 0
    finally:
        cluster.rest("PUT", "/lb/backends/web1", {"weight": 1})
        cluster.rest("PUT", "/lb/backends/web2", {"weight": 1})
        if "web3" in {b["name"] for b in cluster.rest("GET", "/lb/backends")["backends"] if b["in_service"]}:
            cluster.rest("DELETE", "/lb/backends/web3")
    with open(body, "rb") as f:
        got = f.read()
    assert len(got) == size
    assert hashlib.sha256(got).digest() == hashlib.sha256(pattern(0, size)).digest()
