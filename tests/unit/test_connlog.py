"""Connection-log copies become ECS records (real packets built with Ryu's packet library; the
controller's modules are imported in a subprocess, as Ryu's eventlet patching must not reach
the test process)."""
import json
import subprocess
import sys

SCRIPT = r'''
import json
from ryu.lib.packet import ethernet, icmp, ipv4, tcp, arp
from controller.connlog import connection_record
from controller.openflow import build_frame as frame

eth = ethernet.ethernet(dst="00:00:5e:00:01:01", src="02:00:0a:00:00:0b", ethertype=0x0800)
syn = frame(eth, ipv4.ipv4(src="10.0.0.11", dst="10.0.0.100", proto=6),
            tcp.tcp(src_port=40000, dst_port=22, bits=tcp.TCP_SYN))
ping = frame(eth, ipv4.ipv4(src="10.0.0.11", dst="10.0.1.11", proto=1), icmp.icmp(type_=8, data=icmp.echo()))
who = frame(ethernet.ethernet(ethertype=0x0806), arp.arp())
print(json.dumps([connection_record(syn, "s_pub", blocked={"10.0.0.11": {}}), connection_record(ping, "s_lan"),
                  connection_record(who, "s_pub")]))
'''


def test_copies_become_ecs_records():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True).stdout
    syn, ping, arp = json.loads(out)
    assert {k: syn[k] for k in ("source.ip", "source.port", "destination.ip", "destination.port",
                                "network.transport", "observer.name", "event.action", "event.outcome")} == {
        "source.ip": "10.0.0.11", "source.port": 40000, "destination.ip": "10.0.0.100", "destination.port": 22,
        "network.transport": "tcp", "observer.name": "s_pub", "event.action": "connection-attempt",
        "event.outcome": "blocked"}
    assert ping["network.transport"] == "icmp" and ping["icmp.type"] == 8 and "event.outcome" not in ping
    assert arp is None
    assert syn["@timestamp"].endswith("Z")
