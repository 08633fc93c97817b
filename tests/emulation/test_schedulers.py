"""LVS's schedulers and persistence on the wire, one VIP each, by DR: sh keeps every connection
of a client on one real server; fo gives every new connection to the highest weight, and to the
next once it fails; wlc sends new connections to the real server with the fewest open ones;
persistence keeps a client on its real server across a weight change and while the server is
quiescent, and forgets it after its timeout."""
import subprocess
import time
from collections import Counter

import pytest

from tests.emulation.helpers import http_served, wait_for
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation

SH, FO, PERSISTENT, WLC = "10.0.0.100", "10.0.0.101", "10.0.0.102", "10.0.0.103"
PERSISTENCE = 15      # s: short, so that the test sees an entry expire, and well above a weight change
RULES = [
    "-A -t %s:80 -s sh" % SH,
    "-a -t %s:80 -r 10.0.1.11:80 -g -w 1" % SH,
    "-a -t %s:80 -r 10.0.1.12:80 -g -w 1" % SH,
    "-A -t %s:80 -s fo" % FO,
    "-a -t %s:80 -r 10.0.1.11:80 -g -w 1" % FO,
    "-a -t %s:80 -r 10.0.1.12:80 -g -w 5" % FO,
    "-A -t %s:80 -s mh -p %d" % (PERSISTENT, PERSISTENCE),
    "-a -t %s:80 -r 10.0.1.11:80 -g -w 1" % PERSISTENT,
    "-a -t %s:80 -r 10.0.1.12:80 -g -w 1" % PERSISTENT,
    "-A -t %s:80 -s wlc" % WLC,
    "-a -t %s:80 -r 10.0.1.11:80 -g -w 1" % WLC,
    "-a -t %s:80 -r 10.0.1.12:80 -g -w 1" % WLC,
]
ADDRESSES = {"web1": "10.0.1.11", "web2": "10.0.1.12"}


@pytest.fixture(scope="module")
def cluster():
    with Cluster(mode="dr", clients=3, webs=2, services=RULES) as running:
        yield running


def served(cluster, client, vip, connections=20):
    """Which real server answered each of `connections` connections (each from a new source
    port), as a Counter; no request may fail."""
    counts, errors = http_served(cluster, client, "http://%s/" % vip, connections)
    assert errors == 0, counts
    return counts


def weight(cluster, vip, web, value):
    cluster.ipvsadm("-e -t %s:80 -r %s:80 -g -w %d" % (vip, ADDRESSES[web], value))


def test_source_hashing_keeps_every_connection_of_a_client_on_one_real_server(cluster):
    reached = {client: served(cluster, client, SH) for client in ("c1", "c2", "c3")}
    assert all(len(counts) == 1 and sum(counts.values()) == 20 for counts in reached.values()), reached
    assert "sh (Maglev by client address" in cluster.ipvsadm("-Ln")


def test_weighted_least_connection_sends_new_connections_where_fewest_are_open(cluster):
    weight(cluster, WLC, "web2", 0)                                    # drained: the downloads all go to web1
    downloads = [cluster.host("c2").popen(["curl", "-s", "-o", "/dev/null", "-m", "30",
                                           "http://%s/download?bytes=300000&rate=30000" % WLC],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(10)]
    try:
        wait_for(lambda: _active(cluster, WLC).get("web1", 0) >= 10, 10, "10 open downloads on web1")
        weight(cluster, WLC, "web2", 1)
        time.sleep(2.5)                                                # a counter poll or two
        counts = served(cluster, "c1", WLC, connections=10)
        # mh would split them about evenly; wlc sends them to web2, which has none open (at most
        # one goes to web1 if a poll lands amid them and levels a share)
        assert counts["web2"] >= 9, counts
    finally:
        for download in downloads:
            download.wait(timeout=40)


def _active(cluster, vip):
    service = next(s for s in cluster.rest("GET", "/lb/services")["services"] if s["vip"] == vip)
    return {r["name"]: r["active_connections"] for r in service["real_servers"]}


def test_persistence_keeps_a_client_on_its_real_server_until_its_timeout(cluster):
    (first,) = served(cluster, "c1", PERSISTENT)                       # 20 connections, one real server
    other = next(web for web in ADDRESSES if web != first)
    # c1 is idle from here: the weight changes wait for the switches, a few seconds at most, and
    # must come well inside the timeout (the listing is read only every few seconds, so it is
    # checked after c1's next connections have refreshed the entry)
    weight(cluster, PERSISTENT, other, 3)                              # most slots move to the other
    weight(cluster, PERSISTENT, first, 0)                              # and its own server is quiescent
    assert served(cluster, "c1", PERSISTENT, connections=10) == Counter({first: 10})
    assert served(cluster, "c3", PERSISTENT, connections=5) == Counter({other: 5})    # a new client
    wait_for(lambda: _persisted(cluster) == [("10.0.0.11/32", first), ("10.0.0.13/32", other)],
             PERSISTENCE, "c1's and c3's persistence entries listed")
    listing = cluster.ipvsadm("-Ln --persistent-conn")
    assert "TCP  %s:80 mh (Maglev, 256 slots) persistent %d" % (PERSISTENT, PERSISTENCE) in listing
    assert "-t %s:80 client 10.0.0.11/32 -> %s (%s)" % (PERSISTENT, ADDRESSES[first], first) in listing
    # idle: the entries expire; a poll that no longer finds c1's shows it is gone
    wait_for(lambda: ("10.0.0.11/32", first) not in _persisted(cluster), 2 * PERSISTENCE, "c1's entry expired")
    assert served(cluster, "c1", PERSISTENT, connections=5) == Counter({other: 5})
    weight(cluster, PERSISTENT, first, 1)


def _persisted(cluster):
    return sorted((e["client"], e["real_server"]) for e in cluster.rest("GET", "/lb/persistence")["entries"])


def test_failover_takes_the_highest_weight_and_the_next_once_it_fails(cluster):
    assert served(cluster, "c1", FO) == Counter({"web2": 20})
    cluster.fail("web2", "crash")
    try:
        wait_for(lambda: _state(cluster, FO, "web2") == "down", 10, "web2 down")
        assert served(cluster, "c1", FO, connections=10) == Counter({"web1": 10})
    finally:
        cluster.recover("web2")
    wait_for(lambda: _state(cluster, FO, "web2") == "up", 20, "web2 back up")
    assert served(cluster, "c2", FO, connections=10) == Counter({"web2": 10})


def _state(cluster, vip, web):
    """The real server's state, once the switches have the flows that follow from it."""
    if not cluster.rest("GET", "/lb/status")["flows_in_sync"]:
        return None
    service = next(s for s in cluster.rest("GET", "/lb/services")["services"] if s["vip"] == vip)
    return next(r["state"] for r in service["real_servers"] if r["name"] == web)
