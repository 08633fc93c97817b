"""Edge switches' forwarding: static L2 among their hosts, the VIPs (and with NAT the real
servers' gateway) steered to the active proxy through groups, the proxies' probes and SYN
copies, and the copies of the connection log and passive checks to the controller. Tables:
controller/pipeline.py."""
from typing import Dict, Iterable, List, Set

from controller.pipeline import (BROADCAST, CONTROLLER, COOKIE_LOG, COOKIE_PASSIVE, COOKIE_PROBE, COOKIE_STEER, ETH_ARP,
                                 ETH_IP, ETH_PROBE, GROUP_FAILOVER, GROUP_SPREAD, ICMP_DEST_UNREACH, LOG_METER,
                                 PASSIVE_METER, PRI_BROAD, PRI_HIGH, PRI_LOCAL, PRI_MATCH, PRI_SYNC, PROTO_ICMP,
                                 PROTO_TCP, PROTO_UDP, RST_SET, SYNC_MAC, SYN_ONLY, T_LOG, T_LOG_NEW, T_SEEN, T_SWITCH)
from controller.specs import (FAST_FAILOVER, SELECT, BalancerView, FlowSpec, Group, GroupSpec, LearnSeen, Meter, Output,
                              Resubmit)
from core.description import ClusterDescription


def edge_l2_flows(description: ClusterDescription, switch: str) -> List[FlowSpec]:
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


def logged(actions: Iterable[object]) -> List[object]:
    """Forwarding actions, then the connection log (see the module's docstring)."""
    return list(actions) + [Resubmit(T_LOG)]


def connection_log_flows() -> List[FlowSpec]:
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


def passive_check_flows(description: ClusterDescription, switch: str, view: BalancerView) -> List[FlowSpec]:
    """On an edge switch with real servers (s_lan, s_far), after forwarding: a metered copy to the
    controller of each TCP RST from a real server's service port and of each ICMP
    destination-unreachable, the signals of a real server gone (passive health checks; the
    controller confirms each with an active check before acting)."""
    to_controller = [Meter(PASSIVE_METER), Output(CONTROLLER)]
    ports: Dict[str, Set[int]] = {}
    for service in view.services:
        if service.key.protocol == "tcp":
            for web, entry in service.hosts:
                ports.setdefault(web, set()).add(entry.port)
    # By the server's MAC: in DR and TUN its replies come from the VIP.
    flows = [FlowSpec.make(PRI_HIGH, to_controller, table_id=T_LOG, cookie=COOKIE_PASSIVE, eth_type=ETH_IP,
                           eth_src=web.service_interface.mac, ip_proto=PROTO_TCP, tcp_src=port, tcp_flags=RST_SET)
             for web in description.real_servers_on(switch) for port in sorted(ports.get(web.name, ()))]
    if description.real_servers_on(switch):
        # The controller's own health checks meeting a dead server: already checks, not signals.
        flows.append(FlowSpec.make(PRI_SYNC, [], table_id=T_LOG, cookie=COOKIE_PASSIVE, eth_type=ETH_IP,
                                   ip_proto=PROTO_TCP, ipv4_dst=description.management_ip, tcp_flags=RST_SET))
        flows.append(FlowSpec.make(PRI_HIGH, to_controller, table_id=T_LOG, cookie=COOKIE_PASSIVE, eth_type=ETH_IP,
                                   ip_proto=PROTO_ICMP, icmpv4_type=ICMP_DEST_UNREACH))
    return flows


def _steer(ip: str, mac: str, actions: Iterable[object]) -> List[FlowSpec]:
    """An address: its ARP requests and its MAC go where `actions` send them."""
    return [FlowSpec.make(PRI_HIGH, actions, table_id=T_SWITCH, cookie=COOKIE_STEER, eth_type=ETH_ARP, arp_tpa=ip),
            FlowSpec.make(PRI_HIGH, logged(actions), table_id=T_SWITCH, cookie=COOKIE_STEER, eth_dst=mac)]


def _steer_vips(description: ClusterDescription, view: BalancerView) -> List[FlowSpec]:
    """The VIPs to their proxy through the fast-failover group; active-active: their packets
    spread over the proxies by a hash of the connection (so a connection stays on one proxy),
    their ARP still to one of them. Every VIP has the one virtual MAC, as the VIPs of one VRRP
    instance do, so they move together."""
    packets = Group(GROUP_SPREAD if len(view.active_proxies) > 1 else GROUP_FAILOVER)
    return [FlowSpec.make(PRI_HIGH, [Group(GROUP_FAILOVER)], table_id=T_SWITCH, cookie=COOKIE_STEER,
                          eth_type=ETH_ARP, arp_tpa=vip) for vip in view.vips] + [
            FlowSpec.make(PRI_HIGH, logged([packets]), table_id=T_SWITCH, cookie=COOKIE_STEER,
                          eth_dst=description.vip_mac)]


def failover_group(description: ClusterDescription, edge: str, view: BalancerView) -> GroupSpec:
    """The proxies' ports on an edge switch in the order they should carry what is steered: the
    active proxies (in the controller's order), then the others, each bucket watching its port;
    last, the active proxy again, live while the switch has its controller. BFD going silent
    towards every proxy at once says more about the switch running it (its main thread held up,
    for instance) than about the proxies: the controller's choice then holds. While a stall holds
    BFD's verdicts, a first bucket to the active proxy, live while the switch has its controller,
    keeps the sessions that come back first from taking the VIP with them."""
    order = list(view.active_proxies) + [p for p in description.proxies if p not in view.active_proxies]
    ports = tuple(description.proxy_port(edge, p) for p in order)
    pinned = ports[:1] if view.bfd_held else ()
    return GroupSpec(GROUP_FAILOVER, tuple((Output(port),) for port in pinned + ports + ports[:1]), FAST_FAILOVER,
                     (CONTROLLER,) * len(pinned) + ports + (CONTROLLER,))


def spread_group(description: ClusterDescription, view: BalancerView) -> GroupSpec:
    ports = tuple(description.proxy_port(description.public_edge, p) for p in view.active_proxies)
    return GroupSpec(GROUP_SPREAD, tuple((Output(port),) for port in ports), SELECT, ports)


def proxy_monitoring_flows(description: ClusterDescription, switch: str) -> List[FlowSpec]:
    """On s_pub and s_lan: probes back from a proxy go to the controller; SYN copies from one
    proxy go to the other."""
    ports = {peer: port for port, peer in description.trunk_ports(switch).items()}
    flows = [FlowSpec.make(PRI_LOCAL, [Output(CONTROLLER)], table_id=T_SWITCH, cookie=COOKIE_PROBE, in_port=port,
                           eth_type=ETH_PROBE)
             for port in sorted(ports.values())]
    if switch == description.public_edge:
        for proxy, port in sorted(ports.items()):
            others = [Output(p) for peer, p in sorted(ports.items()) if peer != proxy]
            flows.append(FlowSpec.make(PRI_SYNC, others, table_id=T_SWITCH, cookie=COOKIE_STEER, in_port=port,
                                       eth_dst=SYNC_MAC))
    return flows


def steering_flows(description: ClusterDescription, switch: str, view: BalancerView) -> List[FlowSpec]:
    description = description
    flows = proxy_monitoring_flows(description, switch) if switch in description.proxy_edges else []
    if view.active_proxies:
        if switch == description.public_edge:
            flows += _steer_vips(description, view)
        if switch == description.lan_edge and "nat" in view.methods:
            flows += _steer(description.nat_gateway, description.gateway_mac, [Group(GROUP_FAILOVER)])
    if switch == description.lan_edge and "tun" in view.methods:
        for t in description.tunnels:   # every proxy's tunnel endpoint, standby included
            flows += _steer(t.local_ip, t.local_mac, [Output(description.proxy_port(description.lan_edge, t.proxy))])
    return flows
