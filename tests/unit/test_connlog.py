"""Connection-log copies become ECS records (real packets built with Ryu's packet library)."""
import struct

from ryu.lib.packet import arp, ethernet, icmp, ipv4, tcp, udp

from controller.connlog import REFUSED, connection_record, passive_signal, spoofing_record
from controller.openflow import build_frame as frame
from core.ipvsadm import ServiceKey

ETH = ethernet.ethernet(dst="00:00:5e:00:01:01", src="02:00:0a:00:00:0b", ethertype=0x0800)


def test_copies_become_ecs_records():
    syn = frame(ETH, ipv4.ipv4(src="10.0.0.11", dst="10.0.0.100", proto=6),
                tcp.tcp(src_port=40000, dst_port=22, bits=tcp.TCP_SYN))
    ping = frame(ETH, ipv4.ipv4(src="10.0.0.11", dst="10.0.1.11", proto=1), icmp.icmp(type_=8, data=icmp.echo()))
    who = frame(ethernet.ethernet(ethertype=0x0806), arp.arp())
    syn = connection_record(syn, "s_pub", blocked={"10.0.0.11": {}})
    ping = connection_record(ping, "s_lan")
    assert {k: syn[k] for k in ("source.ip", "source.port", "destination.ip", "destination.port",
                                "network.transport", "observer.name", "event.action", "event.outcome")} == {
        "source.ip": "10.0.0.11", "source.port": 40000, "destination.ip": "10.0.0.100", "destination.port": 22,
        "network.transport": "tcp", "observer.name": "s_pub", "event.action": "connection-attempt",
        "event.outcome": "blocked"}
    assert ping["network.transport"] == "icmp" and ping["icmp.type"] == 8 and "event.outcome" not in ping
    assert connection_record(who, "s_pub") is None
    assert syn["@timestamp"].endswith("Z") and "labels.service" not in syn


def test_an_attempt_at_a_virtual_service_names_it():
    dns = frame(ETH, ipv4.ipv4(src="10.0.0.11", dst="10.0.0.100", proto=17), udp.udp(src_port=5353, dst_port=53))
    services = {ServiceKey("udp", "10.0.0.100", 53), ServiceKey("tcp", "10.0.0.100", 53)}
    assert connection_record(dns, "s_pub", services=services)["labels.service"] == "-u 10.0.0.100:53"
    assert "labels.service" not in connection_record(dns, "s_pub", services={ServiceKey("tcp", "10.0.0.100", 53)})


def test_a_refused_attempt_says_so_and_a_forged_packet_names_the_port_and_its_host():
    syn = frame(ETH, ipv4.ipv4(src="10.0.0.11", dst="10.0.1.11", proto=6),
                tcp.tcp(src_port=40000, dst_port=80, bits=tcp.TCP_SYN))
    record = connection_record(syn, "s_pub", refused=True)
    assert (record["event.outcome"], record["event.reason"]) == ("blocked", REFUSED)
    spoof = spoofing_record(syn, "s_pub", 6, "c3", "10.0.0.13")
    assert {k: spoof[k] for k in ("event.action", "source.ip", "labels.claimed_ip", "observer.ingress.interface.id",
                                  "observer.ingress.interface.alias", "destination.ip")} == {
        "event.action": "spoofed-packet", "source.ip": "10.0.0.13", "labels.claimed_ip": "10.0.0.11",
        "observer.ingress.interface.id": "6", "observer.ingress.interface.alias": "c3", "destination.ip": "10.0.1.11"}
    who = frame(ethernet.ethernet(ethertype=0x0806), arp.arp(src_ip="10.0.0.11", dst_ip="10.0.0.100"))
    assert spoofing_record(who, "s_pub", 6, "c3", "10.0.0.13")["network.protocol"] == "arp"
    assert spoofing_record(frame(ethernet.ethernet(ethertype=0x86dd)), "s_pub", 6, "c3", "10.0.0.13") is None


SERVERS = {"10.0.1.11": "web1", "10.0.3.11": "web3"}
MACS = {"02:00:0a:00:01:0b": "web1"}
WEB1 = ethernet.ethernet(dst="00:00:5e:00:01:02", src="02:00:0a:00:01:0b", ethertype=0x0800)


def test_a_real_servers_rst_and_an_icmp_error_about_one_are_passive_signals():
    rst = frame(WEB1, ipv4.ipv4(src="10.0.1.11", dst="10.0.0.11", proto=6),
                tcp.tcp(src_port=80, dst_port=40000, bits=tcp.TCP_RST | tcp.TCP_ACK))
    rst_from_the_vip = frame(WEB1, ipv4.ipv4(src="10.0.0.100", dst="10.0.0.11", proto=6),      # DR, TUN
                             tcp.tcp(src_port=80, dst_port=40000, bits=tcp.TCP_RST))
    quoted = ipv4.ipv4(src="10.0.0.11", dst="10.0.3.11", proto=6).serialize(b"", None) + bytes(8)
    unreachable = frame(ETH, ipv4.ipv4(src="10.0.3.1", dst="10.0.0.11", proto=1),
                        icmp.icmp(type_=3, code=1, data=icmp.dest_unreach(data=quoted)))
    assert passive_signal(rst, SERVERS, MACS) == ("web1", "a RST from 10.0.1.11:80 to 10.0.0.11:40000", ("tcp", 80))
    assert passive_signal(rst_from_the_vip, SERVERS, MACS) == (
        "web1", "a RST from 10.0.0.100:80 to 10.0.0.11:40000", ("tcp", 80))
    assert passive_signal(unreachable, SERVERS, MACS) == (
        "web3", "an ICMP destination unreachable (code 1) about 10.0.3.11 from 10.0.3.1", None)   # no ports quoted


def test_a_port_unreachable_names_the_udp_port_it_is_about():
    datagram = ipv4.ipv4(src="10.0.0.11", dst="10.0.1.11", proto=17, total_length=36).serialize(b"", None)
    quoted = datagram + struct.pack("!HHHH", 40000, 53, 16, 0)          # the header and 8 bytes, as quoted
    unreachable = frame(WEB1, ipv4.ipv4(src="10.0.1.11", dst="10.0.0.11", proto=1),
                        icmp.icmp(type_=3, code=3, data=icmp.dest_unreach(data=quoted)))
    assert passive_signal(unreachable, SERVERS, MACS)[::2] == ("web1", ("udp", 53))


def test_anything_else_is_no_passive_signal():
    from_a_client = frame(ETH, ipv4.ipv4(src="10.0.0.11", dst="10.0.0.100", proto=6),
                          tcp.tcp(src_port=40000, dst_port=80, bits=tcp.TCP_RST))
    truncated = frame(ETH, ipv4.ipv4(src="10.0.3.1", dst="10.0.0.11", proto=1),
                      icmp.icmp(type_=3, code=1, data=icmp.dest_unreach(data=b"\x45\x00")))
    for data in (from_a_client, truncated, b"", bytes(60)):
        assert passive_signal(data, SERVERS, MACS) == (None, None, None)
