"""The cluster for a forwarding method and counts of hosts, described from the fixed plan
(core/addressing.py) and checked by core/validation.py before anyone builds it."""
from ipaddress import IPv4Network

from core.addressing import (CLIENT_BASE, DB_BASE, DB_COUNT, DB_EDGE, DB_NET, EDGE_FIRST_HOST_PORT,
                             EDGE_ROUTER_PORT, HTTP_PORT, LAN_EDGE, LAN_MTU_TUN, LAN_NET, MGMT_HOST_ID, MGMT_PORT,
                             NAT_GATEWAY, NAT_GATEWAY_VRID, PROXY_DOWNLINK_PORT, PROXY_LOCAL_HOST_ID,
                             PROXY_NAMES, PROXY_TUNNEL_PORT, PROXY_UPLINK_PORT, PUBLIC_EDGE, PUBLIC_NET,
                             REMOTE_EDGE, REMOTE_NET, ROUTER, ROUTER_HOST_ID, SDN, VIP, VNI_BASE, VRID,
                             WEB_BASE, WEB_DB_BASE, mac_for, vrrp_mac)
from core.description import ClusterDescription, Host, Interface, Switch, Trunk, TunnelEndpoint
from core.validation import check_description, validate


def _interface(host: str, index: int, net: IPv4Network, host_id: int, switch: str, port: int) -> Interface:
    ip = str(net.network_address + host_id)
    return Interface(name="%s-eth%d" % (host, index), ip=ip, prefixlen=net.prefixlen,
                     mac=mac_for(ip), switch=switch, port=port)


def describe(mode: str = "nat", clients: int = 4, webs: int = 2, vip: str = VIP, remote_webs: int = 0,
             director: str = SDN) -> ClusterDescription:
    """The cluster for a forwarding mode, counts of clients, web hosts (on the proxies' LAN) and
    remote web hosts (one L3 hop away, TUN only), a VIP, and who directs (see DIRECTORS)."""
    validate(mode, clients, webs, remote_webs, director)
    sdn = director == SDN
    router_pub = str(PUBLIC_NET.network_address + ROUTER_HOST_ID)
    router_lan = str(LAN_NET.network_address + ROUTER_HOST_ID)
    switches = (
        Switch(PUBLIC_EDGE, 0x1, "public"),
        Switch(LAN_EDGE, 0x2, "lan"),
        Switch(DB_EDGE, 0x3, "db"),
    ) + ((Switch(REMOTE_EDGE, 0x4, "remote"),) if remote_webs else ()) \
      + (tuple(Switch(name, 0x100 + i, "proxy") for i, name in enumerate(PROXY_NAMES, 1)) if sdn else ())

    hosts = [Host(ROUTER, "router", (
        _interface(ROUTER, 0, PUBLIC_NET, ROUTER_HOST_ID, PUBLIC_EDGE, EDGE_ROUTER_PORT),
        _interface(ROUTER, 1, LAN_NET, ROUTER_HOST_ID, LAN_EDGE, EDGE_ROUTER_PORT))
        + ((_interface(ROUTER, 2, REMOTE_NET, ROUTER_HOST_ID, REMOTE_EDGE, EDGE_ROUTER_PORT),)
           if remote_webs else ()))]
    for i in range(1, clients + 1):
        hosts.append(Host("c%d" % i, "client", (
            _interface("c%d" % i, 0, PUBLIC_NET, CLIENT_BASE + i, PUBLIC_EDGE,
                       EDGE_FIRST_HOST_PORT + i - 1),), gateway=router_pub))
    for i in range(1, webs + 1):
        hosts.append(Host("web%d" % i, "web", (
            _interface("web%d" % i, 0, LAN_NET, WEB_BASE + i, LAN_EDGE, EDGE_FIRST_HOST_PORT + i - 1),
            _interface("web%d" % i, 1, DB_NET, WEB_DB_BASE + i, DB_EDGE, DB_COUNT + i)),
            gateway=NAT_GATEWAY if mode == "nat" and sdn else router_lan))
    router_remote = str(REMOTE_NET.network_address + ROUTER_HOST_ID)
    for i in range(webs + 1, webs + remote_webs + 1):
        hosts.append(Host("web%d" % i, "web", (
            _interface("web%d" % i, 0, REMOTE_NET, WEB_BASE + i - webs, REMOTE_EDGE,
                       EDGE_FIRST_HOST_PORT + i - webs - 1),
            _interface("web%d" % i, 1, DB_NET, WEB_DB_BASE + i, DB_EDGE, DB_COUNT + i)),
            gateway=router_remote))
    # The controller's own interface on the LAN (root namespace): its health checks go out here.
    # A /32 address, so that it adds no route for the whole LAN to the root namespace.
    mgmt_ip = str(LAN_NET.network_address + MGMT_HOST_ID)
    hosts.append(Host("mgmt", "management", (
        Interface("mgmt-eth0", mgmt_ip, 32, mac_for(mgmt_ip), LAN_EDGE, MGMT_PORT),)))
    for i in range(1, DB_COUNT + 1):
        hosts.append(Host("db%d" % i, "db", (
            _interface("db%d" % i, 0, DB_NET, DB_BASE + i, DB_EDGE, i),)))

    trunks, tunnels = [], []
    for index, proxy in enumerate(PROXY_NAMES if not sdn else ()):
        # A director host in each proxy's place, cabled to the same edge switch ports.
        hosts.append(Host(proxy, "director", (
            _interface(proxy, 0, PUBLIC_NET, PROXY_LOCAL_HOST_ID + index, PUBLIC_EDGE, index + 1),
            _interface(proxy, 1, LAN_NET, PROXY_LOCAL_HOST_ID + index, LAN_EDGE, index + 1)),
            gateway=router_pub))
    for index, proxy in enumerate(PROXY_NAMES if sdn else ()):
        trunks.append(Trunk(proxy, PROXY_UPLINK_PORT, PUBLIC_EDGE, index + 1))
        trunks.append(Trunk(proxy, PROXY_DOWNLINK_PORT, LAN_EDGE, index + 1))
        local_ip = str(LAN_NET.network_address + PROXY_LOCAL_HOST_ID + index)
        tunnels.append(TunnelEndpoint(proxy, VNI_BASE + index + 1, local_ip, mac_for(local_ip),
                                      PROXY_TUNNEL_PORT, index + 1))

    description = ClusterDescription(mode=mode, vip=vip, vip_mac=vrrp_mac(VRID), nat_gateway=NAT_GATEWAY,
                                     http_port=HTTP_PORT, switches=switches, hosts=tuple(hosts),
                                     trunks=tuple(trunks), tunnels=tuple(tunnels),
                                     gateway_mac=vrrp_mac(NAT_GATEWAY_VRID),
                                     lan_mtu=LAN_MTU_TUN if mode == "tun" else 1500,
                                     proxies=PROXY_NAMES if sdn else (), director=director)
    check_description(description)
    return description
