"""Least privilege and port security on the wire, in NAT, DR and TUN: from the public side only the
VIP's service (and ping) is reachable, the DB tier only from the web tier, nothing opens a
connection it has no business opening; what the matrix forbids is dropped at the sender's port
and logged as blocked. A forged source is dropped at the port it came in on, and only the
forger is flagged: nobody can get another client banned."""
import json
import os
import re

import pytest

from core.addressing import ETCD_CLIENT_PORT
from tests.emulation.helpers import reaches_vip, status, wait_for
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module", params=["nat", "dr", "tun"])
def cluster(request):
    # The reviewer flags, but does not block: a scan must see every port it asks about.
    with Cluster(mode=request.param, clients=2, webs=2, review=True, block=False) as running:
        yield running


def open_ports(cluster, client, target, ports="1-1024"):
    """The TCP ports nmap finds open on `target` from `client` (bounded: one probe per port,
    1,000 a second, 60 s)."""
    out = cluster.host(client).cmd("nmap -sS -Pn -n -T4 -p %s --max-retries 0 --min-rate 1000 --host-timeout 60s %s"
                                   % (ports, target))
    assert "Nmap done: 1 IP address" in out, out
    return {int(port) for port in re.findall(r"^(\d+)/tcp\s+open\b", out, re.M)}


def blocked_attempts(cluster, source, destination):
    """The (destination port, switch) of connection attempts from `source` to `destination`
    that the log records as blocked."""
    with open(os.path.join(cluster.log_dir, "connections.jsonl")) as log:
        return {(r.get("destination.port"), r["observer.name"]) for r in map(json.loads, log)
                if r.get("event.action") == "connection-attempt" and r["source.ip"] == source
                and r["destination.ip"] == destination and r.get("event.outcome") == "blocked"}


def test_a_scan_from_the_public_side_finds_only_the_vips_service_open(cluster):
    d = cluster.description
    assert open_ports(cluster, "c1", d.vip) == {d.http_port}
    for target in (d.host("web1").ip, d.router.interface_on(d.lan_edge).ip, d.management_ip):
        assert open_ports(cluster, "c1", target, "22,80,443,2379,2380,6653,8080") == set(), target
    c1 = d.host("c1").ip
    wait_for(lambda: {(22, d.public_edge), (80, d.public_edge)} <= blocked_attempts(cluster, c1, d.host("web1").ip),
             5, "c1's attempts on web1's own address logged as blocked at s_pub")
    assert (22, d.public_edge) in blocked_attempts(cluster, c1, d.vip)
    assert reaches_vip(cluster, "c1") and status(cluster)["refused"] > 0


def http_code(cluster, host, url):
    """curl's verdict: the HTTP status, or 000 when nothing answered within 2 s."""
    return cluster.host(host).cmd("curl -s -o /dev/null -m 2 -w '%%{http_code}' %s" % url).strip()


def test_the_web_tier_reaches_etcd_and_the_public_side_does_not(cluster):
    d = cluster.description
    db1 = d.host("db1").ip
    health = "http://%s:%d/health" % (db1, ETCD_CLIENT_PORT)
    assert http_code(cluster, "web1", health) == "200"
    assert http_code(cluster, "c2", health) == "000"
    wait_for(lambda: (ETCD_CLIENT_PORT, d.public_edge) in blocked_attempts(cluster, d.host("c2").ip, db1), 5,
             "c2's attempt on etcd logged as blocked")


def test_a_db_host_cannot_open_a_connection_to_the_web_tier_or_a_client(cluster):
    d = cluster.description
    web1 = d.host("web1").interface_on(d.db_edge).ip        # a web server listens there too
    assert http_code(cluster, "db1", "http://%s:%d/" % (web1, d.http_port)) == "000"
    wait_for(lambda: (d.http_port, d.db_edge) in blocked_attempts(cluster, d.host("db1").ip, web1), 5,
             "db1's attempt logged as blocked at s_db")
    assert http_code(cluster, "db1", "http://%s:%d/" % (d.host("c1").ip, d.http_port)) == "000"
