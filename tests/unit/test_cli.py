"""The CLI's `lb` and the harness's ipvsadm (topologies/virtualservices.py) on a stand-in
cluster whose REST answers come from a real ClusterState (the emulation tests drive the whole
harness)."""
import json
import logging

import pytest

from controller.state import ClusterState
from core.builder import describe
from topologies.cli import EXTRA_COMMANDS, ClusterCLI
from topologies.lbtable import rates
from topologies.runstate import ClusterError
from topologies.virtualservices import VirtualServices


class StandIn:
    """A cluster that is not running: its REST answers are the state's; changes are refused
    (the harness's set-up of real servers needs a running network)."""

    def __init__(self, mode="dr"):
        self.description = describe(mode=mode)
        self.state = ClusterState(self.description)
        self.services = VirtualServices(self)

    def rest(self, method, path, body=None):
        if (method, path) == ("GET", "/lb/services"):
            return {"services": self.state.services_view(), "rules": self.state.book.rules()}
        assert (method, path) == ("GET", "/lb/status")
        return self.state.status()

    def ipvsadm(self, line):
        return self.services.ipvsadm(line)

    def trace(self, source, destination, **options):
        self.traced = (source, destination, options)
        return {"lines": ["trace %s to %s" % (source, destination), "verdict: reaches web1"]}


def said(caplog, line, cluster=None, command="lb"):
    cli = ClusterCLI.__new__(ClusterCLI)       # not run: Mininet's CLI loops on stdin when made
    cli.cluster = cluster or StandIn()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="mininet"):
        getattr(cli, "do_" + command)(line)
    return "".join(r.getMessage() for r in caplog.records)


def test_status_is_a_few_lines_and_status_json_the_whole_answer(caplog):
    cluster = StandIn()
    shown = said(caplog, "", cluster, "status").splitlines()
    assert shown[0] == "VIPs down: 10.0.0.100 (DR forwarding by default; director sdn)"
    assert shown[1].startswith("proxies active-standby: lb1 down (no ") and "; BFD " in shown[1]
    assert "real servers: web1 10.0.1.11 unknown w1, web2 10.0.1.12 unknown w1" in shown
    assert "switches: 0 of 5 connected and ready (waiting: s_pub, s_lan, s_db, lb1, lb2); flows being written" \
        in shown
    assert len(shown) <= 12 and max(len(line) for line in shown) < 120
    assert json.loads(said(caplog, "--json", cluster, "status")) == cluster.state.status()
    assert said(caplog, "-x", cluster, "status") == "usage: status [--json]\n"


def test_help_lists_every_command_of_the_cluster_in_one_line_each(caplog):
    extra = {name[3:] for name in vars(ClusterCLI) if name.startswith("do_") and name != "do_help"}
    assert {name for name, _, _ in EXTRA_COMMANDS} == extra
    listed = said(caplog, "", command="help").splitlines()
    assert listed[0] == "The cluster's commands:"
    for name, usage, _ in EXTRA_COMMANDS:
        assert sum(line.strip().startswith(usage) for line in listed) == 1, name
    assert max(len(line) for line in listed) < 120


@pytest.mark.parametrize("line, asked", [
    ("c1 10.0.0.100", ("c1", "10.0.0.100", {"protocol": "tcp"})),
    ("c1 10.0.0.100 80 sport=40000", ("c1", "10.0.0.100", {"protocol": "tcp", "port": "80", "sport": "40000"})),
    ("c2 web1 udp 53", ("c2", "web1", {"protocol": "udp", "port": "53"})),
    ("c1 r0 icmp", ("c1", "r0", {"protocol": "icmp"})),
])
def test_trace_passes_its_words_to_the_harness_and_prints_the_lines(caplog, line, asked):
    cluster = StandIn()
    assert said(caplog, line, cluster, "trace") == "trace %s to %s\nverdict: reaches web1\n" % asked[:2]
    assert cluster.traced == asked


def test_trace_without_a_destination_shows_its_usage(caplog):
    assert said(caplog, "c1", command="trace").startswith("usage: trace SOURCE DESTINATION")


def test_lb_s_prints_the_rules_as_ipvsadm_saves_them(caplog):
    assert said(caplog, "-S") == ("-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.11:80 -g -w 1\n"
                                  "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -g -w 1\n")
    assert said(caplog, "-S -n") == said(caplog, "-S")


def test_lb_shows_every_service_as_ipvsadm_lists_them(caplog):
    cluster = StandIn()
    cluster.state.book.ipvsadm("-A -u 10.0.0.101:53 -s mh")
    cluster.state.book.ipvsadm("-a -u 10.0.0.101:53 -r 10.0.1.12 -g -w 3")
    web2 = cluster.description.host("web2").service_interface
    cluster.state.port_status(web2.switch, web2.port, False)        # its cable cut
    table = said(caplog, "", cluster).splitlines()
    assert table[0].startswith("IP Virtual Server (lvsdn): VIPs down, proxies active-standby")
    assert table[3] == "TCP  10.0.0.100:80 mh (Maglev, 256 slots)"
    assert table[4].split() == ["->", "10.0.1.11:80", "Route", "1", "0", "unknown", "256"]
    assert table[6] == "UDP  10.0.0.101:53 mh (Maglev, 256 slots)  [no real server up]"
    assert table[7].split() == ["->", "10.0.1.12:53", "Route", "3", "0", "down", "0"]
    assert said(caplog, "-Ln", cluster) == said(caplog, "", cluster)
    assert "Conns      InPkts     InBytes" in said(caplog, "-L -n --stats", cluster)


def test_the_rate_is_the_difference_of_two_readings():
    before = [{"service": "-t v:80", "real_servers": [{"rip": "r", "port": 80, "connections": 10, "packets": 100,
                                                      "bytes": 5000}]}]
    after = [{"service": "-t v:80", "real_servers": [{"rip": "r", "port": 80, "connections": 30, "packets": 400,
                                                     "bytes": 9000}]}]
    assert rates(before, after, 2.0) == {"-t v:80": {("r", 80): (10, 150, 2000)}}


@pytest.mark.parametrize("line, words", [
    ("-X", "error: ipvsadm -X: unknown option or stray word '-X'"),
    ("-A -t 10.0.0.100:80 -s mh", "error: ipvsadm: the virtual service -t 10.0.0.100:80 exists already"),
    ("-A -t 10.0.1.5:80 -s mh", "error: ipvsadm: -t 10.0.1.5:80: VIP 10.0.1.5 is inside the server LAN"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.12:80 -i", "error: ipvsadm: 10.0.1.12:80 is a real server of"),
])
def test_a_refused_command_says_why_in_one_line(caplog, line, words):
    assert said(caplog, line).startswith(words)


def test_a_tun_real_server_needs_a_cluster_started_with_tunnels(caplog):
    assert said(caplog, "-e -t 10.0.0.100:80 -r 10.0.1.12:80 -i").startswith(
        "error: ipvsadm: -t 10.0.0.100:80: 10.0.1.12 by TUN (-i): the proxies' tunnel ports are made at start")
    with pytest.raises(ClusterError):
        StandIn().ipvsadm("-Q")


def test_a_tun_sorry_server_needs_a_cluster_started_with_tunnels_too():
    cluster = StandIn()
    cluster.state.book.ipvsadm("-A -t 10.0.0.101:80 -s mh")
    cluster.state.book.ipvsadm("-a -t 10.0.0.101:80 -r 10.0.1.11 -g")
    with pytest.raises(ClusterError) as refused:
        cluster.services.set_sorry_server("-t 10.0.0.101:80", "10.0.1.12", method="tun")
    assert str(refused.value).startswith(
        "sorry server: -t 10.0.0.101:80: 10.0.1.12 by TUN (-i): the proxies' tunnel ports are made at start")
