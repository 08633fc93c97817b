"""Connection-log copies become ECS records (real packets built with Ryu's packet library)."""
from ryu.lib.packet import arp, ethernet, icmp, ipv4, tcp

from controller.connlog import connection_record
from controller.openflow import build_frame as frame

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
    assert syn["@timestamp"].endswith("Z")
