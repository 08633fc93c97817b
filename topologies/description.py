"""The cluster description: the one source of truth for names, addresses, roles, ports and DPIDs.

Pure data, no Mininet or Ryu import: the topology builds from it, the controller reads it as JSON
(written by the harness into the run directory), tests and tools read it too.

Addressing (LVS terms: VIP = virtual IP, RIP = real server IP):
    public net   10.0.0.0/24   r0 .1, VIP .100, clients c1..cN .11..
    server LAN   10.0.1.0/24   r0 .1, NAT gateway (virtual, owned by the active proxy) .254,
                               proxies' tunnel endpoints .2 .3 (TUN), web hosts (real servers) .11..,
                               the controller's management interface .250 (health checks)
    DB net       10.0.2.0/24   db1..db3 .11..13, web hosts' second interface .21..
    remote net   10.0.3.0/24   r0 .1, remote web hosts .11.. (TUN only: real servers one L3 hop
                               away from the proxies, behind r0, on switch s_far)
Every interface's MAC is 02:00 followed by its IPv4 address, so a MAC in a trace names its owner.
"""
import ipaddress
import json
from dataclasses import asdict, dataclass, field
from typing import Optional, Tuple

MODES = ("nat", "tun", "dr")
MAX_CLIENTS = 64
MAX_WEBS = 32
DB_COUNT = 3

PUBLIC_NET = ipaddress.ip_network("10.0.0.0/24")
LAN_NET = ipaddress.ip_network("10.0.1.0/24")
DB_NET = ipaddress.ip_network("10.0.2.0/24")
REMOTE_NET = ipaddress.ip_network("10.0.3.0/24")
MAX_REMOTE_WEBS = 16
VIP = "10.0.0.100"
VRID = 1
NAT_GATEWAY = "10.0.1.254"
NAT_GATEWAY_VRID = 2
# TUN: each proxy's tunnel endpoint (the bridge's LOCAL port) and VXLAN network identifier.
PROXY_LOCAL_HOST_ID = 2            # lb1 10.0.1.2, lb2 10.0.1.3
VNI_BASE = 100                     # lb1 VNI 101, lb2 VNI 102
PROXY_TUNNEL_PORT = 10
VXLAN_OVERHEAD = 50
LAN_MTU_TUN = 1600                 # room for VXLAN's 50 bytes (PLATFORM.md)
ROUTER_HOST_ID = 1
CLIENT_BASE, WEB_BASE, DB_BASE, WEB_DB_BASE = 10, 10, 10, 20
HTTP_PORT = 80
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380

# Switch ports. Each edge switch reserves 1 and 2 for the proxies and 3 for the router,
# so a port number alone tells what sits behind it.
PROXY_NAMES = ("lb1", "lb2")
PROXY_UPLINK_PORT = 1      # proxy port towards s_pub
PROXY_DOWNLINK_PORT = 2    # proxy port towards s_lan
EDGE_ROUTER_PORT = 3
EDGE_FIRST_HOST_PORT = 4
MGMT_PORT = 100            # s_lan port of the controller's management interface
MGMT_HOST_ID = 250


class ConfigError(ValueError):
    """A cluster configuration that cannot work; the message says what and why."""


@dataclass(frozen=True)
class Interface:
    name: str          # interface name inside the host, e.g. "web1-eth0"
    ip: str
    prefixlen: int
    mac: str
    switch: str        # the switch this interface is cabled to
    port: int          # that switch's port number


@dataclass(frozen=True)
class Host:
    name: str
    role: str          # client | router | web | db | management
    interfaces: Tuple[Interface, ...]
    gateway: Optional[str] = None

    @property
    def ip(self):
        return self.interfaces[0].ip

    @property
    def service_interface(self):
        """The interface a real server serves on (and a host's first)."""
        return self.interfaces[0]

    def interface_on(self, switch):
        return next((i for i in self.interfaces if i.switch == switch), None)


@dataclass(frozen=True)
class Switch:
    name: str
    dpid: int
    role: str          # public | lan | db | remote | proxy


@dataclass(frozen=True)
class Trunk:
    """A switch-to-switch cable (proxy uplinks and downlinks)."""
    switch_a: str
    port_a: int
    switch_b: str
    port_b: int


@dataclass(frozen=True)
class TunnelEndpoint:
    """A proxy's VXLAN endpoint for TUN mode: the bridge's LOCAL port in the root namespace."""
    proxy: str
    vni: int
    local_ip: str
    local_mac: str
    port: int          # the VXLAN port's number on the proxy bridge
    pkt_mark: int      # selects this proxy's route in OVS's shared tunnel route table


@dataclass(frozen=True)
class ClusterDescription:
    mode: str
    vip: str
    vip_mac: str
    nat_gateway: str
    http_port: int
    switches: Tuple[Switch, ...]
    hosts: Tuple[Host, ...]
    trunks: Tuple[Trunk, ...]
    tunnels: Tuple[TunnelEndpoint, ...]
    gateway_mac: str
    lan_mtu: int
    proxies: Tuple[str, ...] = field(default=PROXY_NAMES)

    def host(self, name):
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError("no host named %r in the cluster" % name)

    def switch(self, name):
        for switch in self.switches:
            if switch.name == name:
                return switch
        raise KeyError("no switch named %r in the cluster" % name)

    def switch_by_dpid(self, dpid):
        return next((s for s in self.switches if s.dpid == dpid), None)

    def tunnel(self, proxy):
        return next(t for t in self.tunnels if t.proxy == proxy)

    def proxy_uplink(self, proxy):
        """The proxy's own port towards s_pub: what it sends towards clients leaves here."""
        return next(p for p, peer in self.trunk_ports(proxy).items() if peer == "s_pub")

    def proxy_port(self, edge_switch, proxy):
        """The port of an edge switch (s_pub, s_lan) that leads to a proxy."""
        return next(p for p, peer in self.trunk_ports(edge_switch).items() if peer == proxy)

    def hosts_with_role(self, role):
        return [h for h in self.hosts if h.role == role]

    @property
    def real_servers(self):
        return self.hosts_with_role("web")

    @property
    def node_names(self):
        return [s.name for s in self.switches] + [h.name for h in self.hosts]

    def host_ports(self, switch):
        """{port: Interface} of the hosts cabled to an edge switch."""
        return {i.port: i for h in self.hosts for i in h.interfaces if i.switch == switch}

    def trunk_ports(self, switch):
        """{port: peer switch name} of a switch's switch-to-switch cables."""
        ports = {}
        for t in self.trunks:
            if t.switch_a == switch:
                ports[t.port_a] = t.switch_b
            if t.switch_b == switch:
                ports[t.port_b] = t.switch_a
        return ports

    def to_json(self):
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data):
        hosts = tuple(Host(name=h["name"], role=h["role"], gateway=h.get("gateway"),
                           interfaces=tuple(Interface(**i) for i in h["interfaces"]))
                      for h in data["hosts"])
        return cls(mode=data["mode"], vip=data["vip"], vip_mac=data["vip_mac"],
                   nat_gateway=data["nat_gateway"], http_port=data["http_port"],
                   switches=tuple(Switch(**s) for s in data["switches"]), hosts=hosts,
                   trunks=tuple(Trunk(**t) for t in data["trunks"]),
                   tunnels=tuple(TunnelEndpoint(**t) for t in data["tunnels"]),
                   gateway_mac=data["gateway_mac"], lan_mtu=data["lan_mtu"],
                   proxies=tuple(data["proxies"]))

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls.from_dict(json.load(f))


def mac_for(ip):
    """A locally administered MAC that spells the IPv4 address: 10.0.1.11 -> 02:00:0a:00:01:0b."""
    return "02:00:" + ":".join("%02x" % b for b in ipaddress.ip_address(ip).packed)


def tunnel_mac(rip):
    """The MAC of a real server's VXLAN devices (TUN): the inner eth_dst the proxy writes."""
    return "02:01:" + mac_for(rip)[6:]


def vrrp_mac(vrid):
    """The VRRP virtual router MAC (RFC 5798) that answers ARP for the VIP."""
    return "00:00:5e:00:01:%02x" % vrid


def _interface(host, index, net, host_id, switch, port):
    ip = str(net.network_address + host_id)
    return Interface(name="%s-eth%d" % (host, index), ip=ip, prefixlen=net.prefixlen,
                     mac=mac_for(ip), switch=switch, port=port)


def validate_vip(vip, taken):
    """The VIP must be a free address of the public net: that is where clients ARP for it."""
    try:
        address = ipaddress.ip_address(vip)
    except ValueError:
        raise ConfigError("VIP %r is not an IPv4 address" % (vip,)) from None
    for net, what in ((LAN_NET, "the server LAN"), (DB_NET, "the DB network"),
                      (REMOTE_NET, "the remote server net")):
        if address in net:
            raise ConfigError("VIP %s is inside %s %s, where clients cannot reach it and real "
                              "servers would take it for a neighbour: choose a free address of "
                              "the public net %s" % (vip, what, net, PUBLIC_NET))
    if address not in PUBLIC_NET or address in (PUBLIC_NET.network_address, PUBLIC_NET.broadcast_address):
        raise ConfigError("VIP %s is not a host address of the public net %s" % (vip, PUBLIC_NET))
    if vip in taken:
        raise ConfigError("VIP %s is already the address of %s" % (vip, taken[vip]))


def validate(mode, clients, webs, remote_webs=0):
    if mode not in MODES:
        raise ConfigError("unknown forwarding mode %r: choose one of %s" % (mode, ", ".join(MODES)))
    for what, value, low, top in (("clients", clients, 1, MAX_CLIENTS), ("webs", webs, 1, MAX_WEBS),
                                  ("remote-webs", remote_webs, 0, MAX_REMOTE_WEBS)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
            raise ConfigError("--%s must be an integer from %d to %d, got %r" % (what, low, top, value))
    if remote_webs and mode == "dr":
        raise ConfigError("DR cannot reach remote real servers: it rewrites only the MAC, so every "
                          "real server must share the proxies' L2 segment (s_lan), but --remote-webs "
                          "puts real servers on %s behind r0; use --mode tun, which tunnels across "
                          "the L3 hop" % REMOTE_NET)
    if remote_webs and mode == "nat":
        raise ConfigError("NAT cannot reach remote real servers: their replies must return through "
                          "the proxy, but servers on %s route through r0; use --mode tun" % REMOTE_NET)


def describe(mode="nat", clients=4, webs=2, vip=VIP, remote_webs=0):
    """The cluster for a forwarding mode, counts of clients, web hosts (on the proxies' LAN) and
    remote web hosts (one L3 hop away, TUN only), and a VIP."""
    validate(mode, clients, webs, remote_webs)
    router_pub = str(PUBLIC_NET.network_address + ROUTER_HOST_ID)
    router_lan = str(LAN_NET.network_address + ROUTER_HOST_ID)
    switches = (
        Switch("s_pub", 0x1, "public"),
        Switch("s_lan", 0x2, "lan"),
        Switch("s_db", 0x3, "db"),
    ) + ((Switch("s_far", 0x4, "remote"),) if remote_webs else ()) \
      + tuple(Switch(name, 0x100 + i, "proxy") for i, name in enumerate(PROXY_NAMES, 1))

    hosts = [Host("r0", "router", (
        _interface("r0", 0, PUBLIC_NET, ROUTER_HOST_ID, "s_pub", EDGE_ROUTER_PORT),
        _interface("r0", 1, LAN_NET, ROUTER_HOST_ID, "s_lan", EDGE_ROUTER_PORT))
        + ((_interface("r0", 2, REMOTE_NET, ROUTER_HOST_ID, "s_far", EDGE_ROUTER_PORT),)
           if remote_webs else ()))]
    for i in range(1, clients + 1):
        hosts.append(Host("c%d" % i, "client", (
            _interface("c%d" % i, 0, PUBLIC_NET, CLIENT_BASE + i, "s_pub",
                       EDGE_FIRST_HOST_PORT + i - 1),), gateway=router_pub))
    for i in range(1, webs + 1):
        hosts.append(Host("web%d" % i, "web", (
            _interface("web%d" % i, 0, LAN_NET, WEB_BASE + i, "s_lan", EDGE_FIRST_HOST_PORT + i - 1),
            _interface("web%d" % i, 1, DB_NET, WEB_DB_BASE + i, "s_db", DB_COUNT + i)),
            gateway=NAT_GATEWAY if mode == "nat" else router_lan))
    router_remote = str(REMOTE_NET.network_address + ROUTER_HOST_ID)
    for i in range(webs + 1, webs + remote_webs + 1):
        hosts.append(Host("web%d" % i, "web", (
            _interface("web%d" % i, 0, REMOTE_NET, WEB_BASE + i - webs, "s_far", EDGE_FIRST_HOST_PORT + i - webs - 1),
            _interface("web%d" % i, 1, DB_NET, WEB_DB_BASE + i, "s_db", DB_COUNT + i)),
            gateway=router_remote))
    # The controller's own interface on the LAN (root namespace): its health checks go out here.
    # A /32 address, so that it adds no route for the whole LAN to the root namespace.
    mgmt_ip = str(LAN_NET.network_address + MGMT_HOST_ID)
    hosts.append(Host("mgmt", "management", (
        Interface("mgmt-eth0", mgmt_ip, 32, mac_for(mgmt_ip), "s_lan", MGMT_PORT),)))
    for i in range(1, DB_COUNT + 1):
        hosts.append(Host("db%d" % i, "db", (
            _interface("db%d" % i, 0, DB_NET, DB_BASE + i, "s_db", i),)))

    trunks, tunnels = [], []
    for index, proxy in enumerate(PROXY_NAMES):
        trunks.append(Trunk(proxy, PROXY_UPLINK_PORT, "s_pub", index + 1))
        trunks.append(Trunk(proxy, PROXY_DOWNLINK_PORT, "s_lan", index + 1))
        local_ip = str(LAN_NET.network_address + PROXY_LOCAL_HOST_ID + index)
        tunnels.append(TunnelEndpoint(proxy, VNI_BASE + index + 1, local_ip, mac_for(local_ip),
                                      PROXY_TUNNEL_PORT, index + 1))

    validate_vip(vip, {i.ip: h.name for h in hosts for i in h.interfaces})
    return ClusterDescription(mode=mode, vip=vip, vip_mac=vrrp_mac(VRID), nat_gateway=NAT_GATEWAY,
                              http_port=HTTP_PORT, switches=switches, hosts=tuple(hosts),
                              trunks=tuple(trunks), tunnels=tuple(tunnels),
                              gateway_mac=vrrp_mac(NAT_GATEWAY_VRID),
                              lan_mtu=LAN_MTU_TUN if mode == "tun" else 1500)
