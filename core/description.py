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
import dataclasses
import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Optional, Tuple

MODES = ("nat", "tun", "dr")
# Who balances the VIP: this project's proxies (OVS switches lb1, lb2 driven by the controller),
# or the stack an operator would otherwise build, keepalived (VRRP) and HAProxy on two hosts lb1,
# lb2 in the proxies' place; the benchmark compares the two in the same network.
SDN, HAPROXY = "sdn", "haproxy"
DIRECTORS = (SDN, HAPROXY)
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
CONNECTION_IDLE_TIMEOUT = 300      # s a connection stays in a proxy's connection tracker while idle (LVS: 900)
LAN_MTU_TUN = 1600                 # room for VXLAN's 50 bytes (docs/PLATFORM.md)
ROUTER_HOST_ID = 1
CLIENT_BASE, WEB_BASE, DB_BASE, WEB_DB_BASE = 10, 10, 10, 20
HTTP_PORT = 80
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380

# Switch ports. Each edge switch reserves 1 and 2 for the proxies and 3 for the router,
# so a port number alone tells what sits behind it.
PROXY_NAMES = ("lb1", "lb2")
# The edge switches and the router, by name; code elsewhere asks the description for them.
PUBLIC_EDGE, LAN_EDGE, DB_EDGE, REMOTE_EDGE = "s_pub", "s_lan", "s_db", "s_far"
ROUTER = "r0"
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
    director: str = SDN

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

    def conntrack_zone(self, proxy):
        """The proxy's own zone of the connection tracker (all bridges of one ovs-vswitchd
        share one tracker; a zone keeps each proxy's connections its own, as on two machines)."""
        return self.proxies.index(proxy) + 1

    def _switch_with_role(self, role):
        return next((s.name for s in self.switches if s.role == role), None)

    @property
    def public_edge(self):
        """The public side's switch: clients, r0's outer side, the proxies' uplinks."""
        return self._switch_with_role("public")

    @property
    def lan_edge(self):
        """The real servers' LAN switch: web hosts, r0's inner side, the proxies' downlinks."""
        return self._switch_with_role("lan")

    @property
    def servers_answer_from_vip(self):
        """DR and TUN: real servers answer clients themselves, from the VIP, through r0."""
        return self.mode in ("dr", "tun")

    @property
    def db_edge(self):
        return self._switch_with_role("db")

    @property
    def remote_edge(self):
        """The remote real servers' switch, one L3 hop behind r0 (None without remote servers)."""
        return self._switch_with_role("remote")

    @property
    def proxy_edges(self):
        """The edge switches that the proxies join (and from which they are probed)."""
        return (self.public_edge, self.lan_edge)

    @property
    def management_interface(self):
        """The controller's interface on the real servers' LAN (its health checks leave by it)."""
        return self.hosts_with_role("management")[0].interfaces[0]

    @property
    def management_ip(self):
        return self.management_interface.ip

    def real_servers_on(self, switch):
        """The real servers whose service interface is cabled to `switch`."""
        return [w for w in self.real_servers if w.service_interface.switch == switch]

    @property
    def router(self):
        """r0, between the public side and the LAN (and the remote net)."""
        return self.hosts_with_role("router")[0]

    def proxy_uplink(self, proxy):
        """The proxy's own port towards s_pub: what it sends towards clients leaves here."""
        return next(p for p, peer in self.trunk_ports(proxy).items() if peer == self.public_edge)

    def proxy_downlink(self, proxy):
        """The proxy's own port towards s_lan: real servers, and the NAT gateway's side."""
        return next(p for p, peer in self.trunk_ports(proxy).items() if peer == self.lan_edge)

    def proxy_port(self, edge_switch, proxy):
        """The port of an edge switch (s_pub, s_lan) that leads to a proxy."""
        return next(p for p, peer in self.trunk_ports(edge_switch).items() if peer == proxy)

    def proxy_cable_ends(self, proxy):
        """Both ends of a proxy's cables to the edge switches, each (switch, port, the switch at
        the other end): the proxy's own ends first."""
        own = [(proxy, port, peer) for port, peer in sorted(self.trunk_ports(proxy).items())]
        return own + [(edge, self.proxy_port(edge, proxy), proxy) for edge in self.proxy_edges]

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

    def to_json(self, compact=False):
        return json.dumps(asdict(self), separators=(",", ":")) if compact else json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data):
        """A description from its JSON form, every field checked: ConfigError naming the first
        field that is missing, unknown or wrong."""
        fields = _fields(cls, data, "description")
        hosts = []
        for i, h in enumerate(_list(fields, "hosts", "description")):
            where = "hosts[%d]" % i
            host = _fields(Host, h, where)
            interfaces = tuple(Interface(**_fields(Interface, intf, "%s.interfaces[%d]" % (where, j)))
                               for j, intf in enumerate(_list(host, "interfaces", where)))
            hosts.append(Host(**dict(host, interfaces=interfaces)))
        description = cls(**dict(
            fields, hosts=tuple(hosts),
            switches=tuple(Switch(**_fields(Switch, s, "switches[%d]" % i))
                           for i, s in enumerate(_list(fields, "switches", "description"))),
            trunks=tuple(Trunk(**_fields(Trunk, t, "trunks[%d]" % i))
                         for i, t in enumerate(_list(fields, "trunks", "description"))),
            tunnels=tuple(TunnelEndpoint(**_fields(TunnelEndpoint, t, "tunnels[%d]" % i))
                          for i, t in enumerate(_list(fields, "tunnels", "description"))),
            proxies=tuple(_list(fields, "proxies", "description") if "proxies" in fields else PROXY_NAMES)))
        check_description(description)
        return description

    @classmethod
    def load(cls, path):
        """The description in a JSON file; ConfigError naming the file and what is wrong."""
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as e:
            raise ConfigError("cluster description %s cannot be read: %s" % (path, e.strerror)) from None
        except ValueError as e:
            raise ConfigError("cluster description %s is not JSON: %s" % (path, e)) from None
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            raise ConfigError("cluster description %s: %s" % (path, e)) from None


def _fields(cls, data, where):
    """The fields of a dataclass from a JSON object: exactly its fields, defaults may be left out."""
    if not isinstance(data, dict):
        raise ConfigError("%s must be an object, got %r" % (where, data))
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    unknown, missing = sorted(set(data) - names), sorted(required - set(data))
    if unknown:
        raise ConfigError("%s has an unknown field %r; its fields are %s"
                          % (where, unknown[0], ", ".join(sorted(names))))
    if missing:
        raise ConfigError("%s lacks the field %r" % (where, missing[0]))
    return dict(data)


def _list(fields, name, where):
    value = fields[name]
    if not isinstance(value, list):
        raise ConfigError("%s.%s must be a list, got %r" % (where, name, value))
    return value


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
    """The VIP must be a free host address of the public net: that is where clients ARP for it."""
    try:
        address = ipaddress.ip_address(vip)
    except ValueError:
        raise ConfigError("VIP %r is not an IPv4 address" % (vip,)) from None
    if address.version != 4:
        raise ConfigError("VIP %s is an IPv6 address; the cluster is IPv4: choose a free address of "
                          "the public net %s" % (vip, PUBLIC_NET))
    for net, what in ((LAN_NET, "the server LAN"), (DB_NET, "the DB network"),
                      (REMOTE_NET, "the remote server net")):
        if address in net:
            raise ConfigError("VIP %s is inside %s %s, where clients cannot reach it and real "
                              "servers would take it for a neighbour: choose a free address of "
                              "the public net %s" % (vip, what, net, PUBLIC_NET))
    if address not in PUBLIC_NET:
        raise ConfigError("VIP %s is outside the public net %s, where clients ARP for it"
                          % (vip, PUBLIC_NET))
    for special, what in ((PUBLIC_NET.network_address, "network"),
                          (PUBLIC_NET.broadcast_address, "broadcast")):
        if address == special:
            raise ConfigError("VIP %s is the %s address of the public net %s, not a host address"
                              % (vip, what, PUBLIC_NET))
    if vip in taken:
        raise ConfigError("VIP %s is already the address of %s" % (vip, taken[vip]))


SWITCH_ROLES = ("public", "lan", "db", "remote", "proxy")
HOST_ROLES = ("client", "router", "web", "db", "management", "director")
OFPP_MAX = 0xffffff00          # the highest OpenFlow port number a switch port can have
IFNAME_MAX = 15                # Linux interface names
MIN_MTU, MAX_MTU = 1280, 9000
MAC_PATTERN = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _require(ok, where, value, allowed):
    if not ok:
        raise ConfigError("%s is %r; it must be %s" % (where, value, allowed))


def _integer(value, where, low, top):
    _require(isinstance(value, int) and not isinstance(value, bool) and low <= value <= top,
             where, value, "an integer from %d to %d" % (low, top))


def _ipv4(value, where):
    try:
        ok = isinstance(value, str) and ipaddress.ip_address(value).version == 4
    except ValueError:
        ok = False
    _require(ok, where, value, "an IPv4 address")


def _mac(value, where):
    _require(isinstance(value, str) and MAC_PATTERN.match(value) is not None
             and not int(value[:2], 16) & 1, where, value, "a unicast MAC address, lower-case hex")


def _name(value, where, longest=IFNAME_MAX):
    _require(isinstance(value, str) and re.match(r"^[a-z][a-z0-9_-]*$", value or "") is not None
             and len(value) <= longest, where, value,
             "a name of lower-case letters, digits, - and _, at most %d long" % longest)


def _unique(values, what):
    seen = set()
    for value in values:
        if value in seen:
            raise ConfigError("%s %r appears twice; each must be unique" % (what, value))
        seen.add(value)


def check_description(d):
    """Every field of a description (one made by describe(), or loaded from JSON): ConfigError
    naming the first field that is wrong, its value, and what is allowed."""
    _require(d.mode in MODES, "mode", d.mode, "one of " + ", ".join(MODES))
    _integer(d.http_port, "http_port", 1, 65535)
    _integer(d.lan_mtu, "lan_mtu", MIN_MTU, MAX_MTU)
    if d.mode == "tun":
        _integer(d.lan_mtu, "lan_mtu", 1500 + VXLAN_OVERHEAD, MAX_MTU)
    _mac(d.vip_mac, "vip_mac")
    _mac(d.gateway_mac, "gateway_mac")
    _ipv4(d.nat_gateway, "nat_gateway")
    for i, switch in enumerate(d.switches):
        where = "switches[%d]" % i
        _name(switch.name, where + ".name", IFNAME_MAX - len("-eth99"))
        _integer(switch.dpid, where + ".dpid", 1, 2 ** 64 - 1)
        _require(switch.role in SWITCH_ROLES, where + ".role", switch.role, "one of " + ", ".join(SWITCH_ROLES))
    _unique([s.name for s in d.switches], "switch name")
    _unique([s.dpid for s in d.switches], "switch dpid")
    switches = {s.name: s for s in d.switches}
    for i, host in enumerate(d.hosts):
        _check_host(host, "hosts[%d]" % i, switches)
    _unique([s.name for s in d.switches] + [h.name for h in d.hosts], "node name")
    interfaces = [i for h in d.hosts for i in h.interfaces]
    _unique([i.ip for i in interfaces], "interface address")
    _unique([i.mac for i in interfaces], "interface MAC")
    _require(len(d.hosts_with_role("router")) == 1, "hosts", "%d routers" % len(d.hosts_with_role("router")),
             "exactly one host with the role router")
    _require(d.real_servers, "hosts", "no web host", "at least one host with the role web")
    _require(d.director in DIRECTORS, "director", d.director, "one of " + ", ".join(DIRECTORS))
    if d.director == SDN:
        _require(len(d.proxies) == 2 and all(switches.get(p) and switches[p].role == "proxy" for p in d.proxies),
                 "proxies", list(d.proxies), "two switches with the role proxy")
    else:
        _require(not d.proxies, "proxies", list(d.proxies), "none: the directors are hosts")
        _require(len(d.hosts_with_role("director")) == 2, "hosts", "%d directors" % len(d.hosts_with_role("director")),
                 "two hosts with the role director")
    for i, t in enumerate(d.trunks):
        for end, port in ((t.switch_a, t.port_a), (t.switch_b, t.port_b)):
            _require(end in switches, "trunks[%d]" % i, end, "a switch of the description")
            _integer(port, "trunks[%d] port" % i, 1, OFPP_MAX)
    ends = [(i.switch, i.port) for i in interfaces]
    ends += [(t.switch_a, t.port_a) for t in d.trunks] + [(t.switch_b, t.port_b) for t in d.trunks]
    _unique(ends, "switch port")
    for i, t in enumerate(d.tunnels):
        where = "tunnels[%d]" % i
        _require(t.proxy in d.proxies, where + ".proxy", t.proxy, "one of the proxies " + ", ".join(d.proxies))
        _integer(t.vni, where + ".vni", 1, 2 ** 24 - 1)
        _ipv4(t.local_ip, where + ".local_ip")
        _mac(t.local_mac, where + ".local_mac")
        _integer(t.port, where + ".port", 1, OFPP_MAX)
        _integer(t.pkt_mark, where + ".pkt_mark", 1, 2 ** 32 - 1)
    _unique([t.vni for t in d.tunnels], "tunnel VNI")
    public = [i for i in interfaces if switches[i.switch].role == "public"]
    _require(public, "hosts", "nobody on the public switch", "at least the router on it")
    public_net = ipaddress.ip_interface("%s/%d" % (public[0].ip, public[0].prefixlen)).network
    _ipv4(d.vip, "vip")
    vip = ipaddress.ip_address(d.vip)
    _require(vip in public_net and vip not in (public_net.network_address, public_net.broadcast_address)
             and d.vip not in {i.ip for i in interfaces}, "vip", d.vip,
             "a free host address of the public net %s" % public_net)


def _check_host(host, where, switches):
    _name(host.name, where + ".name", IFNAME_MAX - len("-eth9"))
    _require(host.role in HOST_ROLES, where + ".role", host.role, "one of " + ", ".join(HOST_ROLES))
    _require(host.interfaces, where + ".interfaces", [], "at least one interface")
    if host.gateway is not None:
        _ipv4(host.gateway, where + ".gateway")
    for j, intf in enumerate(host.interfaces):
        at = "%s.interfaces[%d]" % (where, j)
        _require(intf.name == "%s-eth%d" % (host.name, j), at + ".name", intf.name,
                 "%s-eth%d (the host's name and the interface's index)" % (host.name, j))
        _ipv4(intf.ip, at + ".ip")
        _integer(intf.prefixlen, at + ".prefixlen", 8, 32)
        _mac(intf.mac, at + ".mac")
        _require(intf.switch in switches and switches[intf.switch].role != "proxy", at + ".switch",
                 intf.switch, "an edge switch of the description")
        _integer(intf.port, at + ".port", 1, OFPP_MAX)
        net = ipaddress.ip_interface("%s/%d" % (intf.ip, intf.prefixlen)).network
        _require(intf.prefixlen == 32 or ipaddress.ip_address(intf.ip) not in
                 (net.network_address, net.broadcast_address), at + ".ip", intf.ip,
                 "a host address of %s, not its network or broadcast address" % net)


def validate(mode, clients, webs, remote_webs=0, director=SDN):
    if mode not in MODES:
        raise ConfigError("unknown forwarding mode %r: choose one of %s" % (mode, ", ".join(MODES)))
    if director not in DIRECTORS:
        raise ConfigError("unknown director %r: choose one of %s" % (director, ", ".join(DIRECTORS)))
    if director == HAPROXY and (mode != "nat" or remote_webs):
        raise ConfigError("the haproxy director is a full proxy on the proxies' LAN (both addresses "
                          "rewritten, as in NAT): it takes --mode nat and no --remote-webs")
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


def describe(mode="nat", clients=4, webs=2, vip=VIP, remote_webs=0, director=SDN):
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

    validate_vip(vip, {i.ip: h.name for h in hosts for i in h.interfaces})
    description = ClusterDescription(mode=mode, vip=vip, vip_mac=vrrp_mac(VRID), nat_gateway=NAT_GATEWAY,
                                     http_port=HTTP_PORT, switches=switches, hosts=tuple(hosts),
                                     trunks=tuple(trunks), tunnels=tuple(tunnels),
                                     gateway_mac=vrrp_mac(NAT_GATEWAY_VRID),
                                     lan_mtu=LAN_MTU_TUN if mode == "tun" else 1500,
                                     proxies=PROXY_NAMES if sdn else (), director=director)
    check_description(description)
    return description
