"""A keepalived.conf brought up as an emulated copy: its networks, its real servers at their
addresses, its virtual servers served with their schedulers, persistence granularity and
checkers' timers."""
import os
import subprocess

import pytest

from core.paths import ROOT
from tests.emulation.helpers import http_served, wait_for
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module")
def cluster():
    with Cluster(keepalived=os.path.join(ROOT, "tests", "data", "shop-keepalived.conf"), clients=2) as running:
        yield running


def test_the_file_s_addresses_and_timers_are_the_cluster_s(cluster):
    d = cluster.description
    assert [(w.name, w.ip) for w in d.real_servers] == [("web1", "172.16.6.1"), ("web2", "172.16.6.2"),
                                                        ("web3", "172.16.6.30")]     # web3: the sorry server
    assert d.vip == "172.16.5.10" and d.nat_gateway == "172.16.6.254"
    assert (cluster.health.interval, cluster.health.timeout, cluster.health.fall, cluster.health.rise) == (
        0.5, 1.0, 2, 1)
    listing = cluster.ipvsadm("-Ln")
    assert "TCP  172.16.5.10:80 wlc" in listing and "persistent 600 mask 255.255.255.0" in listing
    assert "UDP  172.16.5.10:53 sh" in listing


def test_persistence_granularity_keeps_a_whole_net_of_clients_on_one_real_server(cluster):
    reached = {}
    for client in ("c1", "c2"):
        counts, errors = http_served(cluster, client, "http://172.16.5.10/", connections=10)
        assert errors == 0 and len(counts) == 1, counts
        reached[client] = next(iter(counts))
    assert reached["c1"] == reached["c2"], reached    # both in 172.16.5.0/24: one entry


def test_the_dns_virtual_server_answers_from_its_real_server(cluster):
    out = cluster.host("c1").cmd("dig @172.16.5.10 whoami.lvsdn +short +time=2 +tries=2").strip()
    assert out == "172.16.6.2", out


def test_inhibit_on_failure_keeps_a_failed_server_s_download_and_persistent_clients(cluster):
    """A real server whose check fails (its DB link cut: /health answers 503) while its port is up
    is made quiescent, as keepalived's inhibit_on_failure makes it in LVS: a download under way
    goes on to its end, and a persistent client's next connection still reaches it."""
    (first,) = http_served(cluster, "c1", "http://172.16.5.10/", connections=1)[0]
    download = cluster.host("c1").popen(["curl", "-s", "-o", "/dev/null", "-m", "40", "-w", "%{size_download}",
                                         "http://172.16.5.10/download?bytes=300000&rate=30000"],
                                        stdout=subprocess.PIPE, text=True)
    cluster.host(first).cmd("ip link set %s-eth1 down" % first)
    try:
        wait_for(lambda: _row(cluster, first)["state"] != "up" and cluster.rest("GET", "/lb/status")["flows_in_sync"],
                 20, "%s's check failed" % first)
        assert _row(cluster, first)["inhibit_on_failure"] is True
        assert http_served(cluster, "c2", "http://172.16.5.10/", connections=3)[0] == {first: 3}
        assert download.communicate(timeout=60)[0] == "300000"
    finally:
        cluster.host(first).cmd("ip link set %s-eth1 up" % first)
    wait_for(lambda: _row(cluster, first)["state"] == "up", 30, "%s back up" % first)


def _row(cluster, web):
    service = next(s for s in cluster.rest("GET", "/lb/services")["services"] if s["port"] == 80)
    return next(r for r in service["real_servers"] if r["name"] == web)
