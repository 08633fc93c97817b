"""controller/trace.py on ofproto/trace's real output.

tests/data/traces/ holds what Open vSwitch answered, in order, to each ofproto/trace that a trace
ran on a real cluster (`Cluster(mode=MODE, clients=2, webs=2)`, lb1 active), beside the real
server that `curl --local-port` from the same source port reached there. Replaying them checks
both the flows the trace asks (each hop's packet, in order) and its reading of the answers;
tests/emulation/test_trace.py runs the same against live switches.
"""
import json
import os

import pytest

from controller import trace
from controller.servicebook import InvalidRequest
from controller.state import ClusterState
from core.builder import describe

TRACES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "traces")


def recorded(name):
    with open(os.path.join(TRACES, name + ".json")) as f:
        return json.load(f)


def replay(name):
    """The trace of a recorded case, each ofproto/trace answered from the recording (the flow
    asked must be the one recorded)."""
    record = recorded(name)
    description = describe(mode=record["mode"], clients=2, webs=2)
    view = ClusterState(description).view()
    runs = list(record["runs"])

    def run(bridge, flow):
        asked = runs.pop(0)
        assert (bridge, flow) == (asked[0], asked[1])
        return asked[2]
    request = trace.trace_request(description, view, record["source"], record["destination"], **record["options"])
    result = trace.trace(description, view, request, run)
    assert not runs, "the trace stopped before the recorded hops"
    return record, result


@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
@pytest.mark.parametrize("sport", ["40000", "40002"])
def test_the_real_server_traced_is_the_one_a_connection_from_that_port_reached(mode, sport):
    record, result = replay("%s-vip-%s" % (mode, sport))
    assert result["real_server"] == record["served_by"]
    assert result["reached"] == record["served_by"]
    assert (result["proxy"], result["method"], result["dropped"]) == ("lb1", mode, None)
    assert [h["switch"] for h in result["hops"]] == ["s_pub", "lb1", "s_lan"]


def test_each_rule_is_named_by_its_table_kind_and_priority():
    _, result = replay("nat-vip-40000")
    first = result["hops"][0]["rules"][0]["rule"]
    assert first.startswith("table 0 ingress: guard rule (port security and segmentation: what may pass), "
                            "priority 100 (match), matched ip in_port=4 (from c1)")
    lines = "\n".join(result["lines"])
    for said in ("group 2 (failover): the first live proxy", "out by port 1 to lb1",
                 "looked up in the connection tracker (zone 1): a new connection then table 1 connections",
                 "group 257 (select: the real servers of -t 10.0.0.100:80", "real server: web1 (10.0.1.11:80)",
                 "a SYN copy to the other proxy", "ip_dst set to 10.0.1.11 (web1)", "out by port 4 to web1",
                 "through meter 1 (the connection log's copies)",
                 "verdict: reaches web1 by lb1, real server web1 (NAT)"):
        assert said in lines


def test_dr_rewrites_the_mac_only_and_tun_encapsulates():
    _, dr = replay("dr-vip-40000")
    _, tun = replay("tun-vip-40000")
    dr_lines, tun_lines = "\n".join(dr["lines"]), "\n".join(tun["lines"])
    assert "eth_dst set to 02:00:0a:00:01:0b (web1)" in dr_lines and "ip_dst set to" not in dr_lines
    assert "tun_dst set to 10.0.1.11 (web1)" in tun_lines
    assert "encapsulated in VXLAN: from 02:00:0a:00:01:02 10.0.1.2 to 02:00:0a:00:01:0b 10.0.1.11" in tun_lines
    # on s_lan the packet is the tunnel's outer one, from lb1's tunnel end
    assert tun["hops"][2]["packet"]["nw_src"] == "10.0.1.2" and "udp" in tun["hops"][2]["packet"]
    assert "eth_dst set to 02:01:0a:00:01:0b (web1's VXLAN device)" in tun_lines
    assert "matched in_port=LOCAL (from the switch itself)" in tun_lines


@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
def test_a_forbidden_destination_is_dropped_by_segmentation(mode):
    _, result = replay("%s-forbidden" % mode)
    assert result["dropped"]["switch"] == "s_pub" and result["dropped"]["table"] == 1
    assert result["dropped"]["kind"] == "deny"
    assert result["lines"][-1].startswith("verdict: dropped at s_pub, table 1 segment: deny rule (what "
                                          "segmentation refuses), priority 0 (miss)")
    assert result["reached"] is None and result["real_server"] is None


def test_a_blocked_client_is_dropped_by_the_block_rule_not_the_log_after_it():
    _, result = replay("nat-blocked")
    assert (result["dropped"]["table"], result["dropped"]["kind"]) == (0, "block")
    assert "priority 500 (block), matched ip nw_src=10.0.0.12 (c2)" in result["lines"][-1]


def test_the_failover_group_names_the_proxy_it_chose():
    _, result = replay("nat-failover")
    assert result["proxy"] == "lb2"
    lines = "\n".join(result["lines"])
    assert "group 2 (failover): the first live proxy\n        using bucket 0\n      out by port 2 to lb2" in lines


def test_r0_routes_and_a_host_reached_ends_the_trace():
    _, result = replay("nat-router")
    assert result["reached"] == "r0" and result["dropped"] is None
    assert "learns that this flow was seen" in "\n".join(result["lines"])


def test_the_datapath_hash_is_the_one_open_vswitch_computed():
    # seen in dpctl/dump-flows for c1:40000 -> 10.0.0.100:80: dp_hash(0x63d3fd0e/0xff)
    packet = {"tcp": None, "nw_src": "10.0.0.11", "nw_dst": "10.0.0.100", "tp_src": "40000", "tp_dst": "80"}
    assert trace.sym_l4_hash(packet) == 0x63d3fd0e
    udp = dict({k: v for k, v in packet.items() if k != "tcp"}, udp=None)
    assert trace.sym_l4_hash(udp) == trace.sym_l4_hash(dict(udp, tp_src="1234")), "UDP ports are not hashed"


@pytest.mark.parametrize("args, said", [
    (("c9", "10.0.0.100"), "no host named 'c9' to trace from"),
    (("c1", "8.8.8.8"), "'8.8.8.8' is outside the cluster"),
    (("c1", "10.0.0.100", "tcp", 70000), "the port must be from 1 to 65535, got 70000"),
    (("c1", "10.0.0.100", "tcp", "http"), "the port must be a number from 1 to 65535, got 'http'"),
    (("c1", "10.0.0.100", "tcp", 80, 0), "the source port must be from 1 to 65535, got 0"),
    (("c1", "10.0.0.100", "sctp"), "protocol 'sctp' is not one trace follows: tcp, udp or icmp"),
    (("c1", "10.0.0.100", "icmp", 80), "icmp has no ports"),
])
def test_a_bad_request_is_refused_in_one_line(args, said):
    description = describe()
    with pytest.raises(InvalidRequest, match=said.replace("(", r"\(").replace(")", r"\)")):
        trace.trace_request(description, ClusterState(description).view(), *args)


def test_a_request_names_hosts_and_defaults_the_ports():
    description = describe()
    request = trace.trace_request(description, ClusterState(description).view(), "c1", "web2")
    assert (request.destination, request.port, request.sport) == ("10.0.1.12", 80, trace.DEFAULT_SPORT)
