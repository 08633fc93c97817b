"""The cluster for a forwarding method and counts of hosts, described from the fixed plan
(core/addressing.py) and checked by core/validation.py before anyone builds it."""
import dataclasses
from dataclasses import dataclass
from ipaddress import IPv4Network, ip_address
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from core.addressing import (CLIENT_BASE, DB_BASE, DB_COUNT, DB_EDGE, DB_NET, EDGE_FIRST_HOST_PORT,
                             EDGE_ROUTER_PORT, HTTP_PORT, LAN_EDGE, LAN_MTU_TUN, LAN_NET, MGMT_HOST_ID, MGMT_PORT,
                             MAX_WEBS, NAT_GATEWAY, NAT_GATEWAY_VRID, PROXY_DOWNLINK_PORT, PROXY_LOCAL_HOST_ID,
                             PROXY_NAMES, PROXY_TUNNEL_PORT, PROXY_UPLINK_PORT, PUBLIC_EDGE, PUBLIC_NET,
                             REMOTE_EDGE, REMOTE_NET, ROUTER, ROUTER_HOST_ID, SDN, VIP, VNI_BASE, VRID,
                             WEB_BASE, WEB_DB_BASE, mac_for, vrrp_mac)
from core.description import ClusterDescription, Host, Interface, Switch, Trunk, TunnelEndpoint
from core.ipvsadm import IpvsadmError, VirtualService
from core.keepalived import KeepalivedCluster, KeepalivedError
from core.rules import ConfigError
from core.services import default_services
from core.validation import check_description, check_service, validate


@dataclass(frozen=True)
class AddressPlan:
    """The networks and the addresses a cluster is built on: this project's own plan
    (core/addressing.py) by default; another (a keepalived.conf's, say) names its networks, its
    LAN web hosts' addresses and the addresses already taken there (VIPs, a NAT gateway), and
    every other host takes its usual host number in the net, or the next one free."""
    public: IPv4Network = PUBLIC_NET
    lan: IPv4Network = LAN_NET
    db: IPv4Network = DB_NET
    remote: IPv4Network = REMOTE_NET
    webs: Tuple[str, ...] = ()          # the LAN web hosts' addresses (web1 first); () for .11 up
    nat_gateway: str = NAT_GATEWAY
    taken: FrozenSet[str] = frozenset()

    def address(self, net: IPv4Network, host_id: int, claimed: Set[str]) -> str:
        """`host_id`'s address in `net` if it is free, else the next free one; claimed for good."""
        reserved = self.taken | {self.nat_gateway} | set(self.webs) | claimed
        hosts = list(net.hosts())
        start = max(0, min(host_id - 1, len(hosts) - 1))
        for candidate in hosts[start:] + hosts[:start]:
            if str(candidate) not in reserved:
                claimed.add(str(candidate))
                return str(candidate)
        raise ConfigError("no free address left in %s for the cluster's own hosts" % net)


DEFAULT_PLAN = AddressPlan()


def describe(mode: str = "nat", clients: int = 4, webs: int = 2, vip: str = VIP, remote_webs: int = 0,
             director: str = SDN, services: Optional[Iterable[VirtualService]] = None,
             plan: AddressPlan = DEFAULT_PLAN) -> ClusterDescription:
    """The cluster for a forwarding mode, counts of clients, web hosts (on the proxies' LAN) and
    remote web hosts (one L3 hop away, TUN only), a VIP, who directs (see DIRECTORS), and its
    virtual services (core/services.py; by default one, TCP 80 on the VIP by `mode`), on `plan`'s
    networks and addresses."""
    validate(mode, clients, webs, remote_webs, director)
    if plan.webs and len(plan.webs) != webs:
        raise ConfigError("the plan names %d web hosts' addresses for %d web hosts" % (len(plan.webs), webs))
    claimed: Set[str] = set()
    sdn = director == SDN
    router = _router(plan, remote_webs, claimed)   # first: it keeps .1 wherever it can
    trunks, tunnels = _proxy_cables_and_tunnels(plan, claimed) if sdn else ((), ())
    hosts = ([router] + _clients(plan, clients, router, claimed)
             + _real_servers(plan, webs, remote_webs, mode == "nat" and sdn, router, claimed)
             + [_management(plan, claimed)] + _db_hosts(plan, claimed)
             + ([] if sdn else _director_hosts(plan, router, claimed)))
    description = ClusterDescription(mode=mode, vip=vip, vip_mac=vrrp_mac(VRID), nat_gateway=plan.nat_gateway,
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
    router = description.router.interface_on(description.lan_edge)
    hosts = tuple(_routed(h, methods.get(h.ip), description.nat_gateway, router.ip if router else None)
                  if h.role == "web" else h for h in description.hosts)
    tunnels = any(e.method == "tun" for s in services for e in s.real_servers)
    described = dataclasses.replace(description, services=services, hosts=hosts,
                                    lan_mtu=LAN_MTU_TUN if tunnels else description.lan_mtu)
    check_description(described)
    return described


def _routed(web: Host, methods: Optional[Set[str]], nat_gateway: str, router: Optional[str]) -> Host:
    """A LAN real server's default route for the methods it serves by (as the mode set it, when
    it serves none)."""
    if not methods or web.gateway not in (nat_gateway, router):
        return web
    return dataclasses.replace(web, gateway=nat_gateway if methods == {"nat"} else router)


def _switches(remote_webs: int, sdn: bool) -> Tuple[Switch, ...]:
    edges = (Switch(PUBLIC_EDGE, 0x1, "public"), Switch(LAN_EDGE, 0x2, "lan"), Switch(DB_EDGE, 0x3, "db"))
    remote = (Switch(REMOTE_EDGE, 0x4, "remote"),) if remote_webs else ()
    proxies = tuple(Switch(name, 0x100 + i, "proxy") for i, name in enumerate(PROXY_NAMES, 1)) if sdn else ()
    return edges + remote + proxies


def _router(plan: AddressPlan, remote_webs: int, claimed: Set[str]) -> Host:
    nets = [(plan.public, PUBLIC_EDGE), (plan.lan, LAN_EDGE)] + ([(plan.remote, REMOTE_EDGE)] if remote_webs else [])
    return Host(ROUTER, "router", tuple(_interface(ROUTER, index, net, plan.address(net, ROUTER_HOST_ID, claimed),
                                                   edge, EDGE_ROUTER_PORT)
                                        for index, (net, edge) in enumerate(nets)))


def _router_on(router: Host, net: IPv4Network) -> str:
    """r0's address in `net`: the default gateway of the hosts there."""
    return next(i.ip for i in router.interfaces if ip_address(i.ip) in net)


def _interface(host: str, index: int, net: IPv4Network, ip: str, switch: str, port: int) -> Interface:
    return Interface(name="%s-eth%d" % (host, index), ip=ip, prefixlen=net.prefixlen,
                     mac=mac_for(ip), switch=switch, port=port)


def _clients(plan: AddressPlan, count: int, router: Host, claimed: Set[str]) -> List[Host]:
    return [Host("c%d" % i, "client", (_interface(
        "c%d" % i, 0, plan.public, plan.address(plan.public, CLIENT_BASE + i, claimed), PUBLIC_EDGE,
        EDGE_FIRST_HOST_PORT + i - 1),), gateway=_router_on(router, plan.public)) for i in range(1, count + 1)]


def _real_servers(plan: AddressPlan, webs: int, remote_webs: int, through_nat_gateway: bool, router: Host,
                  claimed: Set[str]) -> List[Host]:
    """Web hosts on the LAN (web1.., at the plan's addresses if it names them), then the remote
    ones behind r0; each also on the DB net."""
    hosts = []
    for i in range(1, webs + remote_webs + 1):
        local = i <= webs
        net, edge, number = (plan.lan, LAN_EDGE, i) if local else (plan.remote, REMOTE_EDGE, i - webs)
        ip = plan.webs[i - 1] if local and plan.webs else plan.address(net, WEB_BASE + number, claimed)
        gateway = plan.nat_gateway if local and through_nat_gateway else _router_on(router, net)
        hosts.append(Host("web%d" % i, "web", (
            _interface("web%d" % i, 0, net, ip, edge, EDGE_FIRST_HOST_PORT + number - 1),
            _interface("web%d" % i, 1, plan.db, plan.address(plan.db, WEB_DB_BASE + i, claimed), DB_EDGE,
                       DB_COUNT + i)), gateway=gateway))
    return hosts


def _management(plan: AddressPlan, claimed: Set[str]) -> Host:
    """The controller's own interface on the LAN (root namespace): its health checks go out here.
    A /32 address, so that it adds no route for the whole LAN to the root namespace."""
    mgmt_ip = plan.address(plan.lan, MGMT_HOST_ID, claimed)
    return Host("mgmt", "management", (Interface("mgmt-eth0", mgmt_ip, 32, mac_for(mgmt_ip), LAN_EDGE, MGMT_PORT),))


def _db_hosts(plan: AddressPlan, claimed: Set[str]) -> List[Host]:
    return [Host("db%d" % i, "db", (_interface("db%d" % i, 0, plan.db, plan.address(plan.db, DB_BASE + i, claimed),
                                               DB_EDGE, i),))
            for i in range(1, DB_COUNT + 1)]


def _director_hosts(plan: AddressPlan, router: Host, claimed: Set[str]) -> List[Host]:
    """The peer's director hosts in the proxies' place, cabled to the same edge switch ports."""
    return [Host(proxy, "director", tuple(
        _interface(proxy, side, net, plan.address(net, PROXY_LOCAL_HOST_ID + index, claimed), edge, index + 1)
        for side, (net, edge) in enumerate(((plan.public, PUBLIC_EDGE), (plan.lan, LAN_EDGE)))),
        gateway=_router_on(router, plan.public)) for index, proxy in enumerate(PROXY_NAMES)]


Cables = Tuple[Tuple[Trunk, ...], Tuple[TunnelEndpoint, ...]]


def _proxy_cables_and_tunnels(plan: AddressPlan, claimed: Set[str]) -> Cables:
    trunks: List[Trunk] = []
    tunnels = []
    for index, proxy in enumerate(PROXY_NAMES):
        trunks.append(Trunk(proxy, PROXY_UPLINK_PORT, PUBLIC_EDGE, index + 1))
        trunks.append(Trunk(proxy, PROXY_DOWNLINK_PORT, LAN_EDGE, index + 1))
        local_ip = plan.address(plan.lan, PROXY_LOCAL_HOST_ID + index, claimed)
        tunnels.append(TunnelEndpoint(proxy, VNI_BASE + index + 1, local_ip, mac_for(local_ip),
                                      PROXY_TUNNEL_PORT, index + 1))
    return tuple(trunks), tuple(tunnels)


# Candidates for the DB network when a keepalived.conf's networks take this project's own.
DB_NETS = (DB_NET, IPv4Network("172.31.2.0/24"), IPv4Network("192.168.254.0/24"))


def describe_keepalived(config: KeepalivedCluster, clients: int = 4) -> ClusterDescription:
    """The cluster a keepalived.conf describes: the public net the /24 of its VIPs, the server
    LAN the /24 of its real servers (a web host at each address, web1 first), the NAT gateway
    at VRRP's address on the LAN if it has one, and its virtual servers as the services.
    KeepalivedError naming the file, the virtual server's line and what cannot be built."""
    first = config.services[0]
    public = _net_of(first.key.vip)
    lan = _net_of(first.entries[0].address)
    for service in config.services:
        where = "%s line %d: virtual_server %s" % (config.source, config.lines[service.key], service.key)
        if ip_address(service.key.vip) not in public:
            raise KeepalivedError("%s: its VIP is outside %s, the public net of the first VIP (%s): the "
                                  "cluster has one public net" % (where, public, first.key.vip))
        for entry in service.entries:
            if ip_address(entry.address) in public:
                raise KeepalivedError("%s: real server %s is on the VIPs' net %s: the proxies stand between "
                                      "the clients' net and the real servers' own" % (where, entry.address, public))
            if ip_address(entry.address) not in lan:
                raise KeepalivedError("%s: real server %s is outside %s, the net of the first real server (%s): "
                                      "the real servers share one LAN"
                                      % (where, entry.address, lan, first.entries[0].address))
    gateways = [a for a in config.vrrp_addresses if ip_address(a) in lan]
    db = next(n for n in DB_NETS if not n.overlaps(public) and not n.overlaps(lan))
    plan = AddressPlan(public=public, lan=lan, db=db,
                       webs=tuple(config.real_server_addresses),
                       nat_gateway=gateways[0] if gateways else _free_from_top(lan, set(config.vips)
                                                                               | set(config.real_server_addresses)),
                       taken=frozenset(config.vips))
    if len(plan.webs) > MAX_WEBS:
        raise KeepalivedError("%s: %d real servers; the cluster has at most %d web hosts"
                              % (config.source, len(plan.webs), MAX_WEBS))
    description = describe(mode=first.entries[0].method, clients=clients, webs=len(plan.webs),
                           vip=first.key.vip, plan=plan)
    for service in config.services:
        try:
            check_service(description, service)
        except IpvsadmError as e:
            raise KeepalivedError("%s line %d: virtual_server: %s" % (config.source, config.lines[service.key], e))
    try:
        return with_services(description, config.services)
    except ConfigError as e:
        raise KeepalivedError("%s: %s" % (config.source, e)) from None


def _free_from_top(net: IPv4Network, taken: Set[str]) -> str:
    """The highest free host address (a NAT gateway's, as this project's own .254)."""
    return next(str(a) for a in reversed(list(net.hosts())) if str(a) not in taken)


def _net_of(address: str) -> IPv4Network:
    return IPv4Network("%s/24" % address, strict=False)
