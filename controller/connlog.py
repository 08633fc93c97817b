"""A connection-log copy (a packet-in) as an ECS JSON record."""
from ryu.lib.packet import icmp, ipv4, packet, tcp, udp

from core.eventlog import ecs_timestamp

TRANSPORTS = {tcp.tcp: "tcp", udp.udp: "udp", icmp.icmp: "icmp"}


def connection_record(data, switch, blocked=()):
    """The record of one connection attempt seen by `switch`, or None if it is not IPv4."""
    pkt = packet.Packet(data)
    ip = pkt.get_protocol(ipv4.ipv4)
    if ip is None:
        return None
    record = {"@timestamp": ecs_timestamp(), "event.action": "connection-attempt", "event.category": "network",
              "observer.name": switch, "source.ip": ip.src, "destination.ip": ip.dst}
    for kind, name in TRANSPORTS.items():
        segment = pkt.get_protocol(kind)
        if segment is not None:
            record["network.transport"] = name
            if name == "icmp":
                record["icmp.type"] = segment.type
            else:
                record["source.port"], record["destination.port"] = segment.src_port, segment.dst_port
            break
    else:
        record["network.transport"] = str(ip.proto)
    if ip.src in blocked:
        record["event.outcome"] = "blocked"
    return record
