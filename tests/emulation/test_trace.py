"""`trace` against live switches in NAT, DR and TUN: the real server a trace names for a source
port is the one a real connection from that port reaches; a blocked client, a forbidden
destination and the standby's direction are explained as they happen."""
import json

import pytest

from tests.emulation.helpers import status, wait_for
from topologies.runstate import ClusterError
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module", params=["nat", "dr", "tun"])
def cluster(request):
    with Cluster(mode=request.param, clients=2, webs=2) as running:
        yield running


def served_from_port(cluster, client, sport):
    """The real server a connection from `client`'s port `sport` to the VIP reaches."""
    answer = cluster.host(client).cmd("curl -s -m 5 --local-port %d http://%s/" % (sport, cluster.vip))
    return json.loads(answer)["served_by"]


def test_the_traced_real_server_is_the_one_a_connection_from_that_port_reaches(cluster):
    seen = set()
    for sport in range(41000, 41008):
        traced = cluster.trace("c1", cluster.vip, 80, sport=sport)
        assert traced["real_server"] == served_from_port(cluster, "c1", sport), "\n".join(traced["lines"])
        assert traced["reached"] == traced["real_server"] and traced["method"] == cluster.mode
        seen.add(traced["real_server"])
    assert seen == {"web1", "web2"}, "8 source ports all hashed to one real server"


def test_a_forbidden_destination_is_dropped_by_segmentation(cluster):
    # web1 serves on port 80, but a client may reach it only through the VIP
    traced = cluster.trace("c1", "web1", 80)
    assert traced["dropped"]["kind"] == "deny" and traced["dropped"]["switch"] == cluster.description.public_edge
    assert "verdict: dropped at s_pub, table 1 segment: deny rule" in traced["lines"][-1]
    web1 = cluster.description.host("web1").ip
    assert cluster.host("c1").cmd("curl -s -m 1 -o /dev/null -w %%{http_code} http://%s/" % web1).strip() == "000"


def test_a_blocked_client_is_dropped_by_the_block_rule(cluster):
    """Traced right after each change, which the REST API answers before the switches hold it:
    the trace waits for them."""
    cluster.rest("POST", "/lb/blocks", {"ip": cluster.description.host("c2").ip, "seconds": 60})
    try:
        traced = cluster.trace("c2", cluster.vip, 80)
        assert traced["flows_in_sync"], traced["lines"]
        assert (traced["dropped"]["table"], traced["dropped"]["kind"]) == (0, "block"), traced["lines"]
        assert "priority 500 (block)" in traced["lines"][-1]
    finally:
        cluster.rest("DELETE", "/lb/blocks/%s" % cluster.description.host("c2").ip)
    traced = cluster.trace("c2", cluster.vip, 80)
    assert traced["flows_in_sync"] and traced["dropped"] is None, traced["lines"]


def test_the_trace_follows_the_failover_group_to_the_standby(cluster):
    active = status(cluster)["active_proxy"]
    standby = next(p for p in cluster.description.proxies if p != active)
    assert cluster.trace("c1", cluster.vip, 80)["proxy"] == active
    cluster.fail(active, "link")
    try:
        wait_for(lambda: status(cluster)["active_proxy"] == standby, 5, "no failover to %s" % standby)
        traced = cluster.trace("c1", cluster.vip, 80, sport=42000)   # a port in no TIME_WAIT yet
        assert traced["proxy"] == standby
        lines = "\n".join(traced["lines"])
        assert "group 2 (failover): the first live proxy" in lines
        assert "out by port %d to %s" % (cluster.description.proxy_port("s_pub", standby), standby) in lines
        wait_for(lambda: cluster.host("c1").cmd("curl -s -m 2 http://%s/" % cluster.vip).strip(), 10,
                 "the VIP does not answer through %s" % standby)
        assert traced["real_server"] == served_from_port(cluster, "c1", 42000)
    finally:
        cluster.recover(active)
    wait_for(lambda: all(p["role"] != "down" for p in status(cluster)["proxies"]), 10, "a proxy stayed down")


@pytest.mark.parametrize("args, said", [
    (("c9", "10.0.0.100"), "no host named 'c9' to trace from"),
    (("c1", "192.0.2.1"), "'192.0.2.1' is outside the cluster"),
    (("c1", "10.0.0.100", 0), "the port must be from 1 to 65535, got 0"),
    (("c1", "10.0.0.100", 80, "gre"), "protocol 'gre' is not one trace follows"),
])
def test_a_bad_trace_is_refused_in_one_line(cluster, args, said):
    with pytest.raises(ClusterError, match="answered 400: " + said):
        cluster.trace(*args)
