"""The proxies' pipeline (lb1, lb2): classification, connection tracking, the Maglev select
group, SYN copies to the other proxy, and the forwarding method per real server. Tables:
controller/pipeline.py."""
from typing import List, Optional, Tuple

from controller.pipeline import (ARP_REPLY, ARP_REQUEST, COOKIE_LB, COOKIE_PROBE, ETH_ARP, ETH_IP, ETH_PROBE, FIN_SET,
                                 GROUP_SELECT, IN_PORT, LOCAL, PRI_DEFAULT, PRI_HIGH, PRI_LOCAL, PRI_MATCH, PRI_MISS,
                                 PRI_NARROW, PRI_SYNC, PROTO_ICMP, PROTO_TCP, SYNC_MAC, SYNC_SOURCE, SYN_ONLY,
                                 T_CONNECTIONS, T_EGRESS, T_FORWARD, T_SELECTED)
from controller.specs import BalancerView, Conntrack, FlowSpec, Group, GroupSpec, Move, Output, Resubmit, SetField
from core.addressing import tunnel_mac
from core.description import ClusterDescription, Host


def arp_responder(ip: str, mac: str, in_port: int) -> FlowSpec:
    """Answer an ARP request for `ip` with `mac`, in the data plane (no packet-in)."""
    return FlowSpec.make(PRI_LOCAL, [
        Move("eth_src", "eth_dst", 48), SetField("eth_src", mac),
        SetField("arp_op", ARP_REPLY),
        Move("arp_sha", "arp_tha", 48), Move("arp_spa", "arp_tpa", 32),
        SetField("arp_sha", mac), SetField("arp_spa", ip), Output(IN_PORT),
    ], cookie=COOKIE_LB, in_port=in_port, eth_type=ETH_ARP, arp_op=ARP_REQUEST, arp_tpa=ip)


def sync_source(sid: int) -> str:
    """The source MAC of a SYN copy for real server `sid`."""
    return SYNC_SOURCE[:-5] + "%02x:%02x" % (sid >> 8, sid & 0xff)


def classify_flows(description: ClusterDescription, proxy: str, uplink: int, downlink: int,
                   view: BalancerView) -> List[FlowSpec]:
    zone = description.conntrack_zone(proxy)
    track = [Conntrack(zone, table=T_CONNECTIONS)]
    service = dict(in_port=uplink, eth_type=ETH_IP, ipv4_dst=description.vip, ip_proto=PROTO_TCP,
                   tcp_dst=description.http_port)
    flows = [
        arp_responder(description.vip, description.vip_mac, uplink),
        FlowSpec.make(PRI_HIGH, track, cookie=COOKIE_LB, **service),
        FlowSpec.make(PRI_HIGH, track, cookie=COOKIE_LB, in_port=uplink, eth_type=ETH_IP, ipv4_dst=description.vip,
                      ip_proto=PROTO_ICMP),
    ]
    # The other proxy's copy of a new connection's SYN: commit it with the server it names,
    # forward nothing.
    for web in description.real_servers:
        sid = view.server_id(web.name)
        flows.append(FlowSpec.make(PRI_SYNC, [Conntrack(zone, commit=True, mark=sid)], cookie=COOKIE_LB,
                                   **dict(service, eth_dst=SYNC_MAC, eth_src=sync_source(sid))))
    flows += [FlowSpec.make(PRI_LOCAL, [Output(IN_PORT)], cookie=COOKIE_PROBE, in_port=port, eth_type=ETH_PROBE)
              for port in (uplink, downlink)]
    if description.mode == "nat":
        flows.append(arp_responder(description.nat_gateway, description.gateway_mac, downlink))
        for web in description.real_servers:
            flows.append(FlowSpec.make(
                PRI_HIGH, [SetField("ipv4_src", description.vip), SetField("eth_src", description.vip_mac),
                           Resubmit(T_EGRESS)],
                cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_IP, eth_dst=description.gateway_mac,
                ipv4_src=web.ip))
    if description.mode == "tun":
        # OVS native tunnelling sends and receives the outer packets through the LOCAL port.
        t = description.tunnel(proxy)
        flows += [
            FlowSpec.make(PRI_LOCAL, [Output(downlink)], cookie=COOKIE_LB, in_port=LOCAL),
            FlowSpec.make(PRI_LOCAL, [Output(LOCAL)], cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_ARP,
                          arp_tpa=t.local_ip),
            FlowSpec.make(PRI_LOCAL, [Output(LOCAL)], cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_IP,
                          ipv4_dst=t.local_ip),
        ]
    return flows


def connection_flows(view: BalancerView) -> List[FlowSpec]:
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


def select_group(description: ClusterDescription, proxy: str, view: BalancerView) -> GroupSpec:
    """One bucket per Maglev slot: its real server into reg1 (kept across the recirculation,
    and still there if the tracker is full), then committed as the connection's mark."""
    zone = description.conntrack_zone(proxy)

    def bucket(server: Optional[str]) -> Tuple[object, ...]:
        if server is None:
            return ()
        sid = view.server_id(server)
        return (SetField("reg1", sid), Conntrack(zone, commit=True, table=T_SELECTED, mark=sid))
    return GroupSpec(GROUP_SELECT, tuple(bucket(server) for server in view.table))


def selected_flows(description: ClusterDescription, view: BalancerView) -> List[FlowSpec]:
    """After the commit: a new connection's SYN is copied to the other proxy, carrying the
    server's id in its source MAC (FORWARD rewrites the MACs of the packet itself). The SYN
    flows' counters count the connections each server was given."""
    flows = []
    for web in description.real_servers:
        sid = view.server_id(web.name)
        copy = [SetField("eth_dst", SYNC_MAC), SetField("eth_src", sync_source(sid)), Output(IN_PORT)]
        flows.append(FlowSpec.make(PRI_NARROW, copy + [Resubmit(T_FORWARD)], table_id=T_SELECTED, cookie=COOKIE_LB,
                                   reg1=sid, eth_type=ETH_IP, ip_proto=PROTO_TCP,
                                   tcp_flags=SYN_ONLY))
        flows.append(FlowSpec.make(PRI_MATCH, [Resubmit(T_FORWARD)], table_id=T_SELECTED, cookie=COOKIE_LB, reg1=sid))
    return flows


def forward_actions(description: ClusterDescription, proxy: str, web: Host, downlink: int) -> List[object]:
    """The forwarding method, LVS style, for one real server."""
    if description.mode == "nat":
        return [SetField("eth_src", description.gateway_mac), SetField("eth_dst", web.interfaces[0].mac),
                SetField("ipv4_dst", web.ip), Output(downlink)]
    if description.mode == "dr":   # the director's MAC as the source, as LVS does
        return [SetField("eth_src", description.vip_mac), SetField("eth_dst", web.interfaces[0].mac), Output(downlink)]
    t = description.tunnel(proxy)
    return [SetField("tun_ipv4_dst", web.ip), SetField("eth_dst", tunnel_mac(web.ip)),
            SetField("pkt_mark", t.pkt_mark), Output(t.port)]


def forward_flows(description: ClusterDescription, proxy: str, view: BalancerView,
                  downlink: int) -> List[FlowSpec]:
    """The forwarding method per real server; the clients' FINs through a flow of their own, to
    count closed connections."""
    flows = []
    for web in description.real_servers:
        actions, sid = forward_actions(description, proxy, web, downlink), view.server_id(web.name)
        flows += [FlowSpec.make(PRI_MATCH, actions, table_id=T_FORWARD, cookie=COOKIE_LB, eth_type=ETH_IP, reg1=sid),
                  FlowSpec.make(PRI_NARROW, actions, table_id=T_FORWARD, cookie=COOKIE_LB, eth_type=ETH_IP, reg1=sid,
                                ip_proto=PROTO_TCP, tcp_flags=FIN_SET)]
    return flows


def egress_flows(description: ClusterDescription, uplink: int) -> List[FlowSpec]:
    """NAT replies: the public host's own MAC when it is on the public net, else r0's."""
    router = description.router.interface_on(description.public_edge)
    assert router is not None, "validation puts r0 on the public edge"
    flows = [FlowSpec.make(PRI_MATCH, [SetField("eth_dst", intf.mac), Output(uplink)], table_id=T_EGRESS,
                           cookie=COOKIE_LB, eth_type=ETH_IP, ipv4_dst=intf.ip)
             for intf in description.host_ports(description.public_edge).values()]
    flows.append(FlowSpec.make(PRI_DEFAULT, [SetField("eth_dst", router.mac), Output(uplink)],
                               table_id=T_EGRESS, cookie=COOKIE_LB))
    return flows


def proxy_flows(description: ClusterDescription, proxy: str, view: BalancerView) -> List[FlowSpec]:
    description = description
    uplink, downlink = description.proxy_uplink(proxy), description.proxy_downlink(proxy)
    flows = classify_flows(description, proxy, uplink, downlink, view) + connection_flows(view)
    flows += selected_flows(description, view)
    flows += forward_flows(description, proxy, view, downlink)
    if description.mode == "nat":
        flows += egress_flows(description, uplink)
    return flows


def vip_announcements(description: ClusterDescription, proxy: str) -> List[Tuple[int, str, str]]:
    """What a proxy that has just taken the VIP over announces by gratuitous ARP, as VRRP does:
    (its port, address, MAC) for the VIP and, in NAT, the real servers' gateway."""
    announcements = [(description.proxy_uplink(proxy), description.vip, description.vip_mac)]
    if description.mode == "nat":
        announcements.append((description.proxy_downlink(proxy), description.nat_gateway, description.gateway_mac))
    return announcements
