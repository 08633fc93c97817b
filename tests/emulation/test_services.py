"""Many virtual services in one cluster, as ipvsadm defines them: TCP 80 and UDP 53 on 10.0.0.100
by NAT, TCP 8080 on 10.0.0.101 by DR. Every client is served on all three, each service spread
over both real servers; the DR service's replies bypass the proxies; a scan finds exactly those
ports open on each VIP; services added and removed with `lb`'s commands under traffic on another;
`lb -S` read back gives the same services."""
import json
import re
from collections import Counter

import pytest

from tests.emulation.helpers import flush_counters
from topologies.cluster import Cluster, ClusterError

pytestmark = pytest.mark.emulation

RULES = [
    "-A -t 10.0.0.100:80 -s mh",
    "-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 1",
    "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1",
    "-A -t 10.0.0.101:8080 -s mh",
    "-a -t 10.0.0.101:8080 -r 10.0.1.11:8080 -g -w 1",
    "-a -t 10.0.0.101:8080 -r 10.0.1.12:8080 -g -w 1",
    "-A -u 10.0.0.100:53 -s mh",
    "-a -u 10.0.0.100:53 -r 10.0.1.11:53 -m -w 1",
    "-a -u 10.0.0.100:53 -r 10.0.1.12:53 -m -w 1",
]
CLIENTS = ("c1", "c2", "c3", "c4")
ADDRESSES = {"10.0.1.11": "web1", "10.0.1.12": "web2"}


@pytest.fixture(scope="module")
def cluster():
    with Cluster(mode="nat", clients=4, webs=2, services=RULES) as running:
        yield running


def http_served(cluster, client, url, connections=40):
    run = cluster.app(client, "apps.loadclient", "--url", url, "--connections", connections, "--timeout", 2)
    result = json.loads(run.communicate(timeout=120)[0])
    return Counter(result["served_by"]), result["errors"]


def dns_served(cluster, client, queries=20):
    """Which real server answered each of `queries` DNS queries (dig takes a new source port
    each time, so each query is a new flow): a Counter of web host names, and the failures."""
    out = cluster.host(client).cmd("for i in $(seq %d); do dig @10.0.0.100 whoami.lvsdn +short +time=1 +tries=1; "
                                   "done" % queries)
    answers = [line.strip() for line in out.splitlines() if line.strip()]
    served = Counter(ADDRESSES.get(a, a) for a in answers)
    return served, queries - len(answers)


def test_every_client_is_served_on_every_service_by_both_real_servers(cluster):
    """TCP services spread each client's connections (the datapath hashes the 5-tuple); a UDP
    service spreads the clients, each client's flows to one real server (Open vSwitch's
    select-group hash leaves UDP ports out: docs/PLATFORM.md), as LVS's mh does by default."""
    dns = Counter()
    for client in CLIENTS:
        for url in ("http://10.0.0.100/", "http://10.0.0.101:8080/"):
            served, errors = http_served(cluster, client, url)
            assert errors == 0 and set(served) == {"web1", "web2"}, (client, url, served)
        served, errors = dns_served(cluster, client)
        assert errors == 0 and len(served) == 1, (client, served)
        dns.update(served)
    assert set(dns) == {"web1", "web2"}, dns


def proxy_uplink_sent(cluster):
    """Bytes the proxies have sent towards the public side (their uplinks), together."""
    flush_counters()
    d = cluster.description
    return sum(cluster.port_bytes(p, d.proxy_uplink(p))[1] for p in d.proxies)


def download(cluster, url, size):
    out = cluster.host("c1").cmd("curl -s -m 20 -o /dev/null -w '%%{size_download}' '%s/download?bytes=%d'"
                                 % (url, size))
    assert out.strip() == str(size), out


def test_dr_replies_bypass_the_proxies_and_nat_replies_pass_them(cluster):
    size = 4 << 20
    before = proxy_uplink_sent(cluster)
    download(cluster, "http://10.0.0.101:8080", size)
    bypassed = proxy_uplink_sent(cluster) - before
    download(cluster, "http://10.0.0.100", size)
    passed = proxy_uplink_sent(cluster) - before - bypassed
    assert bypassed < size / 20 and passed > size, (bypassed, passed)


def open_ports(cluster, vip, scan):
    """The ports nmap (-sS or -sU) finds open on a VIP from c1 (bounded: one probe per port)."""
    out = cluster.host("c1").cmd("nmap %s -Pn -n -T4 -p 1-1024,5353,8080 --max-retries 0 --min-rate 1000 "
                                 "--host-timeout 60s %s" % (scan, vip))
    assert "Nmap done: 1 IP address" in out, out
    return {int(port) for port in re.findall(r"^(\d+)/(?:tcp|udp)\s+open\s", out, re.M)}


def test_a_scan_finds_exactly_each_vips_services_open(cluster):
    assert open_ports(cluster, "10.0.0.100", "-sS") == {80}
    assert open_ports(cluster, "10.0.0.101", "-sS") == {8080}
    assert open_ports(cluster, "10.0.0.100", "-sU") == {53}
    assert open_ports(cluster, "10.0.0.101", "-sU") == set()


def test_services_added_and_removed_under_traffic_on_another(cluster):
    stream = cluster.app("c2", "apps.loadclient", "--url", "http://10.0.0.100/", "--connections", 250,
                         "--interval", 0.02, "--timeout", 2)
    assert cluster.ipvsadm("-A -t 10.0.0.102:443 -s mh") == "virtual service -t 10.0.0.102:443 added"
    assert cluster.ipvsadm("-a -t 10.0.0.102:443 -r 10.0.1.12 -m -w 2").startswith("10.0.1.12:443 joined")
    served, errors = http_served(cluster, "c1", "http://10.0.0.102:443/", connections=10)
    assert (served, errors) == (Counter(web2=10), 0)
    assert cluster.ipvsadm("-D -t 10.0.0.101:8080") == "virtual service -t 10.0.0.101:8080 removed"
    assert open_ports(cluster, "10.0.0.101", "-sS") == set()
    result = json.loads(stream.communicate(timeout=60)[0])
    assert result["errors"] == 0 and set(result["served_by"]) == {"web1", "web2"}, result
    with pytest.raises(ClusterError) as refused:
        cluster.ipvsadm("-D -t 10.0.0.101:8080")
    assert "no virtual service -t 10.0.0.101:8080" in str(refused.value)
    cluster.ipvsadm("-D -t 10.0.0.102:443")
    for line in RULES[3:6]:
        cluster.ipvsadm(line)


def test_saved_rules_read_back_give_the_same_services(cluster):
    saved = cluster.ipvsadm("-S")
    assert sorted(saved.splitlines()) == sorted(RULES)
    listed = cluster.ipvsadm("-Ln")
    assert "UDP  10.0.0.100:53 mh" in listed and "-> 10.0.1.12:8080" in listed
