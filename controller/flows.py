"""The forwarding pipeline as flow specifications: pure data that unit tests read without a switch.

The Ryu adapter (controller/openflow.py) turns each FlowSpec into an OFPFlowMod. Every flow is
installed ahead of time from the cluster description and the balancer's state; no connection
needs the controller.

Edge switches (s_pub, s_lan, s_db, s_far), in tables:
  0 INGRESS      a blocked source dropped (s_pub); port security: a host's port lets in only its
                 own MAC and IP (ARP's sender too), r0's only its MAC and no source of the switch's
                 own subnet but its own; forged IPv4 and ARP dropped and copied to the controller
                 through meter 4 (logged as spoofing, with the port); the proxies' ports pass.
  1 SEGMENT      least privilege (core/segmentation.py, the README's matrix): at the
                 sender's own port, what it may send to whom; the rest dropped and copied
                 through meter 3 (logged as blocked).
  2 SWITCH       static L2 among the switch's hosts, plus steering of the VIP (and in NAT the
                 real servers' gateway) to the active proxy, or spread over both by hash
                 (active-active); the controller's liveness probes coming back from the proxies
                 go to the controller.
 10-12 LOG       the connection log: every forwarding (or blocking) flow ends with a resubmit
                 here; a copy of each TCP SYN, and of the first packet of each UDP or ICMP flow,
                 goes to the controller through meter 1. The copy is made after the packet has
                 been forwarded, so a meter that drops copies never holds up forwarding.
Steering goes through groups whose buckets watch the proxies' ports: a fast-failover group (the
active proxy first, the standby next) or a select group (active-active). A port is live while its
link is up and BFD, run by the switches on every proxy cable, hears the proxy: a crashed, cut off
or hung proxy is left behind by the datapath itself, before (or without) the controller.

Proxy pipeline (lb1, lb2), in tables. Per-connection state lives in the datapath's connection
tracker, in the proxy's own zone, with the connection's real server in its mark: a new connection
changes no flow table and, once the pipeline's few megaflows exist, takes no upcall (the 5-tuple
is hashed in the datapath, `dp_hash`, never matched).
  0 CLASSIFY     ARP for the VIP (and NAT gateway) answered in the data plane; packets to the
                 virtual service looked up in the connection tracker, then on to 1;
                 NAT replies from real servers rewritten back to the VIP and passed to 4;
                 liveness probes sent back where they came from; a SYN copied by the other
                 proxy (to SYNC_MAC, the real server's id in the source MAC) committed to the
                 connection tracker with that server as its mark, and not forwarded: connection
                 sync in the data plane, as LVS's sync daemon.
  1 CONNECTIONS  a packet of a tracked connection whose real server is up goes to that server
                 (ct_mark: affinity across weight and membership changes); a SYN, a connection
                 of a server that left the table, or an untracked packet goes to the SELECT group.
     group 1     SELECT: a select group of TABLE_SIZE equal buckets, one per Maglev slot. Open
                 vSwitch hashes the 5-tuple in the datapath (dp_hash) and maps hash value i to
                 bucket i; each bucket commits the connection with its slot's real server.
  2 SELECTED     after the commit: a SYN is copied to the other proxy, naming its real server.
  3 FORWARD      one flow per real server: the forwarding method (NAT rewrite, DR MAC rewrite,
                 TUN VXLAN encapsulation). Its counters are the server's traffic; a second
                 flow per server counts the clients' FINs (closed connections).
  4 EGRESS       NAT replies towards the public side: the client's MAC, or r0's for others.
Only the client-to-VIP direction passes the connection tracker (DR and TUN replies never reach
the proxy; NAT replies are rewritten statelessly), so the tracker follows each connection one way,
as LVS does in DR mode; the harness turns the tracker's sequence checks off and sets its zones'
timeouts (topologies/forwarding.py: conntrack_setup).
"""
import ipaddress
import zlib
from dataclasses import dataclass
from typing import Optional, Tuple

from ryu.lib.packet.arp import ARP_REPLY, ARP_REQUEST
from ryu.lib.packet.ether_types import ETH_TYPE_ARP as ETH_ARP, ETH_TYPE_IP as ETH_IP
from ryu.lib.packet.icmp import ICMP_DEST_UNREACH
from ryu.lib.packet.in_proto import IPPROTO_ICMP as PROTO_ICMP, IPPROTO_TCP as PROTO_TCP, IPPROTO_UDP as PROTO_UDP
from ryu.lib.packet.tcp import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from ryu.ofproto.ofproto_v1_3 import OFPP_CONTROLLER as CONTROLLER, OFPP_IN_PORT as IN_PORT, OFPP_LOCAL as LOCAL

from core import segmentation
from core.description import tunnel_mac

BROADCAST = "ff:ff:ff:ff:ff:ff"
SYNC_MAC = "02:5c:00:00:00:01"    # SYN copies between the proxies...
SYNC_SOURCE = "02:5c:00:00:00:00"  # ...whose source MAC ends with their real server's id
ETH_PROBE = 0x88b5            # IEEE 802 local experimental: the controller's liveness probes

T_CLASSIFY, T_CONNECTIONS, T_SELECTED, T_FORWARD, T_EGRESS = range(5)
T_INGRESS, T_SEGMENT, T_SWITCH = 0, 1, 2   # on edge switches: port security, segmentation, forwarding
T_LOG, T_SEEN, T_LOG_NEW = 10, 11, 12     # on edge switches: the connection log
GROUP_SELECT = 1              # on proxies: the Maglev slots
GROUP_SPREAD = 1              # on s_pub, active-active: the VIP's packets over the live proxies
GROUP_FAILOVER = 2            # on s_pub (and s_lan in NAT): the active proxy, else the next live one
LOG_METER = 1
PASSIVE_METER = 2             # on edge switches with real servers: their RSTs and ICMP errors
DENY_METER = 3                # on edge switches: copies of what segmentation refused
SPOOF_METER = 4               # on edge switches: copies of forged packets
NEW_FLOW_IDLE = 30            # s a UDP/ICMP flow stays "seen" (not logged again) while idle

# Priorities, one table for the whole pipeline (as FAUCET's valve_of keeps one).
PRI_BLOCK = 500      # a blocked source: dropped before anything else
PRI_LOCAL = 300      # the switch's own traffic: liveness probes, ARP it answers, its tunnel endpoint
PRI_SYNC = 250       # SYN copies between the proxies
PRI_HIGH = 200       # the VIP and the NAT gateway: steered, served; a SYN choosing its server anew
PRI_NARROW = 110     # a narrower case of a PRI_MATCH flow, counted apart (a SYN, a FIN)
PRI_MATCH = 100      # an exact match: a host's MAC, a connection's server, a real server, a client
PRI_BROAD = 90       # the general case under PRI_MATCH: broadcast, a flow's first packet
PRI_DEFAULT = 10     # the default route
PRI_MISS = 0         # what matched nothing more specific

# tcp_flags matches (value, mask)
SYN_ONLY = (TCP_SYN, TCP_SYN | TCP_ACK)     # a connection's first packet
FIN_SET = (TCP_FIN, TCP_FIN)
RST_SET = (TCP_RST, TCP_RST)

# Cookies tag what installed a flow.
COOKIE_L2 = 0x1
COOKIE_STEER = 0x2
COOKIE_LB = 0x3
COOKIE_PROBE = 0x4
COOKIE_BLOCK = 0x5
COOKIE_LOG = 0x6
COOKIE_PASSIVE = 0x7
COOKIE_GUARD = 0x8            # port security and segmentation: what may pass
COOKIE_DENY = 0x9             # ...what segmentation refused (its copies to the controller)
COOKIE_SPOOF = 0xa            # ...forged packets (their copies to the controller)
COOKIE_KINDS = (COOKIE_L2, COOKIE_STEER, COOKIE_LB, COOKIE_PROBE, COOKIE_BLOCK, COOKIE_LOG, COOKIE_PASSIVE,
                COOKIE_GUARD, COOKIE_DENY, COOKIE_SPOOF)
KIND_MASK = 0xffffffff        # the low half of a switch's cookie: the kind; the high half: a fingerprint
# Every copy an edge switch sends the controller passes the meter of its kind, and only that one
# (controller/accounting.py counts each meter's copies against what the controller received).
COPY_METERS = {COOKIE_LOG: LOG_METER, COOKIE_DENY: DENY_METER, COOKIE_SPOOF: SPOOF_METER,
               COOKIE_PASSIVE: PASSIVE_METER}


@dataclass(frozen=True)
class Output:
    port: int


@dataclass(frozen=True)
class SetField:
    field: str
    value: object


@dataclass(frozen=True)
class Move:
    """Copy the low n_bits of one field into the low bits of another (Nicira reg_move)."""
    src: str
    dst: str
    n_bits: int


@dataclass(frozen=True)
class Resubmit:
    table_id: int


@dataclass(frozen=True)
class Conntrack:
    """Pass the packet through the connection tracker's `zone` (Nicira ct): with `commit`, keep
    the connection, with `mark` as its ct_mark; with `table`, continue there after the lookup
    (ct_state and ct_mark then known), else go on with the next action."""
    zone: int
    commit: bool = False
    table: Optional[int] = None
    mark: Optional[int] = None


@dataclass(frozen=True)
class Group:
    group_id: int


SELECT, FAST_FAILOVER = "select", "fast_failover"


@dataclass(frozen=True)
class GroupSpec:
    """A select group: Open vSwitch hashes the 5-tuple in the datapath (dp_hash, its default
    for select groups) and, its buckets being of equal weight, hands out the hash values to them
    in order; so bucket i takes the same share of connections on every switch. A bucket that
    watches a port is used only while that port is live (a select group's dead bucket's hash
    values go to the next live buckets); a fast-failover group uses its first live bucket."""
    group_id: int
    buckets: Tuple[Tuple[object, ...], ...]    # each bucket's actions; empty: drop
    kind: str = SELECT
    watch_ports: Tuple[int, ...] = ()          # per bucket, the port it watches; none: always live


@dataclass(frozen=True)
class Meter:
    """Pass through an OpenFlow meter (an instruction, applied before the flow's actions)."""
    meter_id: int


@dataclass(frozen=True)
class LearnSeen:
    """Learn (IP source, destination, protocol) into `table_id`, an entry that sets reg3 = 1."""
    table_id: int
    idle_timeout: int = NEW_FLOW_IDLE


@dataclass(frozen=True)
class FlowSpec:
    priority: int
    match: Tuple[Tuple[str, object], ...]   # OFPMatch field names and values, sorted
    actions: Tuple[object, ...] = ()        # empty: drop
    table_id: int = 0
    cookie: int = COOKIE_L2

    @classmethod
    def make(cls, priority, actions=(), table_id=0, cookie=COOKIE_L2, **match):
        return cls(priority=priority, match=tuple(sorted(match.items())), actions=tuple(actions),
                   table_id=table_id, cookie=cookie)

    @property
    def match_dict(self):
        return dict(self.match)

    @property
    def key(self):
        """What identifies a flow entry in a switch: table, priority and match."""
        return (self.table_id, self.priority, self.match)

    @property
    def wire_cookie(self):
        """The cookie the switch holds: the flow's kind, with a fingerprint of its actions in
        the high half, so that a switch's flows read back say whether each is the one wanted
        (a restarted controller then changes nothing that is right)."""
        return self.cookie | zlib.crc32(repr(self.actions).encode()) << 32

    @classmethod
    def from_key(cls, key):
        """A spec naming an entry by its key alone (for deleting one read back from a switch)."""
        table_id, priority, match = key
        return cls(priority=priority, match=match, table_id=table_id, cookie=0)


@dataclass(frozen=True)
class BalancerView:
    """What the pipeline needs of the balancer's state."""
    active_proxies: Tuple[str, ...]     # carrying the VIP; the first also answers ARP for it
    table: Tuple[Optional[str], ...]    # Maglev lookup table: a real server name per slot
    server_ids: Tuple[Tuple[str, int], ...]
    blocked: Tuple[str, ...] = ()       # sources dropped at the public edge
    healthy: Tuple[str, ...] = ()       # real servers whose connections stay with them
    passive_checks: bool = True         # copy real servers' RSTs and ICMP errors to the controller
    segmentation: bool = True           # hosts may send only what core/segmentation.py allows
    bfd_held: bool = False              # a switch stall holds BFD's verdicts (controller/proxies.py)

    def server_id(self, name):
        return dict(self.server_ids)[name]


def server_ids(description):
    """Stable small integers for real servers (reg1 and ct_mark values): 1, 2, ..."""
    return tuple((web.name, i) for i, web in enumerate(description.real_servers, 1))


# --- edge switches ----------------------------------------------------------------------------
def edge_l2_flows(description, switch):
    """Static L2 forwarding among the hosts of one edge switch.

    Known unicast goes to its port; broadcast (ARP) floods to the other host ports only. Proxy
    ports are never flooded to: the proxies join s_pub and s_lan twice over, and flooding there
    would loop. Anything else misses the table and is dropped.
    """
    host_ports = description.host_ports(switch)
    flows = [FlowSpec.make(PRI_MATCH, logged([Output(port)]), table_id=T_SWITCH, eth_dst=intf.mac)
             for port, intf in sorted(host_ports.items())]
    for in_port in sorted(host_ports):
        others = [Output(p) for p in sorted(host_ports) if p != in_port]
        flows.append(FlowSpec.make(PRI_BROAD, others, table_id=T_SWITCH, in_port=in_port, eth_dst=BROADCAST))
    for in_port in sorted(description.trunk_ports(switch)):   # a proxy's gratuitous ARP
        flows.append(FlowSpec.make(PRI_BROAD, [Output(p) for p in sorted(host_ports)], table_id=T_SWITCH,
                                   in_port=in_port, eth_dst=BROADCAST))
    return flows


def logged(actions):
    """Forwarding actions, then the connection log (see the module's docstring)."""
    return list(actions) + [Resubmit(T_LOG)]


def connection_log_flows():
    """Tables 10-12 of an edge switch: a metered copy to the controller of every TCP SYN, and of
    the first packet of every UDP or ICMP flow (then remembered for NEW_FLOW_IDLE seconds)."""
    to_controller = [Meter(LOG_METER), Output(CONTROLLER)]
    flows = [FlowSpec.make(PRI_MATCH, to_controller, table_id=T_LOG, cookie=COOKIE_LOG, eth_type=ETH_IP,
                           ip_proto=PROTO_TCP, tcp_flags=SYN_ONLY)]
    flows += [FlowSpec.make(PRI_BROAD, [Resubmit(T_SEEN), Resubmit(T_LOG_NEW)], table_id=T_LOG, cookie=COOKIE_LOG,
                            eth_type=ETH_IP, ip_proto=proto) for proto in (PROTO_UDP, PROTO_ICMP)]
    flows.append(FlowSpec.make(PRI_MATCH, [], table_id=T_LOG_NEW, cookie=COOKIE_LOG, reg3=1))
    flows.append(FlowSpec.make(PRI_BROAD, [LearnSeen(T_SEEN)] + to_controller, table_id=T_LOG_NEW,
                               cookie=COOKIE_LOG, eth_type=ETH_IP))
    return flows


def passive_check_flows(d, switch):
    """On an edge switch with real servers (s_lan, s_far), after forwarding: a metered copy to the
    controller of each TCP RST from a real server's service port and of each ICMP
    destination-unreachable, the signals of a real server gone (passive health checks; the
    controller confirms each with an active check before acting)."""
    to_controller = [Meter(PASSIVE_METER), Output(CONTROLLER)]
    # By the server's MAC: in DR and TUN its replies come from the VIP.
    flows = [FlowSpec.make(PRI_HIGH, to_controller, table_id=T_LOG, cookie=COOKIE_PASSIVE, eth_type=ETH_IP,
                           eth_src=web.service_interface.mac, ip_proto=PROTO_TCP, tcp_src=d.http_port,
                           tcp_flags=RST_SET)
             for web in d.real_servers_on(switch)]
    if flows:
        # The controller's own health checks meeting a dead server: already checks, not signals.
        flows.append(FlowSpec.make(PRI_SYNC, [], table_id=T_LOG, cookie=COOKIE_PASSIVE, eth_type=ETH_IP,
                                   ip_proto=PROTO_TCP, ipv4_dst=d.management_ip, tcp_flags=RST_SET))
        flows.append(FlowSpec.make(PRI_HIGH, to_controller, table_id=T_LOG, cookie=COOKIE_PASSIVE, eth_type=ETH_IP,
                                   ip_proto=PROTO_ICMP, icmpv4_type=ICMP_DEST_UNREACH))
    return flows


def _steer(ip, mac, actions):
    """An address: its ARP requests and its MAC go where `actions` send them."""
    return [FlowSpec.make(PRI_HIGH, actions, table_id=T_SWITCH, cookie=COOKIE_STEER, eth_type=ETH_ARP, arp_tpa=ip),
            FlowSpec.make(PRI_HIGH, logged(actions), table_id=T_SWITCH, cookie=COOKIE_STEER, eth_dst=mac)]


def _steer_vip(d, view):
    """The VIP to its proxy through the fast-failover group; active-active: its packets spread
    over the proxies by a hash of the connection (so a connection stays on one proxy), its ARP
    still to one of them."""
    packets = Group(GROUP_SPREAD if len(view.active_proxies) > 1 else GROUP_FAILOVER)
    return [FlowSpec.make(PRI_HIGH, [Group(GROUP_FAILOVER)], table_id=T_SWITCH, cookie=COOKIE_STEER,
                          eth_type=ETH_ARP, arp_tpa=d.vip),
            FlowSpec.make(PRI_HIGH, logged([packets]), table_id=T_SWITCH, cookie=COOKIE_STEER, eth_dst=d.vip_mac)]


def failover_group(d, edge, view):
    """The proxies' ports on an edge switch in the order they should carry what is steered: the
    active proxies (in the controller's order), then the others, each bucket watching its port;
    last, the active proxy again, live while the switch has its controller. BFD going silent
    towards every proxy at once says more about the switch running it (its main thread held up,
    for instance) than about the proxies: the controller's choice then holds. While a stall holds
    BFD's verdicts, a first bucket to the active proxy, live while the switch has its controller,
    keeps the sessions that come back first from taking the VIP with them."""
    order = list(view.active_proxies) + [p for p in d.proxies if p not in view.active_proxies]
    ports = tuple(d.proxy_port(edge, p) for p in order)
    pinned = ports[:1] if view.bfd_held else ()
    return GroupSpec(GROUP_FAILOVER, tuple((Output(port),) for port in pinned + ports + ports[:1]), FAST_FAILOVER,
                     (CONTROLLER,) * len(pinned) + ports + (CONTROLLER,))


def spread_group(d, view):
    ports = tuple(d.proxy_port(d.public_edge, p) for p in view.active_proxies)
    return GroupSpec(GROUP_SPREAD, tuple((Output(port),) for port in ports), SELECT, ports)


def proxy_monitoring_flows(d, switch):
    """On s_pub and s_lan: probes back from a proxy go to the controller; SYN copies from one
    proxy go to the other."""
    ports = {peer: port for port, peer in d.trunk_ports(switch).items()}
    flows = [FlowSpec.make(PRI_LOCAL, [Output(CONTROLLER)], table_id=T_SWITCH, cookie=COOKIE_PROBE, in_port=port,
                           eth_type=ETH_PROBE)
             for port in sorted(ports.values())]
    if switch == d.public_edge:
        for proxy, port in sorted(ports.items()):
            others = [Output(p) for peer, p in sorted(ports.items()) if peer != proxy]
            flows.append(FlowSpec.make(PRI_SYNC, others, table_id=T_SWITCH, cookie=COOKIE_STEER, in_port=port,
                                       eth_dst=SYNC_MAC))
    return flows


def block_flows(view):
    """On s_pub, the public edge: every packet from a blocked source is dropped, before anything
    (its connection attempts still logged)."""
    return [FlowSpec.make(PRI_BLOCK, logged([]), table_id=T_INGRESS, cookie=COOKIE_BLOCK, eth_type=ETH_IP, ipv4_src=ip)
            for ip in view.blocked]


def steering_flows(description, switch, view):
    d = description
    flows = proxy_monitoring_flows(d, switch) if switch in d.proxy_edges else []
    if switch == d.public_edge:
        flows += block_flows(view)
    if view.active_proxies:
        if switch == d.public_edge:
            flows += _steer_vip(d, view)
        if switch == d.lan_edge and d.mode == "nat":
            flows += _steer(d.nat_gateway, d.gateway_mac, [Group(GROUP_FAILOVER)])
    if switch == d.lan_edge and d.mode == "tun":
        for t in d.tunnels:   # every proxy's tunnel endpoint, standby included
            flows += _steer(t.local_ip, t.local_mac, [Output(d.proxy_port(d.lan_edge, t.proxy))])
    return flows


# --- edge switches: what may come in ----------------------------------------------------------
def _copy(meter, cookie, table_id, priority, **match):
    """Drop, and copy to the controller through `meter` (what was refused, and where)."""
    return FlowSpec.make(priority, [Meter(meter), Output(CONTROLLER)], table_id=table_id, cookie=cookie, **match)


def _own_sources(d, host, intf):
    """The IPv4 sources a host may send from on this interface: its address; a DR or TUN real
    server's service interface also the VIP (its replies), and the peer's directors the VIP (the
    one holding it answers from it)."""
    answers_from_vip = ((host.role == "web" and intf == host.service_interface and d.servers_answer_from_vip)
                        or (host.role == "director" and intf.switch == d.public_edge))
    return [intf.ip] + ([d.vip] if answers_from_vip else [])


def _port_security(intf, sources):
    """A host port lets in only its host's MAC with one of `sources` (IP, and ARP's sender);
    other IPv4 and ARP is forged: dropped and reported; anything else is dropped."""
    ip, arp = dict(in_port=intf.port, eth_src=intf.mac, eth_type=ETH_IP), dict(
        in_port=intf.port, eth_src=intf.mac, eth_type=ETH_ARP, arp_sha=intf.mac)
    flows = []
    for source in sources:
        flows.append(FlowSpec.make(PRI_MATCH, [Resubmit(T_SEGMENT)], cookie=COOKIE_GUARD, ipv4_src=source, **ip))
        flows.append(FlowSpec.make(PRI_MATCH, [Resubmit(T_SWITCH)], cookie=COOKIE_GUARD, arp_spa=source, **arp))
    return flows + [_copy(SPOOF_METER, COOKIE_SPOOF, T_INGRESS, PRI_MISS, in_port=intf.port, eth_type=kind)
                    for kind in (ETH_IP, ETH_ARP)]


def _router_port(d, intf):
    """r0 brings in what comes from the other segments, with any source but this segment's own:
    a packet from r0 claiming an address of this switch's subnet (but r0's, and the VIP that DR
    and TUN replies come back from) is forged."""
    sources = [intf.ip] + ([d.vip] if intf.switch == d.public_edge and d.servers_answer_from_vip else [])
    net = ipaddress.ip_interface("%s/%d" % (intf.ip, intf.prefixlen)).network
    flows = _port_security(intf, sources)
    flows.append(_copy(SPOOF_METER, COOKIE_SPOOF, T_INGRESS, PRI_BROAD, in_port=intf.port, eth_type=ETH_IP,
                       ipv4_src=(str(net.network_address), str(net.netmask))))
    flows.append(FlowSpec.make(PRI_DEFAULT, [Resubmit(T_SEGMENT)], cookie=COOKIE_GUARD, in_port=intf.port,
                               eth_src=intf.mac, eth_type=ETH_IP))
    return flows


def ingress_flows(d, switch):
    """Table INGRESS of an edge switch: port security. The proxies' ports (the load balancer's
    own cables) pass to forwarding as they are."""
    flows = [FlowSpec.make(PRI_MATCH, [Resubmit(T_SWITCH)], cookie=COOKIE_GUARD, in_port=port)
             for port in sorted(d.trunk_ports(switch))]
    for host in d.hosts:
        for intf in host.interfaces:
            if intf.switch != switch:
                continue
            flows += (_router_port(d, intf) if host.role == "router"
                      else _port_security(intf, _own_sources(d, host, intf)))
    return flows


def segmentation_flows(d, switch, view):
    """Table SEGMENT of an edge switch: what each host may send to whom (core/segmentation.py),
    judged at the host's own port; the rest is dropped and reported. The infrastructure's ports
    pass; with segmentation off, every port does."""
    if not view.segmentation:
        return [FlowSpec.make(PRI_MISS, [Resubmit(T_SWITCH)], table_id=T_SEGMENT, cookie=COOKIE_GUARD)]
    flows = {}
    for host in d.hosts:
        for intf in (i for i in host.interfaces if i.switch == switch):
            port = dict(in_port=intf.port, eth_type=ETH_IP)
            if segmentation.sender(d, host, intf) == segmentation.INFRASTRUCTURE:
                rules = [FlowSpec.make(PRI_MATCH, [Resubmit(T_SWITCH)], table_id=T_SEGMENT, cookie=COOKIE_GUARD,
                                       in_port=intf.port)]
            else:
                rules = [_copy(DENY_METER, COOKIE_DENY, T_SEGMENT, PRI_MISS, **port)]
            for fields, replies_only in segmentation.allowed(d, host, intf):
                rules.append(FlowSpec.make(PRI_MATCH, [Resubmit(T_SWITCH)], table_id=T_SEGMENT, cookie=COOKIE_GUARD,
                                           **port, **fields))
                if replies_only:
                    rules.append(_copy(DENY_METER, COOKIE_DENY, T_SEGMENT, PRI_NARROW, tcp_flags=SYN_ONLY,
                                       **port, **fields))
            flows.update((f.key, f) for f in rules)
    return list(flows.values())


# --- proxies ----------------------------------------------------------------------------------
def arp_responder(ip, mac, in_port):
    """Answer an ARP request for `ip` with `mac`, in the data plane (no packet-in)."""
    return FlowSpec.make(PRI_LOCAL, [
        Move("eth_src", "eth_dst", 48), SetField("eth_src", mac),
        SetField("arp_op", ARP_REPLY),
        Move("arp_sha", "arp_tha", 48), Move("arp_spa", "arp_tpa", 32),
        SetField("arp_sha", mac), SetField("arp_spa", ip), Output(IN_PORT),
    ], cookie=COOKIE_LB, in_port=in_port, eth_type=ETH_ARP, arp_op=ARP_REQUEST, arp_tpa=ip)


def sync_source(sid):
    """The source MAC of a SYN copy for real server `sid`."""
    return SYNC_SOURCE[:-5] + "%02x:%02x" % (sid >> 8, sid & 0xff)


def classify_flows(d, proxy, uplink, downlink, view):
    zone = d.conntrack_zone(proxy)
    track = [Conntrack(zone, table=T_CONNECTIONS)]
    service = dict(in_port=uplink, eth_type=ETH_IP, ipv4_dst=d.vip, ip_proto=PROTO_TCP, tcp_dst=d.http_port)
    flows = [
        arp_responder(d.vip, d.vip_mac, uplink),
        FlowSpec.make(PRI_HIGH, track, cookie=COOKIE_LB, **service),
        FlowSpec.make(PRI_HIGH, track, cookie=COOKIE_LB, in_port=uplink, eth_type=ETH_IP, ipv4_dst=d.vip,
                      ip_proto=PROTO_ICMP),
    ]
    # The other proxy's copy of a new connection's SYN: commit it with the server it names,
    # forward nothing.
    for web in d.real_servers:
        sid = view.server_id(web.name)
        flows.append(FlowSpec.make(PRI_SYNC, [Conntrack(zone, commit=True, mark=sid)], cookie=COOKIE_LB,
                                   **dict(service, eth_dst=SYNC_MAC, eth_src=sync_source(sid))))
    flows += [FlowSpec.make(PRI_LOCAL, [Output(IN_PORT)], cookie=COOKIE_PROBE, in_port=port, eth_type=ETH_PROBE)
              for port in (uplink, downlink)]
    if d.mode == "nat":
        flows.append(arp_responder(d.nat_gateway, d.gateway_mac, downlink))
        for web in d.real_servers:
            flows.append(FlowSpec.make(
                PRI_HIGH, [SetField("ipv4_src", d.vip), SetField("eth_src", d.vip_mac), Resubmit(T_EGRESS)],
                cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_IP, eth_dst=d.gateway_mac,
                ipv4_src=web.ip))
    if d.mode == "tun":
        # OVS native tunnelling sends and receives the outer packets through the LOCAL port.
        t = d.tunnel(proxy)
        flows += [
            FlowSpec.make(PRI_LOCAL, [Output(downlink)], cookie=COOKIE_LB, in_port=LOCAL),
            FlowSpec.make(PRI_LOCAL, [Output(LOCAL)], cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_ARP,
                          arp_tpa=t.local_ip),
            FlowSpec.make(PRI_LOCAL, [Output(LOCAL)], cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_IP,
                          ipv4_dst=t.local_ip),
        ]
    return flows


def connection_flows(view):
    """A tracked connection keeps its real server while that server is healthy; a SYN always
    chooses anew (a reused 5-tuple is a new connection: the old one may linger in the tracker,
    which follows one direction and cannot see it close)."""
    select = [Group(GROUP_SELECT)]
    flows = [FlowSpec.make(PRI_HIGH, select, table_id=T_CONNECTIONS, cookie=COOKIE_LB, eth_type=ETH_IP,
                           ip_proto=PROTO_TCP, tcp_flags=SYN_ONLY),
             FlowSpec.make(PRI_MISS, select, table_id=T_CONNECTIONS, cookie=COOKIE_LB)]
    for server in view.healthy:
        sid = view.server_id(server)
        flows.append(FlowSpec.make(PRI_MATCH, [SetField("reg1", sid), Resubmit(T_FORWARD)], table_id=T_CONNECTIONS,
                                   cookie=COOKIE_LB, ct_mark=sid))
    return flows


def select_group(d, proxy, view):
    """One bucket per Maglev slot: its real server into reg1 (kept across the recirculation,
    and still there if the tracker is full), then committed as the connection's mark."""
    zone = d.conntrack_zone(proxy)

    def bucket(server):
        if server is None:
            return ()
        sid = view.server_id(server)
        return (SetField("reg1", sid), Conntrack(zone, commit=True, table=T_SELECTED, mark=sid))
    return GroupSpec(GROUP_SELECT, tuple(bucket(server) for server in view.table))


def selected_flows(d, view):
    """After the commit: a new connection's SYN is copied to the other proxy, carrying the
    server's id in its source MAC (FORWARD rewrites the MACs of the packet itself). The SYN
    flows' counters count the connections each server was given."""
    flows = []
    for web in d.real_servers:
        sid = view.server_id(web.name)
        copy = [SetField("eth_dst", SYNC_MAC), SetField("eth_src", sync_source(sid)), Output(IN_PORT)]
        flows.append(FlowSpec.make(PRI_NARROW, copy + [Resubmit(T_FORWARD)], table_id=T_SELECTED, cookie=COOKIE_LB,
                                   reg1=sid, eth_type=ETH_IP, ip_proto=PROTO_TCP,
                                   tcp_flags=SYN_ONLY))
        flows.append(FlowSpec.make(PRI_MATCH, [Resubmit(T_FORWARD)], table_id=T_SELECTED, cookie=COOKIE_LB, reg1=sid))
    return flows


def forward_actions(d, proxy, web, downlink):
    """The forwarding method, LVS style, for one real server."""
    if d.mode == "nat":
        return [SetField("eth_src", d.gateway_mac), SetField("eth_dst", web.interfaces[0].mac),
                SetField("ipv4_dst", web.ip), Output(downlink)]
    if d.mode == "dr":   # the director's MAC as the source, as LVS does
        return [SetField("eth_src", d.vip_mac), SetField("eth_dst", web.interfaces[0].mac), Output(downlink)]
    t = d.tunnel(proxy)
    return [SetField("tun_ipv4_dst", web.ip), SetField("eth_dst", tunnel_mac(web.ip)),
            SetField("pkt_mark", t.pkt_mark), Output(t.port)]


def forward_flows(d, proxy, view, downlink):
    """The forwarding method per real server; the clients' FINs through a flow of their own, to
    count closed connections."""
    flows = []
    for web in d.real_servers:
        actions, sid = forward_actions(d, proxy, web, downlink), view.server_id(web.name)
        flows += [FlowSpec.make(PRI_MATCH, actions, table_id=T_FORWARD, cookie=COOKIE_LB, eth_type=ETH_IP, reg1=sid),
                  FlowSpec.make(PRI_NARROW, actions, table_id=T_FORWARD, cookie=COOKIE_LB, eth_type=ETH_IP, reg1=sid,
                                ip_proto=PROTO_TCP, tcp_flags=FIN_SET)]
    return flows


def egress_flows(d, uplink):
    """NAT replies: the public host's own MAC when it is on the public net, else r0's."""
    router_mac = d.router.interface_on(d.public_edge).mac
    flows = [FlowSpec.make(PRI_MATCH, [SetField("eth_dst", intf.mac), Output(uplink)], table_id=T_EGRESS,
                           cookie=COOKIE_LB, eth_type=ETH_IP, ipv4_dst=intf.ip)
             for intf in d.host_ports(d.public_edge).values()]
    flows.append(FlowSpec.make(PRI_DEFAULT, [SetField("eth_dst", router_mac), Output(uplink)],
                               table_id=T_EGRESS, cookie=COOKIE_LB))
    return flows


def proxy_flows(description, proxy, view):
    d = description
    uplink, downlink = d.proxy_uplink(proxy), d.proxy_downlink(proxy)
    flows = classify_flows(d, proxy, uplink, downlink, view) + connection_flows(view) + selected_flows(d, view)
    flows += forward_flows(d, proxy, view, downlink)
    if d.mode == "nat":
        flows += egress_flows(d, uplink)
    return flows


def switch_flows(description, switch, view):
    """Every flow a switch should hold, given the balancer's state."""
    if description.switch(switch).role == "proxy":
        return proxy_flows(description, switch, view)
    flows = ingress_flows(description, switch) + segmentation_flows(description, switch, view)
    flows += edge_l2_flows(description, switch) + steering_flows(description, switch, view) + connection_log_flows()
    return flows + (passive_check_flows(description, switch) if view.passive_checks else [])


def switch_groups(description, switch, view):
    """Every group a switch should hold: the proxies' Maglev slots; on the edges that steer to
    a proxy, the failover order of the proxies, and on s_pub the spread of the VIP over them when
    more than one is active."""
    d = description
    if d.switch(switch).role == "proxy":
        return [select_group(d, switch, view)]
    groups = []
    if view.active_proxies and (switch == d.public_edge or (switch == d.lan_edge and d.mode == "nat")):
        groups.append(failover_group(d, switch, view))
    if switch == d.public_edge and len(view.active_proxies) > 1:
        groups.append(spread_group(d, view))
    return groups


def diff(installed, desired):
    """What turns a switch's `installed` entries into the `desired` ones (both: key -> entry):
    (keys to delete, keys to add, keys to modify). Unchanged entries are left alone."""
    deletes = [key for key in installed if key not in desired]
    adds = [key for key in desired if key not in installed]
    modifies = [key for key in desired if key in installed and installed[key] != desired[key]]
    return deletes, adds, modifies


def install_order(keys):
    """Flow keys (table, priority, match) in the order to send them: highest priority first, so
    that a rule's exceptions are in place before the rule itself and no packet meets the rule
    alone while a switch is being filled (a proxy re-created empty met the VIP's flow before the
    one that holds back the other proxy's SYN copies, and forwarded a copy as a SYN)."""
    return sorted(keys, key=lambda key: -key[1])
