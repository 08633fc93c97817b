"""A connection-log copy (a packet-in) as an ECS JSON record."""
from ryu.lib.packet import ethernet, icmp, ipv4, packet, tcp, udp

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


def passive_signal(data, real_servers_by_ip, real_servers_by_mac):
    """A copy of a real server's TCP RST (known by its MAC: in DR and TUN it answers from the
    VIP), or of an ICMP destination-unreachable about one (by the address it quotes), as (real
    server name, what was seen); (None, None) for anything else."""
    pkt = packet.Packet(data)
    frame, ip = pkt.get_protocol(ethernet.ethernet), pkt.get_protocol(ipv4.ipv4)
    segment, message = pkt.get_protocol(tcp.tcp), pkt.get_protocol(icmp.icmp)
    if ip is None:
        return None, None
    if segment is not None and segment.bits & tcp.TCP_RST and frame.src in real_servers_by_mac:
        return real_servers_by_mac[frame.src], "a RST from %s:%d to %s:%d" % (ip.src, segment.src_port, ip.dst,
                                                                              segment.dst_port)
    if message is not None and message.type == icmp.ICMP_DEST_UNREACH and isinstance(message.data, icmp.dest_unreach):
        try:
            about = ipv4.ipv4.parser(bytes(message.data.data))[0]
        except Exception:  # noqa: BLE001 - a truncated or malformed quote is no signal
            return None, None
        if about.dst in real_servers_by_ip:
            return real_servers_by_ip[about.dst], "an ICMP destination unreachable (code %d) about %s from %s" % (
                message.code, about.dst, ip.src)
    return None, None
