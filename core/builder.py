"""The cluster for a forwarding method and counts of hosts, described from the fixed plan
(core/addressing.py) and checked by core/validation.py before anyone builds it."""
import dataclasses
from ipaddress import IPv4Network
from typing import Dict, Iterable, List, Optional, Set, Tuple

from core.addressing import (CLIENT_BASE, DB_BASE, DB_COUNT, DB_EDGE, DB_NET, EDGE_FIRST_HOST_PORT,
                             EDGE_ROUTER_PORT, HTTP_PORT, LAN_EDGE, LAN_MTU_TUN, LAN_NET, MGMT_HOST_ID, MGMT_PORT,
                             NAT_GATEWAY, NAT_GATEWAY_VRID, PROXY_DOWNLINK_PORT, PROXY_LOCAL_HOST_ID,
                             PROXY_NAMES, PROXY_TUNNEL_PORT, PROXY_UPLINK_PORT, PUBLIC_EDGE, PUBLIC_NET,
                             REMOTE_EDGE, REMOTE_NET, ROUTER, ROUTER_HOST_ID, SDN, VIP, VNI_BASE, VRID,
                             WEB_BASE, WEB_DB_BASE, mac_for, vrrp_mac)
from core.description import ClusterDescription, Host, Interface, Switch, Trunk, TunnelEndpoint
from core.ipvsadm import VirtualService
from core.rules import ConfigError
from core.services import default_services
from core.validation import check_description, validate


def _interface(host: str, index: int, net: IPv4Network, host_id: int, switch: str, port: int) -> Interface:
    ip = str(net.network_address + host_id)
    return Interface(name="%s-eth%d" % (host, index), ip=ip, prefixlen=net.prefixlen,
                     mac=mac_for(ip), switch=switch, port=port)


def describe(mode: str = "nat", clients: int = 4, webs: int = 2, vip: str = VIP, remote_webs: int = 0,
             director: str = SDN, services: Optional[Iterable[VirtualService]] = None) -> ClusterDescription:
    """The cluster for a forwarding mode, counts of clients, web hosts (on the proxies' LAN) and
    remote web hosts (one L3 hop away, TUN only), a VIP, who directs (see DIRECTORS), and its
    virtual services (core/services.py; by default one, TCP 80 on the VIP by `mode`)."""
    validate(mode, clients, webs, remote_webs, director)
    sdn = director == SDN
    hosts = ([_router(remote_webs)] + _clients(clients) + _real_servers(webs, remote_webs, mode == "nat" and sdn)
             + [_management()] + _db_hosts() + ([] if sdn else _director_hosts()))
    trunks, tunnels = _proxy_cables_and_tunnels() if sdn else ((), ())
    description = ClusterDescription(mode=mode, vip=vip, vip_mac=vrrp_mac(VRID), nat_gateway=NAT_GATEWAY,
                                     http_port=HTTP_PORT, switches=_switches(remote_webs, sdn), hosts=tuple(hosts),
                                     trunks=trunks, tunnels=tunnels, gateway_mac=vrrp_mac(NAT_GATEWAY_VRID),
                                     lan_mtu=LAN_MTU_TUN if mode == "tun" else 1500,
                                     proxies=PROXY_NAMES if sdn else (), director=director)
    description = dataclasses.replace(description, services=default_services(description))
    check_description(description)
    return description if services is None else with_services(description, services)


def with_services(description: ClusterDescription, services: Iterable[VirtualService]) -> ClusterDescription:
    """The cluster serving `services` instead: each real server's default route through the NAT
    gateway when it serves by NAT alone, else through r0 (topologies/forwarding.py then sends its
    NAT replies to the gateway by their source port); the LAN's MTU room for VXLAN if a service
    tunnels."""
    services = tuple(services)
    if description.director != SDN and services != description.services:
        raise ConfigError("the %s director serves the one default service (TCP %d on the VIP): services of "
                          "your own need --director %s" % (description.director, description.http_port, SDN))
    methods: Dict[str, Set[str]] = {}
    for service in services:
        for entry in service.real_servers:
            methods.setdefault(entry.address, set()).add(entry.method)
    hosts = tuple(_routed(h, methods.get(h.ip)) if h.role == "web" else h for h in description.hosts)
    tunnels = any(e.method == "tun" for s in services for e in s.real_servers)
    described = dataclasses.replace(description, services=services, hosts=hosts,
                                    lan_mtu=LAN_MTU_TUN if tunnels else description.lan_mtu)
    check_description(described)
    return described


def _routed(web: Host, methods: Optional[Set[str]]) -> Host:
    """A LAN real server's default route for the methods it serves by (as the mode set it, when
    it serves none)."""
    if not methods or web.gateway not in (NAT_GATEWAY, _gateway(LAN_NET)):
        return web
    return dataclasses.replace(web, gateway=NAT_GATEWAY if methods == {"nat"} else _gateway(LAN_NET))


def _switches(remote_webs: int, sdn: bool) -> Tuple[Switch, ...]:
    edges = (Switch(PUBLIC_EDGE, 0x1, "public"), Switch(LAN_EDGE, 0x2, "lan"), Switch(DB_EDGE, 0x3, "db"))
    remote = (Switch(REMOTE_EDGE, 0x4, "remote"),) if remote_webs else ()
    proxies = tuple(Switch(name, 0x100 + i, "proxy") for i, name in enumerate(PROXY_NAMES, 1)) if sdn else ()
    return edges + remote + proxies


def _gateway(net: IPv4Network) -> str:
    return str(net.network_address + ROUTER_HOST_ID)


def _router(remote_webs: int) -> Host:
    return Host(ROUTER, "router", (
        _interface(ROUTER, 0, PUBLIC_NET, ROUTER_HOST_ID, PUBLIC_EDGE, EDGE_ROUTER_PORT),
        _interface(ROUTER, 1, LAN_NET, ROUTER_HOST_ID, LAN_EDGE, EDGE_ROUTER_PORT))
        + ((_interface(ROUTER, 2, REMOTE_NET, ROUTER_HOST_ID, REMOTE_EDGE, EDGE_ROUTER_PORT),)
           if remote_webs else ()))


def _clients(count: int) -> List[Host]:
    return [Host("c%d" % i, "client", (
        _interface("c%d" % i, 0, PUBLIC_NET, CLIENT_BASE + i, PUBLIC_EDGE, EDGE_FIRST_HOST_PORT + i - 1),),
        gateway=_gateway(PUBLIC_NET)) for i in range(1, count + 1)]


def _real_servers(webs: int, remote_webs: int, through_nat_gateway: bool) -> List[Host]:
    """Web hosts on the LAN (web1..), then the remote ones behind r0; each also on the DB net."""
    hosts = []
    for i in range(1, webs + remote_webs + 1):
        local = i <= webs
        net, edge, number = (LAN_NET, LAN_EDGE, i) if local else (REMOTE_NET, REMOTE_EDGE, i - webs)
        gateway = NAT_GATEWAY if local and through_nat_gateway else _gateway(net)
        hosts.append(Host("web%d" % i, "web", (
            _interface("web%d" % i, 0, net, WEB_BASE + number, edge, EDGE_FIRST_HOST_PORT + number - 1),
            _interface("web%d" % i, 1, DB_NET, WEB_DB_BASE + i, DB_EDGE, DB_COUNT + i)), gateway=gateway))
    return hosts


def _management() -> Host:
    """The controller's own interface on the LAN (root namespace): its health checks go out here.
    A /32 address, so that it adds no route for the whole LAN to the root namespace."""
    mgmt_ip = str(LAN_NET.network_address + MGMT_HOST_ID)
    return Host("mgmt", "management", (Interface("mgmt-eth0", mgmt_ip, 32, mac_for(mgmt_ip), LAN_EDGE, MGMT_PORT),))


def _db_hosts() -> List[Host]:
    return [Host("db%d" % i, "db", (_interface("db%d" % i, 0, DB_NET, DB_BASE + i, DB_EDGE, i),))
            for i in range(1, DB_COUNT + 1)]


def _director_hosts() -> List[Host]:
    """The peer's director hosts in the proxies' place, cabled to the same edge switch ports."""
    return [Host(proxy, "director", (
        _interface(proxy, 0, PUBLIC_NET, PROXY_LOCAL_HOST_ID + index, PUBLIC_EDGE, index + 1),
        _interface(proxy, 1, LAN_NET, PROXY_LOCAL_HOST_ID + index, LAN_EDGE, index + 1)),
        gateway=_gateway(PUBLIC_NET)) for index, proxy in enumerate(PROXY_NAMES)]


def _proxy_cables_and_tunnels() -> Tuple[Tuple[Trunk, ...], Tuple[TunnelEndpoint, ...]]:
    trunks: List[Trunk] = []
    tunnels = []
    for index, proxy in enumerate(PROXY_NAMES):
        trunks.append(Trunk(proxy, PROXY_UPLINK_PORT, PUBLIC_EDGE, index + 1))
        trunks.append(Trunk(proxy, PROXY_DOWNLINK_PORT, LAN_EDGE, index + 1))
        local_ip = str(LAN_NET.network_address + PROXY_LOCAL_HOST_ID + index)
        tunnels.append(TunnelEndpoint(proxy, VNI_BASE + index + 1, local_ip, mac_for(local_ip),
                                      PROXY_TUNNEL_PORT, index + 1))
    return tuple(trunks), tuple(tunnels)
