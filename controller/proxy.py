"""The proxies' pipeline (lb1, lb2): classification of each virtual service, connection
tracking, a Maglev select group per service, SYN copies to the other proxy, and the forwarding
method per destination (a real server of a service). Tables: controller/pipeline.py."""
import ipaddress
from typing import Any, Dict, List, Optional, Tuple

from controller.pipeline import (ARP_REPLY, ARP_REQUEST, COOKIE_LB, COOKIE_PROBE, ETH_ARP, ETH_IP, ETH_PROBE, FIN_SET,
                                 IN_PORT, LOCAL, PRI_DEFAULT, PRI_HIGH, PRI_LOCAL, PRI_MATCH, PRI_MISS, PRI_NARROW,
                                 PRI_SYNC, PROTO_ICMP, PROTO_TCP, SYNC_MAC, SYNC_SOURCE, SYN_ONLY,
                                 T_AFFINITY, T_CONNECTIONS, T_EGRESS, T_FORWARD, T_PERSISTENT, T_SELECTED, T_SLOTS,
                                 service_group)
from controller.maglev import TABLE_SIZE
from controller.schedulers import SOURCE_HASHED
from controller.specs import (BalancerView, Conntrack, FlowSpec, Group, GroupSpec, LearnAffinity, Move, Output,
                              Resubmit, ServiceView, SetField, SourceHash)
from core.addressing import IP_PROTOCOLS, tunnel_mac
from core.description import ClusterDescription, Host
from core.ipvsadm import RealServerEntry, ServiceKey


def arp_responder(ip: str, mac: str, in_port: int) -> FlowSpec:
    """Answer an ARP request for `ip` with `mac`, in the data plane (no packet-in)."""
    return FlowSpec.make(PRI_LOCAL, [
        Move("eth_src", "eth_dst", 48), SetField("eth_src", mac),
        SetField("arp_op", ARP_REPLY),
        Move("arp_sha", "arp_tha", 48), Move("arp_spa", "arp_tpa", 32),
        SetField("arp_sha", mac), SetField("arp_spa", ip), Output(IN_PORT),
    ], cookie=COOKIE_LB, in_port=in_port, eth_type=ETH_ARP, arp_op=ARP_REQUEST, arp_tpa=ip)


def sync_source(destination: int) -> str:
    """The source MAC of a SYN copy for a destination (controller/specs.py)."""
    return SYNC_SOURCE[:-5] + "%02x:%02x" % (destination >> 8, destination & 0xff)


PORT_FIELDS = {"tcp": ("tcp_src", "tcp_dst"), "udp": ("udp_src", "udp_dst")}


def service_match(key: ServiceKey, uplink: int) -> Dict[str, Any]:
    """A client's packet to a virtual service, as it reaches the proxy."""
    return {"in_port": uplink, "eth_type": ETH_IP, "ipv4_dst": key.vip, "ip_proto": IP_PROTOCOLS[key.protocol],
            PORT_FIELDS[key.protocol][1]: key.port}


def classify_flows(description: ClusterDescription, proxy: str, uplink: int, downlink: int,
                   view: BalancerView) -> List[FlowSpec]:
    zone = description.conntrack_zone(proxy)
    flows = [arp_responder(vip, description.vip_mac, uplink) for vip in view.vips]
    for service in view.services:
        flows.append(FlowSpec.make(PRI_HIGH, [SetField("reg2", service.index), Conntrack(zone, table=T_CONNECTIONS)],
                                   cookie=COOKIE_LB, **service_match(service.key, uplink)))
        flows += sync_flows(zone, uplink, service, view)
    # A ping to a VIP goes where its first service's connections go.
    first: Dict[str, int] = {}
    for service in view.services:
        first.setdefault(service.key.vip, service.index)
    flows += [FlowSpec.make(PRI_HIGH, [SetField("reg2", index), Conntrack(zone, table=T_CONNECTIONS)],
                            cookie=COOKIE_LB, in_port=uplink, eth_type=ETH_IP, ipv4_dst=vip, ip_proto=PROTO_ICMP)
              for vip, index in first.items()]
    flows += [FlowSpec.make(PRI_LOCAL, [Output(IN_PORT)], cookie=COOKIE_PROBE, in_port=port, eth_type=ETH_PROBE)
              for port in (uplink, downlink)]
    if "nat" in view.methods:
        flows.append(arp_responder(description.nat_gateway, description.gateway_mac, downlink))
        flows += nat_reply_flows(description, downlink, view)
    if "tun" in view.methods:
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


def sync_flows(zone: int, uplink: int, service: ServiceView, view: BalancerView) -> List[FlowSpec]:
    """The other proxy's copy of a new TCP connection's SYN: committed with the destination it
    names, nothing forwarded."""
    if service.key.protocol != "tcp":
        return []
    match = service_match(service.key, uplink)
    flows = []
    learn = affinity_learning(service)
    for web, _ in service.hosts:
        d = view.destination(service, web)
        learned = [SetField("reg1", d)] + learn if learn else []
        flows.append(FlowSpec.make(PRI_SYNC, learned + [Conntrack(zone, commit=True, mark=d)], cookie=COOKIE_LB,
                                   **dict(match, eth_dst=SYNC_MAC, eth_src=sync_source(d))))
    return flows


def persistent(service: ServiceView) -> bool:
    return service.service.persistence is not None


def affinity_learning(service: ServiceView) -> List[object]:
    """For a persistent service, the action that learns the client's entry (its real server in
    reg1); nothing for the others."""
    if not persistent(service):
        return []
    prefixlen = ipaddress.IPv4Network("0.0.0.0/%s" % service.service.netmask).prefixlen
    return [LearnAffinity(T_AFFINITY, service.index, prefixlen, service.service.persistence or 0)]


def nat_reply_flows(description: ClusterDescription, downlink: int, view: BalancerView) -> List[FlowSpec]:
    """A NAT real server's reply, to the gateway from its address, protocol and port: rewritten
    back to its service's VIP and port (check_together keeps these apart between services); its
    ICMP (ping replies, errors) back to the VIP of the first service it serves by NAT."""
    flows: List[FlowSpec] = []
    icmp: Dict[str, str] = {}
    for service in view.services:
        src = PORT_FIELDS[service.key.protocol][0]
        for web, entry in service.hosts:
            if entry.method != "nat":
                continue
            rewrite = [SetField("ipv4_src", service.key.vip)] + (
                [SetField(src, service.key.port)] if entry.port != service.key.port else [])
            flows.append(FlowSpec.make(
                PRI_HIGH, rewrite + [SetField("eth_src", description.vip_mac), Resubmit(T_EGRESS)],
                cookie=COOKIE_LB, **{"in_port": downlink, "eth_type": ETH_IP, "eth_dst": description.gateway_mac,
                                     "ipv4_src": entry.address, "ip_proto": IP_PROTOCOLS[service.key.protocol],
                                     src: entry.port}))
            icmp.setdefault(entry.address, service.key.vip)
    return flows + [FlowSpec.make(PRI_HIGH, [SetField("ipv4_src", vip), SetField("eth_src", description.vip_mac),
                                             Resubmit(T_EGRESS)], cookie=COOKIE_LB, in_port=downlink, eth_type=ETH_IP,
                                  eth_dst=description.gateway_mac, ipv4_src=address, ip_proto=PROTO_ICMP)
                    for address, vip in icmp.items()]


def connection_flows(view: BalancerView) -> List[FlowSpec]:
    """A tracked connection keeps its real server while that server is healthy; a TCP SYN always
    chooses anew (a reused 5-tuple is a new connection: the old one may linger in the tracker,
    which follows one direction and cannot see it close)."""
    flows = []
    for service in view.services:
        select = [Resubmit(T_AFFINITY), Resubmit(T_PERSISTENT)] if persistent(service) else choice_actions(service)
        touch = [Resubmit(T_AFFINITY)] if persistent(service) else []      # the entry's idle time starts again
        if service.key.protocol == "tcp":
            flows.append(FlowSpec.make(PRI_HIGH, select, table_id=T_CONNECTIONS, cookie=COOKIE_LB, reg2=service.index,
                                       eth_type=ETH_IP, ip_proto=PROTO_TCP, tcp_flags=SYN_ONLY))
        flows.append(FlowSpec.make(PRI_MISS, select, table_id=T_CONNECTIONS, cookie=COOKIE_LB, reg2=service.index))
        for web in service.kept:
            d = view.destination(service, web)
            flows.append(FlowSpec.make(PRI_MATCH, touch + [SetField("reg1", d), Resubmit(T_FORWARD)],
                                       table_id=T_CONNECTIONS, cookie=COOKIE_LB, reg2=service.index, ct_mark=d))
    return flows


def persistence_flows(description: ClusterDescription, proxy: str, view: BalancerView) -> List[FlowSpec]:
    """AFFINITY's miss (no entry: nothing loaded) and, per persistent service, PERSISTENT: the
    connection committed to the real server the client's entry names while that server is up,
    else the service's choice."""
    services = [s for s in view.services if persistent(s)]
    if not services:
        return []
    zone = description.conntrack_zone(proxy)
    flows = [FlowSpec.make(PRI_MISS, [], table_id=T_AFFINITY, cookie=COOKIE_LB)]
    for service in services:
        flows += [FlowSpec.make(PRI_MATCH, _bucket(zone, view, service, web), table_id=T_PERSISTENT, cookie=COOKIE_LB,
                                eth_type=ETH_IP, reg2=service.index, reg1=view.destination(service, web))
                  for web in service.kept]
        flows.append(FlowSpec.make(PRI_MISS, choice_actions(service), table_id=T_PERSISTENT, cookie=COOKIE_LB,
                                   reg2=service.index))
    return flows


def source_hashed(service: ServiceView) -> bool:
    return service.service.scheduler in SOURCE_HASHED


def choice_actions(service: ServiceView) -> List[object]:
    """A new connection's choice of real server: its service's select group (the datapath's hash
    of the 5-tuple), or for a source-hashed service its client's address hashed into SLOTS."""
    if source_hashed(service):
        return [SourceHash("reg3", TABLE_SIZE), Resubmit(T_SLOTS)]
    return [Group(service_group(service.index))]


def _bucket(zone: int, view: BalancerView, service: ServiceView, web: Optional[str]) -> Tuple[object, ...]:
    """A slot's actions: its destination into reg1 (kept across the recirculation, and still
    there if the tracker is full), then committed as the connection's mark; none (a drop) for a
    slot without a real server."""
    if web is None:
        return ()
    d = view.destination(service, web)
    return (SetField("reg1", d), Conntrack(zone, commit=True, table=T_SELECTED, mark=d))


def select_groups(description: ClusterDescription, proxy: str, view: BalancerView) -> List[GroupSpec]:
    """Per service (but a source-hashed one), one bucket per slot of its table. A service with
    no real server up drops its new connections."""
    zone = description.conntrack_zone(proxy)
    return [GroupSpec(service_group(service.index), tuple(_bucket(zone, view, service, web) for web in service.table))
            for service in view.services if not source_hashed(service)]


def slot_flows(description: ClusterDescription, proxy: str, view: BalancerView) -> List[FlowSpec]:
    """A source-hashed service's slots, as flows of SLOTS: a slot without a real server matches
    nothing, and the table drops what matches nothing."""
    zone = description.conntrack_zone(proxy)
    return [FlowSpec.make(PRI_MATCH, _bucket(zone, view, service, web), table_id=T_SLOTS, cookie=COOKIE_LB,
                          eth_type=ETH_IP, reg2=service.index, reg3=slot)
            for service in view.services if source_hashed(service)
            for slot, web in enumerate(service.table) if web is not None]


def selected_flows(view: BalancerView) -> List[FlowSpec]:
    """After the commit: a new TCP connection's SYN is copied to the other proxy, carrying its
    destination in its source MAC (FORWARD rewrites the MACs of the packet itself). The SYN
    flows' counters count the connections each destination was given."""
    flows = [FlowSpec.make(PRI_MISS, [Resubmit(T_FORWARD)], table_id=T_SELECTED, cookie=COOKIE_LB)]
    for service in view.services:
        learn = affinity_learning(service)
        if learn:
            flows.append(FlowSpec.make(PRI_MATCH, learn + [Resubmit(T_FORWARD)], table_id=T_SELECTED,
                                       cookie=COOKIE_LB, eth_type=ETH_IP, reg2=service.index))
        if service.key.protocol != "tcp":
            continue
        for web, _ in service.hosts:
            d = view.destination(service, web)
            copy = [SetField("eth_dst", SYNC_MAC), SetField("eth_src", sync_source(d)), Output(IN_PORT)]
            flows.append(FlowSpec.make(PRI_NARROW, learn + copy + [Resubmit(T_FORWARD)], table_id=T_SELECTED,
                                       cookie=COOKIE_LB, reg1=d, eth_type=ETH_IP, ip_proto=PROTO_TCP,
                                       tcp_flags=SYN_ONLY))
    return flows


def forward_actions(description: ClusterDescription, proxy: str, web: Host, service: ServiceView,
                    entry: RealServerEntry, downlink: int) -> List[object]:
    """The forwarding method, LVS style, for one real server of a service."""
    if entry.method == "nat":
        port = [SetField(PORT_FIELDS[service.key.protocol][1], entry.port)] if entry.port != service.key.port else []
        return [SetField("eth_src", description.gateway_mac), SetField("eth_dst", web.service_interface.mac),
                SetField("ipv4_dst", web.ip)] + port + [Output(downlink)]
    if entry.method == "dr":   # the director's MAC as the source, as LVS does
        return [SetField("eth_src", description.vip_mac), SetField("eth_dst", web.service_interface.mac),
                Output(downlink)]
    t = description.tunnel(proxy)
    return [SetField("tun_ipv4_dst", web.ip), SetField("eth_dst", tunnel_mac(web.ip)),
            SetField("pkt_mark", t.pkt_mark), Output(t.port)]


def forward_flows(description: ClusterDescription, proxy: str, view: BalancerView,
                  downlink: int) -> List[FlowSpec]:
    """The forwarding method per destination; the clients' FINs of a TCP service through a flow
    of their own, to count closed connections."""
    flows = []
    for service in view.services:
        for name, entry in service.hosts:
            actions = forward_actions(description, proxy, description.host(name), service, entry, downlink)
            d = view.destination(service, name)
            flows.append(FlowSpec.make(PRI_MATCH, actions, table_id=T_FORWARD, cookie=COOKIE_LB, eth_type=ETH_IP,
                                       reg1=d))
            if service.key.protocol == "tcp":
                flows.append(FlowSpec.make(PRI_NARROW, actions, table_id=T_FORWARD, cookie=COOKIE_LB,
                                           eth_type=ETH_IP, reg1=d, ip_proto=PROTO_TCP, tcp_flags=FIN_SET))
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
    uplink, downlink = description.proxy_uplink(proxy), description.proxy_downlink(proxy)
    flows = classify_flows(description, proxy, uplink, downlink, view) + connection_flows(view)
    flows += persistence_flows(description, proxy, view) + slot_flows(description, proxy, view)
    flows += selected_flows(view)
    flows += forward_flows(description, proxy, view, downlink)
    if "nat" in view.methods:
        flows += egress_flows(description, uplink)
    return flows


def vip_announcements(description: ClusterDescription, proxy: str, view: BalancerView) -> List[Tuple[int, str, str]]:
    """What a proxy that has just taken the VIPs over announces by gratuitous ARP, as VRRP does:
    (its port, address, MAC) for each VIP and, with NAT, the real servers' gateway."""
    announcements = [(description.proxy_uplink(proxy), vip, description.vip_mac) for vip in view.vips]
    if "nat" in view.methods:
        announcements.append((description.proxy_downlink(proxy), description.nat_gateway, description.gateway_mac))
    return announcements
