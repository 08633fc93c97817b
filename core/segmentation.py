"""Least privilege on the wire: who may send what to whom (the matrix in docs/SECURITY.md), as data,
and the matches that let exactly that through.

A packet is judged where it enters the network: at its sender's own switch port, once port
security (controller/guard.py, table INGRESS) has checked that it carries that host's addresses.
So a rule names the sender by what sits on the port (a client, a real server's service
interface, its DB-tier interface, a DB member, the management interface) and the receiver by
address. The infrastructure is not judged here: r0 routes only what was let in where it entered
(and its own answers), the proxies and the peer's directors are the load balancer itself.

The rules are stateless, as switch ACLs are: "replies" are packets from a service's port that
do not open a connection (a SYN without ACK is refused), which is what lets a web host answer a
client but never call one.
"""
from dataclasses import dataclass
from socket import IPPROTO_ICMP, IPPROTO_TCP
from typing import Any, Dict, List, Optional, Sequence, Tuple

from core.addressing import ETCD_CLIENT_PORT, ETCD_PEER_PORT, IP_PROTOCOLS
from core.description import ClusterDescription, Host, Interface
from core.ipvsadm import VirtualService

Match = Dict[str, Any]

# ICMP types (RFC 792); not Ryu's constants: core/ loads without Ryu (mn --custom's Python).
ICMP_ECHO_REPLY, ICMP_DEST_UNREACH, ICMP_ECHO_REQUEST, ICMP_TIME_EXCEEDED = 0, 3, 8, 11

# What sits on a port, as the matrix names it.
CLIENT, REAL_SERVER, REAL_SERVER_DB_SIDE, DB_MEMBER, MANAGEMENT, INFRASTRUCTURE = (
    "client", "real server", "real server (DB side)", "DB member", "management", "infrastructure")

SERVICES, HEALTH_CHECKS = "the virtual services", "health checks"     # traffic kinds

# Receivers.
VIP, ROUTER, REAL_SERVERS, DB_MEMBERS, REAL_SERVERS_DB_SIDE, ANYONE = (
    "the VIPs", "r0", "the real servers", "the DB members", "the real servers (DB side)", "anyone")


@dataclass(frozen=True)
class Allow:
    sender: str
    receiver: str
    traffic: str       # a key of _traffic(description)
    why: str


# Each traffic kind: (match fields beyond the receiver's address, replies only) per variant; a
# variant that names its receiver's address (a service's VIP, a real server) holds only for it.
def _traffic(services: Sequence[VirtualService]) -> Dict[str, List[Tuple[Match, bool]]]:
    tcp, icmp = dict(ip_proto=IPPROTO_TCP), dict(ip_proto=IPPROTO_ICMP)
    return {
        SERVICES: _unique([(_port_match(s.key.protocol, "dst", s.key.port, ipv4_dst=s.key.vip), False)
                           for s in services]),
        HEALTH_CHECKS: _unique([(_port_match(s.key.protocol, "dst", r.port, ipv4_dst=r.address), False)
                                for s in services for r in s.entries]),
        "service replies": _unique([(_port_match(s.key.protocol, "src", r.port), s.key.protocol == "tcp")
                                    for s in services for r in s.entries]),
        "etcd clients (TCP %d)" % ETCD_CLIENT_PORT: [(dict(tcp, tcp_dst=ETCD_CLIENT_PORT), False)],
        "etcd replies": [(dict(tcp, tcp_src=ETCD_CLIENT_PORT), True)],
        "etcd peers (TCP %d)" % ETCD_PEER_PORT: [(dict(tcp, tcp_dst=ETCD_PEER_PORT), False),
                                                 (dict(tcp, tcp_src=ETCD_PEER_PORT), True)],
        "ping": [(dict(icmp, icmpv4_type=ICMP_ECHO_REQUEST), False)],
        "ICMP replies and errors": [(dict(icmp, icmpv4_type=t), False)
                                    for t in (ICMP_ECHO_REPLY, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED)],
    }


def _port_match(protocol: str, direction: str, port: int, **fields: Any) -> Match:
    return dict(fields, ip_proto=IP_PROTOCOLS[protocol], **{"%s_%s" % (protocol, direction): port})


def _unique(variants: List[Tuple[Match, bool]]) -> List[Tuple[Match, bool]]:
    return list({repr(sorted(fields.items())): (fields, replies) for fields, replies in variants}.values())


def matrix(description: ClusterDescription) -> Tuple[Allow, ...]:
    """Every Allow of a cluster; what is not here is refused, and logged as blocked."""
    etcd_client, etcd_peer = "etcd clients (TCP %d)" % ETCD_CLIENT_PORT, "etcd peers (TCP %d)" % ETCD_PEER_PORT
    return (
        Allow(CLIENT, VIP, SERVICES, "what all the public side may reach: each VIP's own services"),
        Allow(CLIENT, VIP, "ping", "is the service there"),
        Allow(CLIENT, ROUTER, "ping", "is the network there"),
        Allow(MANAGEMENT, REAL_SERVERS, HEALTH_CHECKS, "the controller's checks, of each real server's own ports"),
        Allow(REAL_SERVER, ANYONE, "service replies",
              "answers to clients (NAT: through the proxy; DR, TUN: through r0) and to health checks; "
              "never a new connection"),
        Allow(REAL_SERVER, ROUTER, "ping", "its way out (DR, TUN)"),
        Allow(REAL_SERVER_DB_SIDE, DB_MEMBERS, etcd_client, "conversation state"),
        Allow(REAL_SERVER_DB_SIDE, DB_MEMBERS, "ping", "is the DB tier there"),
        Allow(DB_MEMBER, DB_MEMBERS, etcd_peer, "Raft among the members"),
        Allow(DB_MEMBER, DB_MEMBERS, "ping", "is a member there"),
        Allow(DB_MEMBER, DB_MEMBERS, etcd_client, "a member's own client (etcdctl)"),
        Allow(DB_MEMBER, DB_MEMBERS, "etcd replies", "answers to the members' clients"),
        Allow(DB_MEMBER, REAL_SERVERS_DB_SIDE, "etcd replies", "answers to the web tier; never a new connection"),
        Allow(CLIENT, ANYONE, "ICMP replies and errors", "what any host answers"),
        Allow(REAL_SERVER, ANYONE, "ICMP replies and errors", "what any host answers, and what passive checks read"),
        Allow(REAL_SERVER_DB_SIDE, ANYONE, "ICMP replies and errors", "what any host answers"),
        Allow(DB_MEMBER, ANYONE, "ICMP replies and errors", "what any host answers"),
        Allow(MANAGEMENT, ANYONE, "ICMP replies and errors", "what any host answers"),
    )


def sender(description: ClusterDescription, host: Host, interface: Interface) -> str:
    """What the matrix calls the host on this interface."""
    if host.role == "web":
        return REAL_SERVER_DB_SIDE if interface.switch == description.db_edge else REAL_SERVER
    return {"client": CLIENT, "db": DB_MEMBER, "management": MANAGEMENT}.get(host.role, INFRASTRUCTURE)


def _addresses(description: ClusterDescription, services: Sequence[VirtualService]) -> Dict[str, List[str]]:
    """The addresses each receiver stands for, but r0 (which depends on the segment) and anyone."""
    db_edge = description.db_edge
    db_side = (w.interface_on(db_edge) for w in description.real_servers)
    return {VIP: list(dict.fromkeys(s.key.vip for s in services)),
            REAL_SERVERS: [w.ip for w in description.real_servers],
            DB_MEMBERS: [h.ip for h in description.hosts_with_role("db")],
            REAL_SERVERS_DB_SIDE: [i.ip for i in db_side if i]}


def _receivers(description: ClusterDescription, name: str, interface: Interface,
               addresses: Dict[str, List[str]]) -> Optional[List[str]]:
    """The addresses a receiver stands for, seen from `interface`; None for anyone."""
    if name == ANYONE:
        return None
    if name == ROUTER:
        router = description.router.interface_on(interface.switch)
        return [router.ip] if router else []
    return addresses[name]


def allowed(description: ClusterDescription, host: Host, interface: Interface,
            services: Optional[Sequence[VirtualService]] = None) -> List[Tuple[Match, bool]]:
    """What may leave this host's interface while the cluster serves `services` (by default,
    those it started with): [(match fields, replies only)], each match with ip_proto and, but
    for "anyone", ipv4_dst."""
    services = description.services if services is None else services
    found: List[Tuple[Match, bool]] = []
    kinds, role, known = _traffic(services), sender(description, host, interface), _addresses(description, services)
    for rule in matrix(description):
        if rule.sender != role:
            continue
        addresses = _receivers(description, rule.receiver, interface, known)
        for fields, replies_only in kinds[rule.traffic]:
            if addresses is None:
                found.append((fields, replies_only))
            elif "ipv4_dst" in fields:
                found += [(fields, replies_only)] if fields["ipv4_dst"] in addresses else []
            else:
                found += [(dict(fields, ipv4_dst=ip), replies_only) for ip in addresses]
    return found


def may_ping(description: ClusterDescription, host: Host, interface: Interface, address: str) -> bool:
    """Whether the matrix lets this host's interface ping `address`."""
    return any(fields.get("icmpv4_type") == ICMP_ECHO_REQUEST and fields.get("ipv4_dst", address) == address
               for fields, _ in allowed(description, host, interface))
