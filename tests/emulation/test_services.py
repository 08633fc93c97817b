"""Many virtual services in one cluster, as ipvsadm defines them: TCP 80 and UDP 53 on 10.0.0.100
by NAT, TCP 8080 on 10.0.0.101 by DR. Every client is served on all three, each service spread
over both real servers; the DR service's replies bypass the proxies; a scan finds exactly those
ports open on each VIP; services added and removed with `lb`'s commands under traffic on another;
`lb -S` read back gives the same services."""
import hashlib
import json
import os
import re
import subprocess
import time
from collections import Counter

import pytest

from apps.webserver import pattern
from tests.emulation.helpers import flush_counters, http_served, wait_for
from topologies.cluster import Cluster, ClusterError
from topologies.realservers import Program

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


def dns_state(cluster, web, protocol="udp"):
    """(web's state in the DNS service, in the web service on 80) as the controller has them."""
    services = cluster.rest("GET", "/lb/services")["services"]
    return tuple(next(r["state"] for s in services if s["protocol"] == p and s["port"] == port
                      for r in s["real_servers"] if r["name"] == web) for p, port in ((protocol, 53), ("tcp", 80)))


def test_a_dead_dns_server_leaves_the_dns_service_only(cluster):
    """A client asking every 100 ms (1 s timeout) while its real server's DNS server dies: at
    most one query fails, then the other real server answers; the first stays in the web
    service."""
    client, web = "c1", next(iter(dns_served(cluster, "c1", queries=1)[0]))
    query = "a=$(dig @10.0.0.100 whoami.lvsdn +short +time=1 +tries=1 | grep -xE '[0-9.]+' | head -1); echo ${a:-FAIL}"
    asking = cluster.host(client).popen(["bash", "-c", "for i in $(seq 40); do %s; sleep 0.1; done" % query],
                                        stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    cluster.real_servers.kill(web, Program("udp", 53, "dns"))
    try:
        wait_for(lambda: dns_state(cluster, web) == ("down", "up"), 5, "%s out of the DNS service only" % web)
        answers = asking.communicate(timeout=60)[0].split()
        other = next(a for a, w in ADDRESSES.items() if w != web)
        assert len(answers) == 40 and answers.count("FAIL") <= 1 and answers[-10:] == [other] * 10, answers
        served, errors = http_served(cluster, client, "http://10.0.0.100/")
        assert errors == 0 and web in served                             # still in the web service
    finally:
        cluster.real_servers.start_program(web, Program("udp", 53, "dns"))
        wait_for(lambda: dns_state(cluster, web) == ("up", "up"), 10, "%s back in the DNS service" % web)


def test_the_active_proxy_crashed_under_load_on_every_service(cluster):
    """Downloads on both TCP services and a client on each service across the crash of the
    active proxy: every download arrives byte for byte, every service keeps answering."""
    active = cluster.rest("GET", "/lb/status")["active_proxy"]
    size, rate = 3_000_000, 600_000                 # 5 s downloads spanning the failover
    downloads = {url: (cluster.host("c3").popen(["curl", "-s", "-m", "60", "-o", body, "%s/download?bytes=%d&rate=%d"
                                                 % (url, size, rate)]), body)
                 for url, body in (("http://10.0.0.100", os.path.join(cluster.run_dir, "nat.bin")),
                                   ("http://10.0.0.101:8080", os.path.join(cluster.run_dir, "dr.bin")))}
    streams = [cluster.app("c2", "apps.loadclient", "--url", url, "--connections", 100, "--interval", 0.03,
                           "--timeout", 2) for url in ("http://10.0.0.100/", "http://10.0.0.101:8080/")]
    time.sleep(1.5)
    cluster.fail(active, "crash")
    try:
        dns, failed = dns_served(cluster, "c4", queries=10)
        results = [json.loads(stream.communicate(timeout=60)[0]) for stream in streams]
        assert all(download.wait(timeout=60) == 0 for download, _ in downloads.values())
    finally:
        cluster.recover(active)
    assert failed <= 1 and sum(dns.values()) >= 9, dns
    for result in results:       # a SYN lost inside the crashed proxy costs a client its 1 s retry, no more
        assert result["errors"] <= 1 and sum(result["served_by"].values()) >= 99, result
    for _, body in downloads.values():
        with open(body, "rb") as f:
            assert hashlib.sha256(f.read()).digest() == hashlib.sha256(pattern(0, size)).digest()


def test_services_added_over_rest_survive_a_controller_restart(cluster):
    cluster.rest("POST", "/lb/services", {"protocol": "udp", "vip": "10.0.0.102", "port": 5000})
    cluster.rest("POST", "/lb/services/udp/10.0.0.102/5000/real_servers", {"address": "10.0.1.12", "method": "dr"})

    def indexes():
        return {s["service"]: s["index"] for s in cluster.rest("GET", "/lb/services")["services"]}
    try:
        before, numbered = cluster.ipvsadm("-S"), indexes()
        cluster.fail("controller", "crash")
        cluster.recover("controller")
        assert cluster.ipvsadm("-S") == before and "-A -u 10.0.0.102:5000 -s mh" in before
        assert indexes() == numbered                   # the indexes its connections' marks carry
    finally:
        cluster.ipvsadm("-D -u 10.0.0.102:5000")


def service_state(cluster, port):
    return next(s["state"] for s in cluster.rest("GET", "/lb/services")["services"] if s["port"] == port)


def test_a_sorry_server_answers_while_no_real_server_is_up(cluster):
    cluster.ipvsadm("-A -t 10.0.0.102:9000 -s mh")
    cluster.ipvsadm("-a -t 10.0.0.102:9000 -r 10.0.1.11:9000 -m")
    cluster.services.set_sorry_server("-t 10.0.0.102:9000", "10.0.1.12", 9000, "nat")
    web = Program("tcp", 9000, "web")
    try:
        assert http_served(cluster, "c1", "http://10.0.0.102:9000/", 10) == (Counter(web1=10), 0)
        cluster.real_servers.kill("web1", web)
        wait_for(lambda: service_state(cluster, 9000) == "sorry", 5, "the sorry server never stood in")
        assert http_served(cluster, "c1", "http://10.0.0.102:9000/", 10) == (Counter(web2=10), 0)
        cluster.real_servers.start_program("web1", web)
        wait_for(lambda: service_state(cluster, 9000) == "up", 10, "web1 never came back")
        assert http_served(cluster, "c1", "http://10.0.0.102:9000/", 10) == (Counter(web1=10), 0)
    finally:
        cluster.ipvsadm("-D -t 10.0.0.102:9000")


def test_saved_rules_read_back_give_the_same_services(cluster):
    saved = cluster.ipvsadm("-S")
    assert sorted(saved.splitlines()) == sorted(RULES)
    listed = cluster.ipvsadm("-Ln")
    assert "UDP  10.0.0.100:53 mh" in listed and "-> 10.0.1.12:8080" in listed
