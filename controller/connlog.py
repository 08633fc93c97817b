"""A connection-log copy (a packet-in) as an ECS JSON record."""
from ryu.lib.packet import arp, ethernet, icmp, ipv4, packet, tcp, udp

from core.eventlog import ecs_timestamp

TRANSPORTS = {tcp.tcp: "tcp", udp.udp: "udp", icmp.icmp: "icmp"}


REFUSED = "not allowed by the segmentation matrix"


def connection_record(data, switch, blocked=(), refused=False):
    """The record of one connection attempt seen by `switch`, or None if it is not IPv4;
    `refused`: segmentation dropped it at its sender's port."""
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
    if refused:
        record.update({"event.outcome": "blocked", "event.reason": REFUSED})
    return record


def spoofing_record(data, switch, port, owner, owner_ip):
    """A forged packet, dropped by port security, as an ECS record: the port it came in on and
    the host cabled there (`owner`, its address on that switch as the source: the forger), the
    address it claimed, where it was going. None if it is neither IPv4 nor ARP."""
    pkt = packet.Packet(data)
    frame, ip, request = pkt.get_protocol(ethernet.ethernet), pkt.get_protocol(ipv4.ipv4), pkt.get_protocol(arp.arp)
    if ip is None and request is None:
        return None
    return {"@timestamp": ecs_timestamp(), "event.action": "spoofed-packet", "event.category": "network",
            "event.outcome": "blocked", "observer.name": switch, "observer.ingress.interface.id": str(port),
            "observer.ingress.interface.alias": owner, "source.ip": owner_ip, "source.mac": frame.src,
            "labels.claimed_ip": ip.src if ip else request.src_ip,
            "destination.ip": ip.dst if ip else request.dst_ip, "network.protocol": "ipv4" if ip else "arp"}


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
