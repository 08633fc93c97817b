"""The forwarding pipeline as flow specifications: pure data that unit tests read without a switch.

The Ryu adapter (controller/openflow.py) turns each FlowSpec into an OFPFlowMod. Every flow is
installed ahead of time from the cluster description and the balancer's state; no connection
needs the controller.

Edge switches (s_pub, s_lan, s_db): static L2 among their hosts, plus steering of the VIP (and in
NAT the real servers' gateway) to the active proxy, or spread over both by hash (active-active);
the controller's liveness probes coming back from the proxies go to the controller. Every
forwarding (or blocking) flow ends with a resubmit to the connection log tables (10-12): a copy
of each TCP SYN, and of the first packet of each UDP or ICMP flow, goes to the controller through
meter 1. The copy is made after the packet has been forwarded, so a meter that drops copies
never holds up forwarding.

Proxy pipeline (lb1, lb2), in tables:
  0 CLASSIFY     ARP for the VIP (and NAT gateway) answered in the data plane; packets to the
                 virtual service hashed (5-tuple -> reg0, a Maglev slot) and passed through 1-3;
                 NAT replies from real servers rewritten back to the VIP and passed to 4;
                 liveness probes sent back where they came from; each new TCP connection's SYN,
                 once its real server is chosen, copied to the other proxy (to SYNC_MAC, the
                 server's id in the source MAC), which learns that connection entry from it
                 without forwarding it: connection sync in the data plane, as LVS's sync daemon.
  1 CONNECTIONS  learned entries, one per TCP connection: reg1 = its real server (affinity).
  2 SELECT       one flow per Maglev slot: if no connection entry set reg1, set it from the
                 slot's real server and learn the connection into table 1.
  3 FORWARD      one flow per real server: the forwarding method (NAT rewrite, DR MAC rewrite,
                 TUN VXLAN encapsulation). Its counters are the server's traffic.
  4 EGRESS       NAT replies towards the public side: the client's MAC, or r0's for others.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

from controller.maglev import TABLE_SIZE
from topologies.description import tunnel_mac

BROADCAST = "ff:ff:ff:ff:ff:ff"
SYNC_MAC = "02:5c:00:00:00:01"    # SYN copies between the proxies...
SYNC_SOURCE = "02:5c:00:00:00:00"  # ...whose source MAC ends with their real server's id
IN_PORT = 0xfffffff8          # OFPP_IN_PORT
CONTROLLER = 0xfffffffd       # OFPP_CONTROLLER
LOCAL = 0xfffffffe            # OFPP_LOCAL
ETH_IP, ETH_ARP = 0x0800, 0x0806
ETH_PROBE = 0x88b5            # IEEE 802 local experimental: the controller's liveness probes
TCP_SYN, TCP_ACK = 0x002, 0x010
PROTO_ICMP, PROTO_TCP = 1, 6
ARP_REQUEST, ARP_REPLY = 1, 2

T_CLASSIFY, T_CONNECTIONS, T_SELECT, T_FORWARD, T_EGRESS = range(5)
T_SPREAD = 1                  # on s_pub, active-active: hash slot -> proxy
T_LOG, T_SEEN, T_LOG_NEW = 10, 11, 12     # on edge switches: the connection log
LOG_METER = 1
NEW_FLOW_IDLE = 30            # s a UDP/ICMP flow stays "seen" (not logged again) while idle
PROTO_UDP = 17

# Cookies tag what installed a flow. Learned connection entries carry COOKIE_CONNECTION plus
# their real server's id, so that one server's connections can be deleted by cookie.
COOKIE_L2 = 0x1
COOKIE_STEER = 0x2
COOKIE_LB = 0x3
COOKIE_PROBE = 0x4
COOKIE_BLOCK = 0x5
COOKIE_LOG = 0x6
COOKIE_CONNECTION = 0x1000

CONNECTION_IDLE_TIMEOUT = 300   # s, an idle established connection (LVS: 900)
CONNECTION_FIN_TIMEOUT = 2      # s, after a FIN or RST was seen


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
class Multipath:
    """reg = hash(IP addresses, protocol, L4 ports) mod n_links (Nicira multipath)."""
    n_links: int
    dst: str


@dataclass(frozen=True)
class LearnConnection:
    """Learn the packet's TCP 5-tuple into `table_id`, loading `register` there with the
    packet's own value of it, or with `value` when given."""
    table_id: int
    register: str
    cookie: int
    value: Optional[int] = None
    idle_timeout: int = CONNECTION_IDLE_TIMEOUT
    fin_idle_timeout: int = CONNECTION_FIN_TIMEOUT


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


@dataclass(frozen=True)
class BalancerView:
    """What the pipeline needs of the balancer's state."""
    active_proxies: Tuple[str, ...]     # carrying the VIP; the first also answers ARP for it
    table: Tuple[Optional[str], ...]    # Maglev lookup table: a real server name per slot
    server_ids: Tuple[Tuple[str, int], ...]
    blocked: Tuple[str, ...] = ()       # sources dropped at the public edge

    def server_id(self, name):
        return dict(self.server_ids)[name]


def server_ids(description):
    """Stable small integers for real servers (reg1 values, cookie ids): 1, 2, ..."""
    return tuple((web.name, i) for i, web in enumerate(description.real_servers, 1))


# --- edge switches ----------------------------------------------------------------------------
def edge_l2_flows(description, switch):
    """Static L2 forwarding among the hosts of one edge switch.

    Known unicast goes to its port; broadcast (ARP) floods to the other host ports only. Proxy
    ports are never flooded to: the proxies join s_pub and s_lan twice over, and flooding there
    would loop. Anything else misses the table and is dropped.
    """
    host_ports = description.host_ports(switch)
    flows = [FlowSpec.make(100, logged([Output(port)]), eth_dst=intf.mac)
             for port, intf in sorted(host_ports.items())]
    for in_port in sorted(host_ports):
        others = [Output(p) for p in sorted(host_ports) if p != in_port]
        flows.append(FlowSpec.make(90, others, in_port=in_port, eth_dst=BROADCAST))
    for in_port in sorted(description.trunk_ports(switch)):   # a proxy's gratuitous ARP
        flows.append(FlowSpec.make(90, [Output(p) for p in sorted(host_ports)], in_port=in_port,
                                   eth_dst=BROADCAST))
    return flows


def logged(actions):
    """Forwarding actions, then the connection log (see the module's docstring)."""
    return list(actions) + [Resubmit(T_LOG)]


def connection_log_flows():
    """Tables 10-12 of an edge switch: a metered copy to the controller of every TCP SYN, and of
    the first packet of every UDP or ICMP flow (then remembered for NEW_FLOW_IDLE seconds)."""
    to_controller = [Meter(LOG_METER), Output(CONTROLLER)]
    flows = [FlowSpec.make(100, to_controller, table_id=T_LOG, cookie=COOKIE_LOG, eth_type=ETH_IP,
                           ip_proto=PROTO_TCP, tcp_flags=(TCP_SYN, TCP_SYN | TCP_ACK))]
    flows += [FlowSpec.make(90, [Resubmit(T_SEEN), Resubmit(T_LOG_NEW)], table_id=T_LOG, cookie=COOKIE_LOG,
                            eth_type=ETH_IP, ip_proto=proto) for proto in (PROTO_UDP, PROTO_ICMP)]
    flows.append(FlowSpec.make(100, [], table_id=T_LOG_NEW, cookie=COOKIE_LOG, reg3=1))
    flows.append(FlowSpec.make(90, [LearnSeen(T_SEEN)] + to_controller, table_id=T_LOG_NEW,
                               cookie=COOKIE_LOG, eth_type=ETH_IP))
    return flows


def _steer(ip, mac, port):
    """An address owned by a proxy: its ARP requests and its MAC go to that proxy's port."""
    return [FlowSpec.make(200, [Output(port)], cookie=COOKIE_STEER, eth_type=ETH_ARP, arp_tpa=ip),
            FlowSpec.make(200, logged([Output(port)]), cookie=COOKIE_STEER, eth_dst=mac)]


def _spread_vip(d, view):
    """Active-active: the VIP's packets spread over the proxies by a hash of the connection
    (so a connection stays on one proxy); ARP still goes to one of them."""
    ports = [d.proxy_port("s_pub", p) for p in view.active_proxies]
    flows = [FlowSpec.make(200, [Output(ports[0])], cookie=COOKIE_STEER, eth_type=ETH_ARP, arp_tpa=d.vip),
             FlowSpec.make(200, logged([Multipath(len(ports), "reg0"), Resubmit(T_SPREAD)]),
                           cookie=COOKIE_STEER, eth_dst=d.vip_mac)]
    flows += [FlowSpec.make(100, [Output(port)], table_id=T_SPREAD, cookie=COOKIE_STEER, reg0=i)
              for i, port in enumerate(ports)]
    return flows


def proxy_monitoring_flows(d, switch):
    """On s_pub and s_lan: probes back from a proxy go to the controller; SYN copies from one
    proxy go to the other."""
    ports = {peer: port for port, peer in d.trunk_ports(switch).items()}
    flows = [FlowSpec.make(300, [Output(CONTROLLER)], cookie=COOKIE_PROBE, in_port=port, eth_type=ETH_PROBE)
             for port in sorted(ports.values())]
    if switch == "s_pub":
        for proxy, port in sorted(ports.items()):
            others = [Output(p) for peer, p in sorted(ports.items()) if peer != proxy]
            flows.append(FlowSpec.make(250, others, cookie=COOKIE_STEER, in_port=port, eth_dst=SYNC_MAC))
    return flows


def block_flows(view):
    """On s_pub, the public edge: every packet from a blocked source is dropped, before anything
    (its connection attempts still logged)."""
    return [FlowSpec.make(500, logged([]), cookie=COOKIE_BLOCK, eth_type=ETH_IP, ipv4_src=ip) for ip in view.blocked]


def steering_flows(description, switch, view):
    d = description
    flows = proxy_monitoring_flows(d, switch) if switch in ("s_pub", "s_lan") else []
    if switch == "s_pub":
        flows += block_flows(view)
    if view.active_proxies:
        first = view.active_proxies[0]
        if switch == "s_pub":
            flows += (_spread_vip(d, view) if len(view.active_proxies) > 1
                      else _steer(d.vip, d.vip_mac, d.proxy_port("s_pub", first)))
        if switch == "s_lan" and d.mode == "nat":
            flows += _steer(d.nat_gateway, d.gateway_mac, d.proxy_port("s_lan", first))
    if switch == "s_lan" and d.mode == "tun":
        for t in d.tunnels:   # every proxy's tunnel endpoint, standby included
            flows += _steer(t.local_ip, t.local_mac, d.proxy_port("s_lan", t.proxy))
    return flows


# --- proxies ----------------------------------------------------------------------------------
def arp_responder(ip, mac, in_port):
    """Answer an ARP request for `ip` with `mac`, in the data plane (no packet-in)."""
    return FlowSpec.make(300, [
        Move("eth_src", "eth_dst", 48), SetField("eth_src", mac),
        SetField("arp_op", ARP_REPLY),
        Move("arp_sha", "arp_tha", 48), Move("arp_spa", "arp_tpa", 32),
        SetField("arp_sha", mac), SetField("arp_spa", ip), Output(IN_PORT),
    ], cookie=COOKIE_LB, in_port=in_port, eth_type=ETH_ARP, arp_op=ARP_REQUEST, arp_tpa=ip)


def sync_source(sid):
    """The source MAC of a SYN copy for real server `sid`."""
    return SYNC_SOURCE[:-5] + "%02x:%02x" % (sid >> 8, sid & 0xff)


def classify_flows(d, proxy, uplink, downlink, view):
    hash_slot = Multipath(TABLE_SIZE, "reg0")
    choose = [hash_slot, Resubmit(T_CONNECTIONS), Resubmit(T_SELECT)]
    service = dict(in_port=uplink, eth_type=ETH_IP, ipv4_dst=d.vip, ip_proto=PROTO_TCP, tcp_dst=d.http_port)
    flows = [
        arp_responder(d.vip, d.vip_mac, uplink),
        FlowSpec.make(200, choose + [Resubmit(T_FORWARD)], cookie=COOKIE_LB, **service),
        FlowSpec.make(200, choose + [Resubmit(T_FORWARD)], cookie=COOKIE_LB, in_port=uplink,
                      eth_type=ETH_IP, ipv4_dst=d.vip, ip_proto=PROTO_ICMP),
        # A new connection: once its real server is chosen, a copy to the other proxy carrying
        # the server's id in its source MAC (FORWARD rewrites the MACs of the packet itself).
        FlowSpec.make(210, choose + [SetField("eth_dst", SYNC_MAC), SetField("eth_src", SYNC_SOURCE),
                                     Move("reg1", "eth_src", 16), Output(IN_PORT), Resubmit(T_FORWARD)],
                      cookie=COOKIE_LB, tcp_flags=(TCP_SYN, TCP_SYN | TCP_ACK), **service),
    ]
    # The other proxy's copy: learn the connection with the server it names, forward nothing.
    for web in d.real_servers:
        sid = view.server_id(web.name)
        learn = LearnConnection(T_CONNECTIONS, "reg1", COOKIE_CONNECTION | sid, value=sid)
        flows.append(FlowSpec.make(250, [learn], cookie=COOKIE_LB,
                                   **dict(service, eth_dst=SYNC_MAC, eth_src=sync_source(sid))))
    flows += [FlowSpec.make(300, [Output(IN_PORT)], cookie=COOKIE_PROBE, in_port=port, eth_type=ETH_PROBE)
              for port in (uplink, downlink)]
    if d.mode == "nat":
        flows.append(arp_responder(d.nat_gateway, d.gateway_mac, downlink))
        for web in d.real_servers:
            flows.append(FlowSpec.make(
                200, [SetField("ipv4_src", d.vip), SetField("eth_src", d.vip_mac), Resubmit(T_EGRESS)],
                cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_IP, eth_dst=d.gateway_mac,
                ipv4_src=web.ip))
    if d.mode == "tun":
        # OVS native tunnelling sends and receives the outer packets through the LOCAL port.
        t = d.tunnel(proxy)
        flows += [
            FlowSpec.make(300, [Output(downlink)], cookie=COOKIE_LB, in_port=LOCAL),
            FlowSpec.make(300, [Output(LOCAL)], cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_ARP,
                          arp_tpa=t.local_ip),
            FlowSpec.make(300, [Output(LOCAL)], cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_IP,
                          ipv4_dst=t.local_ip),
        ]
    return flows


def select_flows(view):
    """One pair of flows per Maglev slot; a slot with no real server has none (dropped)."""
    flows = []
    for slot, server in enumerate(view.table):
        if server is None:
            continue
        sid = view.server_id(server)
        choose = [SetField("reg1", sid)]
        learn = LearnConnection(T_CONNECTIONS, "reg1", COOKIE_CONNECTION | sid)
        flows.append(FlowSpec.make(110, choose + [learn], table_id=T_SELECT, cookie=COOKIE_LB,
                                   reg1=0, reg0=slot, eth_type=ETH_IP, ip_proto=PROTO_TCP))
        flows.append(FlowSpec.make(100, choose, table_id=T_SELECT, cookie=COOKIE_LB, reg1=0, reg0=slot))
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
    return [FlowSpec.make(100, forward_actions(d, proxy, web, downlink), table_id=T_FORWARD,
                          cookie=COOKIE_LB, eth_type=ETH_IP, reg1=view.server_id(web.name))
            for web in d.real_servers]


def egress_flows(d, uplink):
    """NAT replies: the public host's own MAC when it is on the public net, else r0's."""
    router_mac = d.host("r0").interface_on("s_pub").mac
    flows = [FlowSpec.make(100, [SetField("eth_dst", intf.mac), Output(uplink)], table_id=T_EGRESS,
                           cookie=COOKIE_LB, eth_type=ETH_IP, ipv4_dst=intf.ip)
             for intf in d.host_ports("s_pub").values()]
    flows.append(FlowSpec.make(10, [SetField("eth_dst", router_mac), Output(uplink)],
                               table_id=T_EGRESS, cookie=COOKIE_LB))
    return flows


def proxy_flows(description, proxy, view):
    d = description
    ports = {peer: port for port, peer in d.trunk_ports(proxy).items()}
    uplink, downlink = ports["s_pub"], ports["s_lan"]
    flows = classify_flows(d, proxy, uplink, downlink, view) + select_flows(view)
    flows += forward_flows(d, proxy, view, downlink)
    if d.mode == "nat":
        flows += egress_flows(d, uplink)
    return flows


def switch_flows(description, switch, view):
    """Every flow a switch should hold, given the balancer's state."""
    if description.switch(switch).role == "proxy":
        return proxy_flows(description, switch, view)
    return edge_l2_flows(description, switch) + steering_flows(description, switch, view) + connection_log_flows()
