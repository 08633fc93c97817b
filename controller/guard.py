"""Edge switches' security: blocked sources, port security (a host's port lets in only its own
addresses) and segmentation (core/segmentation.py's matrix), each refusal dropped and copied
to the controller through its meter. Tables: controller/pipeline.py."""
import ipaddress
from typing import List, Optional

from controller.edge import logged
from controller.pipeline import (CONTROLLER, COOKIE_BLOCK, COOKIE_DENY, COOKIE_GUARD, COOKIE_SPOOF, DENY_METER, ETH_ARP,
                                 ETH_IP, PRI_BLOCK, PRI_BROAD, PRI_DEFAULT, PRI_MATCH, PRI_MISS, PRI_NARROW,
                                 SPOOF_METER, SYN_ONLY, T_INGRESS, T_SEGMENT, T_SWITCH)
from controller.specs import BalancerView, FlowSpec, Meter, Output, Resubmit
from core import segmentation
from core.description import ClusterDescription, Host, Interface


def block_flows(view: BalancerView) -> List[FlowSpec]:
    """On s_pub, the public edge: every packet from a blocked source is dropped, before anything
    (its connection attempts still logged)."""
    return [FlowSpec.make(PRI_BLOCK, logged([]), table_id=T_INGRESS, cookie=COOKIE_BLOCK, eth_type=ETH_IP, ipv4_src=ip)
            for ip in view.blocked]


def _copy(meter: int, cookie: int, table_id: int, priority: int, **match: object) -> FlowSpec:
    """Drop, and copy to the controller through `meter` (what was refused, and where)."""
    return FlowSpec.make(priority, [Meter(meter), Output(CONTROLLER)], table_id=table_id, cookie=cookie, **match)


def answered_vips(view: BalancerView, address: Optional[str] = None) -> List[str]:
    """The VIPs that real servers answer clients from themselves (DR and TUN): those of the real
    server at `address`, or of any."""
    return list(dict.fromkeys(s.key.vip for s in view.services for _, entry in s.hosts
                              if entry.method != "nat" and address in (None, entry.address)))


def _own_sources(description: ClusterDescription, host: Host, intf: Interface, view: BalancerView) -> List[str]:
    """The IPv4 sources a host may send from on this interface: its address; a DR or TUN real
    server's service interface also the VIPs it serves so (its replies), and the peer's directors
    the VIP (the one holding it answers from it)."""
    if host.role == "web" and intf == host.service_interface:
        return [intf.ip] + answered_vips(view, intf.ip)
    director = host.role == "director" and intf.switch == description.public_edge
    return [intf.ip] + ([description.vip] if director else [])


def _port_security(intf: Interface, sources: List[str]) -> List[FlowSpec]:
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


def _router_port(description: ClusterDescription, intf: Interface, view: BalancerView) -> List[FlowSpec]:
    """r0 brings in what comes from the other segments, with any source but this segment's own:
    a packet from r0 claiming an address of this switch's subnet (but r0's, and the VIPs that DR
    and TUN replies come back from) is forged."""
    sources = [intf.ip] + (answered_vips(view) if intf.switch == description.public_edge else [])
    net = ipaddress.ip_interface("%s/%d" % (intf.ip, intf.prefixlen)).network
    flows = _port_security(intf, sources)
    flows.append(_copy(SPOOF_METER, COOKIE_SPOOF, T_INGRESS, PRI_BROAD, in_port=intf.port, eth_type=ETH_IP,
                       ipv4_src=(str(net.network_address), str(net.netmask))))
    flows.append(FlowSpec.make(PRI_DEFAULT, [Resubmit(T_SEGMENT)], cookie=COOKIE_GUARD, in_port=intf.port,
                               eth_src=intf.mac, eth_type=ETH_IP))
    return flows


def ingress_flows(description: ClusterDescription, switch: str, view: BalancerView) -> List[FlowSpec]:
    """Table INGRESS of an edge switch: port security. The proxies' ports (the load balancer's
    own cables) pass to forwarding as they are."""
    flows = [FlowSpec.make(PRI_MATCH, [Resubmit(T_SWITCH)], cookie=COOKIE_GUARD, in_port=port)
             for port in sorted(description.trunk_ports(switch))]
    for host in description.hosts:
        for intf in host.interfaces:
            if intf.switch != switch:
                continue
            flows += (_router_port(description, intf, view) if host.role == "router"
                      else _port_security(intf, _own_sources(description, host, intf, view)))
    return flows


def segmentation_flows(description: ClusterDescription, switch: str, view: BalancerView) -> List[FlowSpec]:
    """Table SEGMENT of an edge switch: what each host may send to whom (core/segmentation.py),
    judged at the host's own port; the rest is dropped and reported. The infrastructure's ports
    pass; with segmentation off, every port does."""
    if not view.segmentation:
        return [FlowSpec.make(PRI_MISS, [Resubmit(T_SWITCH)], table_id=T_SEGMENT, cookie=COOKIE_GUARD)]
    flows: dict = {}
    for host in description.hosts:
        for intf in (i for i in host.interfaces if i.switch == switch):
            port = dict(in_port=intf.port, eth_type=ETH_IP)
            if segmentation.sender(description, host, intf) == segmentation.INFRASTRUCTURE:
                rules = [FlowSpec.make(PRI_MATCH, [Resubmit(T_SWITCH)], table_id=T_SEGMENT, cookie=COOKIE_GUARD,
                                       in_port=intf.port)]
            else:
                rules = [_copy(DENY_METER, COOKIE_DENY, T_SEGMENT, PRI_MISS, **port)]
            for fields, replies_only in segmentation.allowed(description, host, intf, view.definitions):
                rules.append(FlowSpec.make(PRI_MATCH, [Resubmit(T_SWITCH)], table_id=T_SEGMENT, cookie=COOKIE_GUARD,
                                           **port, **fields))
                if replies_only:
                    rules.append(_copy(DENY_METER, COOKIE_DENY, T_SEGMENT, PRI_NARROW, tcp_flags=SYN_ONLY,
                                       **port, **fields))
            flows.update((f.key, f) for f in rules)
    return list(flows.values())
