"""Many virtual services in one cluster, through the pipeline simulator (tests/fakeswitch.py):
TCP 80 and UDP 53 on 10.0.0.100 by NAT, TCP 8080 on 10.0.0.101 by DR, each over its own select
group, each connection's mark naming its service; services changed at run time with ipvsadm's
commands."""
import dataclasses

import pytest

from controller.checks import CheckKey
from controller.flows import switch_flows, switch_groups
from controller.health import FAIL
from controller.pipeline import ETH_ARP, ETH_IP, PROTO_ICMP, PROTO_TCP, PROTO_UDP, SYNC_MAC, service_group
from controller.specs import destination
from controller.state import ClusterState
from core.builder import describe, with_services
from core.ipvsadm import IpvsadmError, RealServerEntry
from core.rules import ConfigError
from core.services import load_rules
from tests.fakeswitch import FakeSwitch, Tracker

RULES = """\
-A -t 10.0.0.100:80 -s mh
-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m
-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m
-A -u 10.0.0.100:53 -s mh
-a -u 10.0.0.100:53 -r 10.0.1.11:5353 -m
-a -u 10.0.0.100:53 -r 10.0.1.12:5353 -m
-A -t 10.0.0.101:8080 -s mh
-a -t 10.0.0.101:8080 -r 10.0.1.11 -g
-a -t 10.0.0.101:8080 -r 10.0.1.12 -g
"""
BASE = describe(webs=3)
D = with_services(BASE, load_rules(RULES, "rules", BASE))
SYN = 0x002


class Cluster:
    def __init__(self, description=D):
        self.d = description
        self.state = ClusterState(description)
        self.state.proxies.active = ("lb1",)
        self.tracker = Tracker()
        self.slot = 0
        self.learned = {}       # proxy -> the flows it learned (persistence entries), kept as the switch keeps them

    def switch(self, name):
        view = self.state.view()
        learned = self.learned.setdefault(name, {})
        return FakeSwitch(switch_flows(self.d, name, view) + list(learned.values()), switch_groups(self.d, name, view),
                          self.tracker, hash_of=lambda packet: self.slot)

    def send(self, packet, proxy="lb1"):
        result = self.switch(proxy).send(packet)
        self.learned[proxy].update((flow.key, flow) for flow in result.learned)
        return result

    def packet(self, protocol, vip, port, sport=40000, client="c1", proxy="lb1", **extra):
        c = self.d.host(client).service_interface
        ports = {"tcp": dict(tcp_src=sport, tcp_dst=port, tcp_flags=SYN), "udp": dict(udp_src=sport, udp_dst=port),
                 "icmp": dict(icmpv4_type=8)}[protocol]
        number = {"tcp": PROTO_TCP, "udp": PROTO_UDP, "icmp": PROTO_ICMP}[protocol]
        packet = dict(in_port=self.d.proxy_uplink(proxy), eth_src=c.mac, eth_dst=self.d.vip_mac, eth_type=ETH_IP,
                      ipv4_src=c.ip, ipv4_dst=vip, ip_proto=number, **ports)
        return dict(packet, **extra)

    def to_server(self, packet, proxy="lb1"):
        """(web host, the packet as it left for it) of the one packet that left for a server."""
        result = self.send(packet, proxy)
        out = [(port, p) for port, p in result.outputs if p.get("eth_dst") != SYNC_MAC]
        assert len(out) == 1, result.outputs
        port, sent = out[0]
        assert port == self.d.proxy_downlink(proxy)
        return next(w.name for w in self.d.real_servers if w.service_interface.mac == sent["eth_dst"]), sent


def test_each_service_is_carried_by_its_own_method_and_port():
    c = Cluster()
    web, sent = c.to_server(c.packet("tcp", "10.0.0.100", 80))
    assert (sent["ipv4_dst"], sent["tcp_dst"]) == (c.d.host(web).ip, 80)                 # NAT
    web, sent = c.to_server(c.packet("udp", "10.0.0.100", 53))
    assert (sent["ipv4_dst"], sent["udp_dst"]) == (c.d.host(web).ip, 5353)               # NAT, to another port
    web, sent = c.to_server(c.packet("tcp", "10.0.0.101", 8080))
    assert (sent["ipv4_dst"], sent["tcp_dst"], sent["eth_src"]) == ("10.0.0.101", 8080, c.d.vip_mac)  # DR


def test_a_connections_mark_names_its_service_and_its_real_server():
    c = Cluster()
    indexes = {str(k): i for k, i in c.state.book.indexes.items()}
    for protocol, vip, port in (("tcp", "10.0.0.100", 80), ("udp", "10.0.0.100", 53), ("tcp", "10.0.0.101", 8080)):
        web, _ = c.to_server(c.packet(protocol, vip, port))
        key = "%s %s:%d" % ({"tcp": "-t", "udp": "-u"}[protocol], vip, port)
        assert destination(indexes[key], c.state.server_ids[web]) in c.tracker.marks(1).values()
    assert len(c.tracker.marks(1)) == 3


@pytest.mark.parametrize("slot", range(0, 256, 17))
def test_every_service_spreads_over_its_own_table(slot):
    c = Cluster()
    c.slot = slot
    for view in c.state.view().services:
        packet = c.packet(view.key.protocol, view.key.vip, view.key.port, sport=1000 + slot)
        assert c.to_server(packet)[0] == view.table[slot]


def test_a_udp_flow_keeps_its_real_server_and_its_replies_come_back_from_the_vip():
    c = Cluster()
    web, _ = c.to_server(c.packet("udp", "10.0.0.100", 53))
    c.slot = next(i for i, owner in enumerate(c.state.view().services[2].table) if owner != web)
    assert c.to_server(c.packet("udp", "10.0.0.100", 53))[0] == web      # the next datagram: tracked
    server = c.d.host(web).service_interface
    reply = dict(in_port=c.d.proxy_downlink("lb1"), eth_src=server.mac, eth_dst=c.d.gateway_mac, eth_type=ETH_IP,
                 ipv4_src=server.ip, ipv4_dst=c.d.host("c1").ip, ip_proto=PROTO_UDP, udp_src=5353, udp_dst=40000)
    ((port, out),) = c.switch("lb1").send(reply).outputs
    assert port == c.d.proxy_uplink("lb1") and (out["ipv4_src"], out["udp_src"]) == ("10.0.0.100", 53)


def test_each_vip_is_answered_and_steered_to_the_active_proxy():
    c = Cluster()
    for vip in ("10.0.0.100", "10.0.0.101"):
        arp = dict(in_port=c.d.proxy_uplink("lb1"), eth_src="02:00:0a:00:00:0b", eth_dst="ff:ff:ff:ff:ff:ff",
                   eth_type=ETH_ARP, arp_op=1, arp_spa="10.0.0.11", arp_tpa=vip, arp_sha="02:00:0a:00:00:0b")
        ((_, answer),) = c.switch("lb1").send(arp).outputs
        assert (answer["arp_spa"], answer["arp_sha"]) == (vip, c.d.vip_mac)
    assert {g.group_id for g in switch_groups(c.d, "lb1", c.state.view())} == {service_group(i) for i in (1, 2, 3)}


@pytest.mark.parametrize("protocol, vip, port, served", [
    ("tcp", "10.0.0.100", 80, True), ("udp", "10.0.0.100", 53, True), ("tcp", "10.0.0.101", 8080, True),
    ("icmp", "10.0.0.101", None, True),
    ("tcp", "10.0.0.100", 8080, False), ("udp", "10.0.0.101", 53, False), ("tcp", "10.0.0.101", 80, False),
    ("tcp", "10.0.0.102", 80, False),
])
def test_the_public_side_reaches_exactly_each_vips_services(protocol, vip, port, served):
    c = Cluster()
    client = c.d.host("c1").service_interface
    packet = c.packet(protocol, vip, port, in_port=client.port)
    result = c.switch("s_pub").send(packet)
    forwarded = [p for p, _ in result.outputs if p != client.port]
    assert bool(forwarded) == served, result


def test_a_service_added_and_one_removed_at_run_time_leave_the_others_alone():
    c = Cluster()
    before = {v.key: (v.index, v.table) for v in c.state.view().services}
    web, _ = c.to_server(c.packet("tcp", "10.0.0.101", 8080))
    assert c.state.book.ipvsadm("-D -t 10.0.0.100:80") == "virtual service -t 10.0.0.100:80 removed"
    assert c.state.book.ipvsadm("-A -t 10.0.0.100:443 -s mh") == "virtual service -t 10.0.0.100:443 added"
    assert c.state.book.ipvsadm("-a -t 10.0.0.100:443 -r 10.0.1.12 -m -w 3").startswith("10.0.1.12:443 joined")
    after = {v.key: (v.index, v.table) for v in c.state.view().services}
    assert [after[k] for k in before if k in after] == [before[k] for k in before if k in after]
    new = next(v for v in c.state.view().services if v.key.port == 443)
    assert new.index == 1 and set(new.table) == {"web2"}          # the lowest free index
    assert c.to_server(c.packet("tcp", "10.0.0.101", 8080, tcp_flags=0x010))[0] == web   # its connection stays
    assert c.to_server(c.packet("tcp", "10.0.0.100", 443))[0] == "web2"
    assert c.switch("lb1").send(c.packet("tcp", "10.0.0.100", 80)).outputs == []


@pytest.mark.parametrize("line, words", [
    ("-A -t 10.0.0.100:80 -s mh", "the virtual service -t 10.0.0.100:80 exists already"),
    ("-D -t 10.0.0.100:81", "no virtual service -t 10.0.0.100:81"),
    ("-A -t 10.0.1.11:80 -s mh", "VIP 10.0.1.11 is inside the server LAN"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.99 -m", "10.0.1.99 is not a web host of the cluster"),
    ("-A -u 10.0.0.100:54 -s lblc", "scheduler lblc is not carried out here"),
    ("-Ln", "-L shows the services"),
])
def test_a_change_that_cannot_work_is_refused_and_changes_nothing(line, words):
    c = Cluster()
    before = c.state.view()
    with pytest.raises(IpvsadmError) as refused:
        c.state.book.ipvsadm(line)
    assert words in str(refused.value)
    assert c.state.view() == before


def test_a_sorry_server_stands_in_only_while_no_real_server_is_up():
    c = Cluster()
    key = next(k for k in c.state.book.services if k.port == 8080)
    assert c.state.book.set_sorry(key, RealServerEntry("10.0.1.13", 8080, "dr")) == \
        "-t 10.0.0.101:8080's sorry server: 10.0.1.13:8080 (DR)"
    assert c.to_server(c.packet("tcp", "10.0.0.101", 8080))[0] in ("web1", "web2")     # not while they are up
    for web in ("web1", "web2"):
        intf = c.d.host(web).service_interface
        c.state.port_status(intf.switch, intf.port, False)
    view = next(v for v in c.state.view().services if v.key == key)
    assert set(view.table) == {"web3"} and view.healthy == ("web3",)
    assert c.to_server(c.packet("tcp", "10.0.0.101", 8080, sport=40001))[0] == "web3"
    listed = next(s for s in c.state.services_view() if s["port"] == 8080)
    assert listed["state"] == "sorry" and listed["sorry_server"]["in_use"] is True
    assert [r["name"] for r in listed["real_servers"]] == ["web1", "web2"]


@pytest.mark.parametrize("entry, words", [
    (RealServerEntry("10.0.1.11", 8080, "dr"), "its sorry server 10.0.1.11 is one of its real servers"),
    (RealServerEntry("10.0.1.99", 8080, "dr"), "10.0.1.99 is not a web host of the cluster"),
    (RealServerEntry("10.0.1.13", 9090, "dr"), "only NAT rewrites the port"),
])
def test_a_sorry_server_that_cannot_work_is_refused(entry, words):
    c = Cluster()
    key = next(k for k in c.state.book.services if k.port == 8080)
    with pytest.raises(ConfigError) as refused:
        c.state.book.set_sorry(key, entry)
    assert words in str(refused.value) and c.state.book.services[key].sorry_server is None


@pytest.mark.parametrize("inhibit, continues_on", [(True, "its own server"), (False, "another")])
def test_a_failed_check_keeps_the_connections_of_an_inhibited_real_server_only(inhibit, continues_on):
    key = next(k for k in D.services if k.key.port == 8080)
    inhibited = ("10.0.1.11", "10.0.1.12") if inhibit else ()
    services = [s if s is not key else dataclasses.replace(s, inhibit_on_failure=inhibited) for s in D.services]
    c = Cluster(with_services(BASE, services))
    first, _ = c.to_server(c.packet("tcp", "10.0.0.101", 8080))
    for _ in range(2):                                    # its check of 8080 fails; its port stays up
        c.state.check_result(CheckKey(first, "tcp", 8080), FAIL)
    later, _ = c.to_server(c.packet("tcp", "10.0.0.101", 8080, tcp_flags=0x010))     # the connection's next ACK
    assert (later == first) == inhibit, continues_on
    assert c.to_server(c.packet("tcp", "10.0.0.101", 8080, sport=40001))[0] != first  # no new connection
