"""Copies of hosts' packets (packet-ins) as ECS JSON records: connection attempts, forged packets,
and the passive health checks' signals. Read with controller/frames.py (bounded, never raises)."""
from typing import TYPE_CHECKING, Any, Callable, Collection, Dict, Optional, Tuple

from ryu.lib.packet.icmp import ICMP_DEST_UNREACH
from ryu.lib.packet.tcp import TCP_RST

from controller.openflow import probe_sent_at
from controller.frames import ETH_ARP, PROTO_ICMP, PROTO_TCP, PROTO_UDP, parse
from controller.pipeline import (COOKIE_DENY, COOKIE_LOG, COOKIE_PASSIVE, COOKIE_PROBE, COOKIE_SPOOF, COPY_METERS,
                                 KIND_MASK)
from core.description import ClusterDescription
from core.ipvsadm import ServiceKey
from core.eventlog import EventLog, ecs_timestamp

if TYPE_CHECKING:
    from controller.state import ClusterState

TRANSPORTS = {PROTO_TCP: "tcp", PROTO_UDP: "udp", PROTO_ICMP: "icmp"}   # ECS's network.transport
REFUSED = "not allowed by the segmentation matrix"


def connection_record(data: bytes, switch: str, blocked: Collection[str] = (), refused: bool = False,
                      services: Collection[ServiceKey] = ()) -> Optional[Dict[str, Any]]:
    """The record of one connection attempt seen by `switch`, or None if it is not IPv4;
    `refused`: segmentation dropped it at its sender's port; one to a virtual service (one of
    `services`) names it (labels.service, as ipvsadm writes it)."""
    frame = parse(data)
    if frame is None or not frame.is_ipv4:
        return None
    record: Dict[str, Any] = {
        "@timestamp": ecs_timestamp(), "event.action": "connection-attempt", "event.category": "network",
        "observer.name": switch, "source.ip": frame.ip_src, "destination.ip": frame.ip_dst,
        "network.transport": TRANSPORTS.get(frame.proto, str(frame.proto))}
    if frame.icmp_type is not None:
        record["icmp.type"] = frame.icmp_type
    elif frame.src_port is not None:
        record["source.port"], record["destination.port"] = frame.src_port, frame.dst_port
    key = ServiceKey(record["network.transport"], record["destination.ip"], frame.dst_port or 0)
    if key in services:
        record["labels.service"] = str(key)
    if frame.ip_src in blocked:
        record["event.outcome"] = "blocked"
    if refused:
        record.update({"event.outcome": "blocked", "event.reason": REFUSED})
    return record


def spoofing_record(data: bytes, switch: str, port: int, owner: str,
                    owner_ip: Optional[str]) -> Optional[Dict[str, Any]]:
    """A forged packet, dropped by port security, as an ECS record: the port it came in on and
    the host cabled there (`owner`, its address on that switch as the source: the forger), the
    address it claimed, where it was going. None if it is neither IPv4 nor ARP."""
    frame = parse(data)
    if frame is None or frame.ip_src is None:
        return None
    return {"@timestamp": ecs_timestamp(), "event.action": "spoofed-packet", "event.category": "network",
            "event.outcome": "blocked", "observer.name": switch, "observer.ingress.interface.id": str(port),
            "observer.ingress.interface.alias": owner, "source.ip": owner_ip, "source.mac": frame.eth_src,
            "labels.claimed_ip": frame.ip_src, "destination.ip": frame.ip_dst,
            "network.protocol": "arp" if frame.eth_type == ETH_ARP else "ipv4"}


def passive_signal(data: bytes, real_servers_by_ip: Dict[str, str], real_servers_by_mac: Dict[str, str]
                   ) -> Tuple[Optional[str], Optional[str], Optional[Tuple[str, int]]]:
    """A copy of a real server's TCP RST (known by its MAC: in DR and TUN it answers from the
    VIP), or of an ICMP destination-unreachable about one (by the address it quotes), as (real
    server name, what was seen, the (protocol, port) of the real server it is about, if known);
    (None, None, None) for anything else."""
    frame = parse(data)
    if frame is None or not frame.is_ipv4:
        return None, None, None
    if frame.proto == PROTO_TCP and (frame.tcp_flags or 0) & TCP_RST and frame.eth_src in real_servers_by_mac:
        return real_servers_by_mac[frame.eth_src], "a RST from %s:%s to %s:%s" % (
            frame.ip_src, frame.src_port, frame.ip_dst, frame.dst_port), ("tcp", frame.src_port or 0)
    if frame.icmp_type == ICMP_DEST_UNREACH and frame.quoted_dst in real_servers_by_ip:
        about = (TRANSPORTS[frame.quoted_proto], frame.quoted_dst_port) \
            if frame.quoted_proto in (PROTO_TCP, PROTO_UDP) and frame.quoted_dst_port is not None else None
        return real_servers_by_ip[frame.quoted_dst], "an ICMP destination unreachable (code %s) about %s from %s" % (
            frame.icmp_code, frame.quoted_dst, frame.ip_src), about
    return None, None, None


class PacketIns:
    """Everything a switch sends the controller, by its flow's cookie kind: liveness probes
    coming back (timed by the clock they carry), copies of connection attempts and of forged
    packets (logged and counted), and passive signals (handed to `on_passive`). Anything else is
    counted, as a leak made visible: nothing is forwarded through the controller."""

    def __init__(self, description: ClusterDescription, state: "ClusterState", connection_log: EventLog,
                 on_passive: Callable[[str, bytes], None]) -> None:
        self.description = description
        self.state = state
        self.connection_log = connection_log
        self.on_passive = on_passive
        self.port_owners = {(i.switch, i.port): (h.name, i.ip) for h in description.hosts for i in h.interfaces}

    def received(self, switch: str, in_port: int, cookie: int, data: bytes, from_itself: bool) -> None:
        """A packet-in from `switch`; `from_itself`: the switch sent it back itself (a probe's
        reference: see ProxyGroup)."""
        kind = cookie & KIND_MASK
        sent_at = probe_sent_at(data) if switch in self.description.proxy_edges else None
        proxy = self.description.trunk_ports(switch).get(in_port)
        if kind in COPY_METERS:
            self.state.copy_account(switch, COPY_METERS[kind]).copy_received()
        if sent_at is not None and from_itself:
            self.state.reference_reply(switch, sent_at)
        elif kind == COOKIE_PROBE and proxy and sent_at is not None:
            self.state.probe_reply(proxy, switch, sent_at)
        elif kind in (COOKIE_LOG, COOKIE_DENY):
            self._attempt(switch, data, refused=kind == COOKIE_DENY)
        elif kind == COOKIE_SPOOF:
            self._spoofed(switch, in_port, data)
        elif kind == COOKIE_PASSIVE:
            self.on_passive(switch, data)
        else:
            self.state.packet_in()

    def _attempt(self, switch: str, data: bytes, refused: bool) -> None:
        record = connection_record(data, switch, blocked=self.state.blocks, refused=refused,
                                   services=self.state.book.services)
        if record:
            self.state.log_copies += 1
            self.state.refused += refused
            self.connection_log.write(record)

    def _spoofed(self, switch: str, port: int, data: bytes) -> None:
        """A forged packet dropped at a host's port: logged with the port and the host there."""
        owner, owner_ip = self.port_owners.get((switch, port), ("?", None))
        record = spoofing_record(data, switch, port, owner, owner_ip)
        if record:
            self.state.spoofed += 1
            self.connection_log.write(record)
