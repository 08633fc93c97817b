"""Port security and least-privilege segmentation at the edges, through the pipeline simulator:
what each host may send, what is refused and reported, in every mode."""
import os

import pytest

from controller.pipeline import DENY_METER, ETH_ARP, ETH_IP, LOG_METER, PROTO_TCP, SPOOF_METER
from core.segmentation import matrix
from core.addressing import ETCD_CLIENT_PORT, ETCD_PEER_PORT
from core.paths import ROOT
from tests.unit.test_pipeline import MODES, SYN, ACK, Cluster

PROTO_ICMP, ECHO_REQUEST = 1, 8


def frame(c, sender, switch, dst_ip, dst_mac=None, **fields):
    """An IPv4 packet as `sender` puts it on `switch` (its own addresses), to `dst_ip`."""
    intf = c.d.host(sender).interface_on(switch)
    return dict(dict(in_port=intf.port, eth_src=intf.mac, eth_dst=dst_mac or mac_of(c, dst_ip, switch),
                     eth_type=ETH_IP, ipv4_src=intf.ip, ipv4_dst=dst_ip), **fields)


def mac_of(c, ip, switch):
    """The MAC a sender on `switch` puts on a packet to `ip`: the host's if it is on the switch,
    the VIP's, or r0's."""
    if ip == c.d.vip:
        return c.d.vip_mac
    local = next((i for i in c.d.host_ports(switch).values() if i.ip == ip), None)
    return local.mac if local else c.d.router.interface_on(switch).mac


def tcp(port, flags=SYN, sport=40000):
    return dict(ip_proto=PROTO_TCP, tcp_src=sport, tcp_dst=port, tcp_flags=flags)


def refused(result):
    return result.outputs == [] and result.metered == [DENY_METER] and len(result.to_controller) == 1


def spoofed(result):
    return result.outputs == [] and result.metered == [SPOOF_METER] and len(result.to_controller) == 1


@pytest.mark.parametrize("mode", MODES)
def test_the_public_side_reaches_only_the_vips_service_and_ping(mode):
    c = Cluster(mode)
    s_pub, vip, r0 = c.switch("s_pub"), c.d.vip, c.d.router.interface_on("s_pub").ip
    assert s_pub.send(frame(c, "c1", "s_pub", vip, **tcp(80))).ports == [c.d.proxy_port("s_pub", "lb1")]
    for ip in (vip, r0):
        assert s_pub.send(frame(c, "c1", "s_pub", ip, ip_proto=PROTO_ICMP, icmpv4_type=ECHO_REQUEST)).ports
    forbidden = [frame(c, "c1", "s_pub", vip, **tcp(22)),                     # another port of the VIP
                 frame(c, "c1", "s_pub", c.d.host("web1").ip, **tcp(80)),     # a real server's own address
                 frame(c, "c1", "s_pub", c.d.host("db1").ip, **tcp(ETCD_CLIENT_PORT)),
                 frame(c, "c1", "s_pub", c.d.management_ip, **tcp(80)),
                 frame(c, "c1", "s_pub", c.d.router.interface_on("s_lan").ip, ip_proto=PROTO_ICMP,
                       icmpv4_type=ECHO_REQUEST),                              # r0's inner side
                 frame(c, "c1", "s_pub", c.d.host("c2").ip, **tcp(80))]       # another client
    for packet in forbidden:
        assert refused(s_pub.send(packet)), packet


def test_a_forged_source_is_dropped_at_the_port_it_came_in_on_and_never_logged_as_the_victims():
    c = Cluster()
    s_pub, c1, c3 = c.switch("s_pub"), c.client("c1"), c.client("c3")
    forged = dict(frame(c, "c3", "s_pub", c.d.vip, **tcp(81)), ipv4_src=c1.ip)
    result = s_pub.send(forged)
    assert spoofed(result) and result.to_controller[0]["in_port"] == c3.port
    assert LOG_METER not in result.metered
    assert spoofed(s_pub.send(dict(forged, eth_src=c1.mac)))                # the victim's MAC too
    arp = dict(in_port=c3.port, eth_src=c3.mac, eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ETH_ARP,
               arp_sha=c3.mac, arp_spa=c1.ip, arp_tpa=c.d.vip)
    assert spoofed(s_pub.send(arp))                                          # ARP spoofing
    assert s_pub.send(dict(arp, arp_spa=c3.ip)).ports == [c.d.proxy_port("s_pub", "lb1")]
    assert s_pub.send(dict(in_port=c3.port, eth_src=c3.mac, eth_type=0x86dd)).outputs == []


@pytest.mark.parametrize("mode", MODES)
def test_real_servers_answer_but_never_call(mode):
    c = Cluster(mode)
    s_lan, client = c.switch("s_lan"), c.client("c1").ip
    gateway = c.d.gateway_mac if mode == "nat" else c.d.router.interface_on("s_lan").mac
    source = c.d.host("web1").ip if mode == "nat" else c.d.vip
    reply = dict(frame(c, "web1", "s_lan", client, dst_mac=gateway, **tcp(40000, ACK, sport=80)), ipv4_src=source)
    assert s_lan.send(reply).ports
    assert refused(s_lan.send(dict(reply, tcp_flags=SYN)))                   # a connection to a client
    assert refused(s_lan.send(dict(reply, tcp_src=22)))
    health = frame(c, "web1", "s_lan", c.d.management_ip, **tcp(50000, ACK, sport=80))
    assert s_lan.send(health).ports == [100] and refused(s_lan.send(dict(health, tcp_flags=SYN)))
    assert s_lan.send(frame(c, "mgmt", "s_lan", c.d.host("web1").ip, **tcp(80))).ports == [
        c.d.host("web1").service_interface.port]
    assert refused(s_lan.send(frame(c, "mgmt", "s_lan", c.d.host("web1").ip, **tcp(22))))


def test_the_db_tier_talks_to_its_members_and_answers_the_web_tier_only():
    c = Cluster()
    s_db = c.switch("s_db")
    web1, db1, db2 = (c.d.host(n).interface_on("s_db") for n in ("web1", "db1", "db2"))
    assert s_db.send(frame(c, "web1", "s_db", db1.ip, **tcp(ETCD_CLIENT_PORT))).ports == [db1.port]
    assert refused(s_db.send(frame(c, "web1", "s_db", db1.ip, **tcp(ETCD_PEER_PORT))))
    assert s_db.send(frame(c, "db1", "s_db", db2.ip, **tcp(ETCD_PEER_PORT))).ports == [db2.port]
    answer = frame(c, "db1", "s_db", web1.ip, **tcp(50000, ACK, sport=ETCD_CLIENT_PORT))
    assert s_db.send(answer).ports == [web1.port]
    assert refused(s_db.send(dict(answer, tcp_flags=SYN)))
    assert refused(s_db.send(frame(c, "db1", "s_db", web1.ip, **tcp(80))))


@pytest.mark.parametrize("mode", MODES)
def test_r0_brings_in_other_segments_but_not_this_ones_addresses(mode):
    c = Cluster(mode)
    r0 = c.d.router.interface_on("s_pub")
    s_pub = c.switch("s_pub")
    to_c1 = dict(in_port=r0.port, eth_src=r0.mac, eth_dst=c.client("c1").mac, eth_type=ETH_IP,
                 ipv4_dst=c.client("c1").ip, **tcp(40000, ACK, sport=80))
    assert s_pub.send(dict(to_c1, ipv4_src="10.0.1.11")).ports == [c.client("c1").port]     # routed
    assert spoofed(s_pub.send(dict(to_c1, ipv4_src=c.client("c2").ip)))                    # a neighbour's
    from_vip = s_pub.send(dict(to_c1, ipv4_src=c.d.vip))                  # DR and TUN replies come back via r0
    assert from_vip.ports == [c.client("c1").port] if mode != "nat" else spoofed(from_vip)
    assert spoofed(s_pub.send(dict(to_c1, ipv4_src="10.0.1.11", eth_src="02:00:00:00:00:99")))


def test_with_segmentation_off_a_client_reaches_a_real_server_through_r0_and_forgery_is_still_dropped():
    c = Cluster(segmentation=False)
    s_pub, web1 = c.switch("s_pub"), c.d.host("web1").ip
    assert s_pub.send(frame(c, "c1", "s_pub", web1, **tcp(80))).ports == [c.d.router.interface_on("s_pub").port]
    assert spoofed(s_pub.send(dict(frame(c, "c3", "s_pub", web1, **tcp(80)), ipv4_src=c.client("c1").ip)))


def test_every_rule_of_the_matrix_names_known_traffic_and_says_why():
    from core.segmentation import _traffic
    for mode in MODES:
        c = Cluster(mode)
        for rule in matrix(c.d):
            assert rule.traffic in _traffic(c.d.services) and rule.why


def test_the_security_page_shows_the_matrix_the_switches_enforce():
    with open(os.path.join(ROOT, "docs", "SECURITY.md")) as f:
        readme = f.read()
    for rule in matrix(Cluster().d):
        assert "| %s | %s | %s | %s |" % (rule.sender, rule.receiver, rule.traffic, rule.why) in readme, rule
