"""Both proxies carrying the VIP at once (active-active)."""
import pytest

from core.settings import ACTIVE_ACTIVE, ProxyPolicy
from tests.emulation.helpers import flush_counters, status, vip_packets, wait_for
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module", params=["nat", "tun", "dr"])
def active_active(request):
    with Cluster(mode=request.param, clients=4, webs=2, proxy_policy=ProxyPolicy(mode=ACTIVE_ACTIVE)) as running:
        yield running


def test_active_active_spreads_connections_and_survives_one_proxy(active_active):
    cluster = active_active
    assert status(cluster)["active_proxies"] == ["lb1", "lb2"]
    flush_counters()
    before = {p: vip_packets(cluster, p) for p in cluster.description.proxies}
    counts, errors = cluster.served_counts()
    flush_counters()
    carried = {p: vip_packets(cluster, p) - before[p] for p in cluster.description.proxies}
    assert errors == 0 and sum(counts.values()) == 400
    for proxy, packets in carried.items():
        assert 0.30 <= packets / sum(carried.values()) <= 0.70, carried
    cluster.fail("lb1", "crash")
    try:
        wait_for(lambda: status(cluster)["active_proxies"] == ["lb2"], 3, "lb1 was not taken out")
        counts, errors = cluster.served_counts()
        assert errors == 0 and sum(counts.values()) == 400
    finally:
        cluster.recover("lb1")
    wait_for(lambda: status(cluster)["active_proxies"] == ["lb1", "lb2"], 5, "lb1 did not rejoin")
