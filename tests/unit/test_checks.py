"""Health checks per service, as keepalived's checkers: which check watches each real server of
each service, a real server up for one service and down for another, checks that follow the
services, and each checker against a real server program on loopback (dnsmasq, the UDP echo, a
TCP listener)."""
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from controller.checks import DNS_CHECK, HTTP_GET, TCP_CHECK, UDP_CHECK, CheckKey
from controller.health import FAIL, OK
from controller.healthcheck import HealthChecker
from controller.probe import check_connect, check_datagram, check_dns, dns_answered, dns_query
from controller.state import ClusterState
from core.builder import describe, with_services
from core.eventlog import EventLog
from core.paths import ROOT
from core.services import load_rules
from core.settings import HealthSettings
from tests.unit.conftest import free_port

RULES = """\
-A -t 10.0.0.100:80 -s mh
-a -t 10.0.0.100:80 -r 10.0.1.11 -m
-a -t 10.0.0.100:80 -r 10.0.1.12 -m
-A -u 10.0.0.100:53 -s mh
-a -u 10.0.0.100:53 -r 10.0.1.11 -m
-a -u 10.0.0.100:53 -r 10.0.1.12 -m
-A -t 10.0.0.101:8080 -s mh
-a -t 10.0.0.101:8080 -r 10.0.1.11 -g
"""
BASE = describe(webs=2)
D = with_services(BASE, load_rules(RULES, "rules", BASE))


def state():
    s = ClusterState(D)
    for key in s.checks:
        s.check_result(key, OK)          # every check up
    return s


def test_each_real_server_of_each_service_has_the_check_of_its_port():
    assert ClusterState(D).checks == {
        CheckKey("web1", "tcp", 80): HTTP_GET, CheckKey("web2", "tcp", 80): HTTP_GET,
        CheckKey("web1", "udp", 53): DNS_CHECK, CheckKey("web2", "udp", 53): DNS_CHECK,
        CheckKey("web1", "tcp", 8080): HTTP_GET}


def test_a_real_server_down_for_one_service_stays_in_the_others():
    s = state()
    for _ in range(HealthSettings().fall):
        s.check_result(CheckKey("web1", "udp", 53), FAIL)         # its DNS server died
    healthy = {v.key.port: set(v.healthy) for v in s.view().services}
    assert healthy == {80: {"web1", "web2"}, 53: {"web2"}, 8080: {"web1"}}
    dns = next(x for x in s.services_view() if x["protocol"] == "udp")
    assert [(r["name"], r["state"], r["check"]) for r in dns["real_servers"]] == [
        ("web1", "down", DNS_CHECK), ("web2", "up", DNS_CHECK)]


def test_the_checks_follow_the_services():
    s = state()
    s.book.ipvsadm("-A -t 10.0.0.102:443 -s mh")
    s.book.ipvsadm("-a -t 10.0.0.102:443 -r 10.0.1.12 -m")
    s.services_changed()
    assert s.checks[CheckKey("web2", "tcp", 443)] == TCP_CHECK
    assert s.real_server_state(D.host("web2"), CheckKey("web2", "tcp", 443)) == "unknown"
    s.book.ipvsadm("-D -u 10.0.0.100:53")
    s.services_changed()
    assert CheckKey("web1", "udp", 53) not in s.checks and CheckKey("web1", "udp", 53) not in s.service_checks


def test_a_round_checks_the_http_port_now_and_each_other_port_beside():
    s, asked, spawned = state(), [], []
    checkers = {kind: (lambda kind: lambda ip, port, *_: asked.append((kind, ip, port)) or (OK, None, None))(kind)
                for kind in (HTTP_GET, TCP_CHECK, DNS_CHECK, UDP_CHECK)}
    checker = HealthChecker(D, s, HealthSettings(), EventLog(None), lambda delay, *call: spawned.append(call),
                            lambda: None, check=checkers[HTTP_GET], checkers=checkers)
    checker.active_check(D.host("web1"))
    for call in spawned:
        call[0](*call[1:])
    assert sorted(asked) == [(DNS_CHECK, "10.0.1.11", 53), (HTTP_GET, "10.0.1.11", 80), (HTTP_GET, "10.0.1.11", 8080)]


def test_a_dns_answer_is_judged_by_its_id_and_its_answers():
    query = dns_query(0x1234)
    assert query[12:] == b"\x06whoami\x05lvsdn\x00\x00\x01\x00\x01"
    answer = bytes.fromhex("1234 8180 0001 0001 0000 0000") + query[12:]
    assert dns_answered(answer, 0x1234) is None
    assert dns_answered(answer, 0x4321) == "a reply to another query"
    assert dns_answered(bytes.fromhex("1234 8183 0001 0000 0000 0000"), 0x1234) == "rcode 3 with 0 answers"
    assert dns_answered(b"\x12", 0x1234) == "a reply of 1 bytes is no DNS message"


@pytest.fixture
def programs(tmp_path):
    """dnsmasq, the UDP echo and a TCP listener on loopback; (their ports), stopped after."""
    if os.geteuid() != 0 or not shutil.which("dnsmasq"):
        pytest.skip("needs root (checks bind to an interface) and dnsmasq: run scripts/install.sh")
    dns, echo = free_port(), free_port()
    started = [subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                                 "--no-hosts", "--user=root", "--pid-file=", "--port=%d" % dns,
                                 "--listen-address=127.0.0.1", "--bind-interfaces",
                                 "--address=/whoami.lvsdn/10.0.1.11"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
               subprocess.Popen([sys.executable, "-m", "apps.udpecho", "--name", "web1", "--port", str(echo)],
                                cwd=ROOT)]
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        time.sleep(0.5)
        yield dns, echo, listener.getsockname()[1]
    finally:
        listener.close()
        for process in started:
            process.terminate()
            process.wait(timeout=10)


def test_each_checker_against_a_real_program(programs):
    dns, echo, tcp = programs
    assert check_dns("127.0.0.1", dns, "lo", 1.0)[0] == OK
    assert check_datagram("127.0.0.1", echo, "lo", 1.0)[0] == OK
    assert check_connect("127.0.0.1", tcp, "lo", 1.0)[0] == OK
    closed = free_port()
    for check in (check_dns, check_datagram, check_connect):
        result, error, _ = check("127.0.0.1", closed, "lo", 0.5)
        assert result == FAIL and "ConnectionRefusedError" in error, (check, error)
