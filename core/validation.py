"""Every rule a cluster description obeys, for one made by core/builder.py or loaded from JSON:
ConfigError naming the first field that is wrong, its value, and what is allowed.

Duck-typed on the description's model (core/description.py), which calls check_description
whenever one is made from JSON, so that this module imports neither it nor the builder.
"""
import ipaddress
import re
from typing import Any, Dict, Hashable, Iterable, List, Union

from core.addressing import (DIRECTORS, HAPROXY, MAX_CLIENTS, MAX_REMOTE_WEBS, MAX_WEBS, MODES, REMOTE_NET,
                             SDN, VXLAN_OVERHEAD)
from core.ipvsadm import (DEFAULT_SCHEDULER, MAX_WEIGHT, METHODS, PROTOCOLS, IpvsadmError, RealServerEntry, ServiceKey,
                          netmask_of)
from core.rules import ConfigError, is_integer

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# The schedulers the datapath carries out (controller/schedulers.py), in words for `lb -Ln`,
# the API and refusals.
SCHEDULERS = {
    "mh": "Maglev",
    "sh": "Maglev by client address",
    "rr": "as the weighted hash, equal shares",
    "wrr": "as the weighted hash",
    "lc": "Maglev re-weighted by connections",
    "wlc": "Maglev re-weighted by connections per weight",
    "fo": "the highest weight up",
}
MAX_PERSISTENCE = 65535  # s: a persistence entry is a learned flow's idle timeout (16 bits)
MAX_SERVICES = 255      # a service's index is 8 bits of its connections' ct_mark (controller/specs.py)

NET_NAMES = (("lan", "the server LAN"), ("db", "the DB network"), ("remote", "the remote server net"))


def check_vip(vip: object, nets: Dict[str, Network], taken: Dict[str, str]) -> None:
    """The VIP must be a free host address of the public net: that is where clients ARP for it.
    `nets` maps switch roles to their networks ("public" at least), `taken` addresses to hosts."""
    try:
        if not isinstance(vip, str):
            raise ValueError(vip)
        address = ipaddress.ip_address(vip)
    except ValueError:
        raise ConfigError("VIP %r is not an IPv4 address" % (vip,)) from None
    public = nets["public"]
    if address.version != 4:
        raise ConfigError("VIP %s is an IPv6 address; the cluster is IPv4: choose a free address of "
                          "the public net %s" % (vip, public))
    for role, what in NET_NAMES:
        if role in nets and address in nets[role]:
            raise ConfigError("VIP %s is inside %s %s, where clients cannot reach it and real "
                              "servers would take it for a neighbour: choose a free address of "
                              "the public net %s" % (vip, what, nets[role], public))
    if address not in public:
        raise ConfigError("VIP %s is outside the public net %s, where clients ARP for it" % (vip, public))
    for special, what in ((public.network_address, "network"), (public.broadcast_address, "broadcast")):
        if address == special:
            raise ConfigError("VIP %s is the %s address of the public net %s, not a host address"
                              % (vip, what, public))
    if vip in taken:
        raise ConfigError("VIP %s is already the address of %s" % (vip, taken[vip]))


SWITCH_ROLES = ("public", "lan", "db", "remote", "proxy")
HOST_ROLES = ("client", "router", "web", "db", "management", "director")
OFPP_MAX = 0xffffff00          # the highest OpenFlow port number a switch port can have
IFNAME_MAX = 15                # Linux interface names
MIN_MTU, MAX_MTU = 1280, 9000
MAC_PATTERN = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _require(ok: object, where: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError("%s is %r; it must be %s" % (where, value, allowed))


def _integer(value: object, where: str, low: int, top: int) -> None:
    _require(is_integer(value, low, top), where, value, "an integer from %d to %d" % (low, top))


def _ipv4(value: object, where: str) -> None:
    try:
        ok = isinstance(value, str) and ipaddress.ip_address(value).version == 4
    except ValueError:
        ok = False
    _require(ok, where, value, "an IPv4 address")


def _mac(value: object, where: str) -> None:
    _require(isinstance(value, str) and MAC_PATTERN.match(value) is not None
             and not int(value[:2], 16) & 1, where, value, "a unicast MAC address, lower-case hex")


def _name(value: object, where: str, longest: int = IFNAME_MAX) -> None:
    _require(isinstance(value, str) and re.match(r"^[a-z][a-z0-9_-]*$", value or "") is not None
             and len(value) <= longest, where, value,
             "a name of lower-case letters, digits, - and _, at most %d long" % longest)


def _unique(values: Iterable[Hashable], what: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise ConfigError("%s %r appears twice; each must be unique" % (what, value))
        seen.add(value)


def check_description(description: Any) -> None:
    """Every field of a description (one made by describe(), or loaded from JSON): ConfigError
    naming the first field that is wrong, its value, and what is allowed."""
    _check_scalars(description)
    switches = _check_switches(description)
    for i, host in enumerate(description.hosts):
        _check_host(host, "hosts[%d]" % i, switches)
    _unique([s.name for s in description.switches] + [h.name for h in description.hosts], "node name")
    interfaces = [i for h in description.hosts for i in h.interfaces]
    _unique([i.ip for i in interfaces], "interface address")
    _unique([i.mac for i in interfaces], "interface MAC")
    _check_roles(description, switches)
    _check_cables(description, switches, interfaces)
    _check_tunnels(description)
    _require(any(switches[i.switch].role == "public" for i in interfaces), "hosts",
             "nobody on the public switch", "at least the router on it")
    check_vip(description.vip, _nets_by_role(interfaces, switches),
              {i.ip: h.name for h in description.hosts for i in h.interfaces})
    check_services(description, description.services)


def check_vip_of(description: Any, vip: object) -> None:
    """`check_vip` for a VIP of an already valid description's cluster (another service's)."""
    interfaces = [i for h in description.hosts for i in h.interfaces]
    check_vip(vip, _nets_by_role(interfaces, {s.name: s for s in description.switches}),
              {i.ip: h.name for h in description.hosts for i in h.interfaces})


def check_services(description: Any, services: Iterable[Any]) -> None:
    """IpvsadmError unless the cluster can serve every one of `services` together: each fits
    (check_service) and they fit beside each other (check_together)."""
    services = list(services)
    for service in services:
        check_service(description, service)
    check_together(services)


def check_together(services: List[Any]) -> None:
    """IpvsadmError if services cannot stand beside each other: too many, one defined twice, or a
    real server whose NAT replies could belong to two (they are told apart by address, protocol
    and port alone)."""
    if len(services) > MAX_SERVICES:
        raise IpvsadmError("%d virtual services: at most %d fit a connection's mark" % (len(services), MAX_SERVICES))
    _unique([str(s.key) for s in services], "virtual service")
    replies: Dict[Any, ServiceKey] = {}
    for service in services:
        for entry in service.entries:
            reply = (entry.address, service.key.protocol, entry.port)
            if entry.method == "nat" and replies.setdefault(reply, service.key) != service.key:
                raise IpvsadmError("%s: %s:%d already answers %s by NAT, and the replies of the two could not "
                                   "be told apart: give it another port" % (
                                       service.key, entry.address, entry.port, replies[reply]))


def check_service(description: Any, service: Any, at_run_time: bool = False) -> None:
    """IpvsadmError unless the cluster can serve `service` as it is defined: its VIP a free host
    address of the public net, a scheduler carried out here, each real server a web host of the
    cluster (once) that its forwarding method reaches; `at_run_time`: added to the running
    cluster `description` describes, which has tunnels only if it started with them."""
    _check_fields(service)
    if at_run_time:
        _check_tunnels_made(description, service)
    try:
        check_vip_of(description, service.key.vip)
    except ConfigError as e:
        raise IpvsadmError("%s: %s" % (service.key, e)) from None
    if service.scheduler not in SCHEDULERS:
        default = " (ipvsadm's default when -s is not given)" if service.scheduler == DEFAULT_SCHEDULER else ""
        raise IpvsadmError("%s: scheduler %s%s is not carried out here; use -s with one of %s" % (
            service.key, service.scheduler, default, ", ".join("%s (%s)" % kv for kv in SCHEDULERS.items())))
    if service.persistence is not None and service.persistence > MAX_PERSISTENCE:
        raise IpvsadmError("%s: -p %d: a client's entry is kept at most %d s here (an OpenFlow idle timeout)"
                           % (service.key, service.persistence, MAX_PERSISTENCE))
    hosts: Dict[str, int] = {}
    for entry in service.real_servers:
        _check_real_server(description, service.key, entry)
        if hosts.setdefault(entry.address, entry.port) != entry.port:
            raise IpvsadmError("%s: %s serves it already on port %d: one port per web host in a service" % (
                service.key, entry.address, hosts[entry.address]))
    sorry = service.sorry_server
    if sorry is not None:
        _check_real_server(description, service.key, sorry)
        if sorry.address in hosts:
            raise IpvsadmError("%s: its sorry server %s is one of its real servers: it stands in for them all"
                               % (service.key, sorry.address))


def _check_tunnels_made(description: Any, service: Any) -> None:
    if "tun" in description.methods:
        return
    tunnelled = [e for e in service.entries if e.method == "tun"]
    if tunnelled:
        raise IpvsadmError("%s: %s by TUN (-i): the proxies' tunnel ports are made at start; start the cluster "
                           "with a TUN service (or --mode tun) to add TUN real servers at run time"
                           % (service.key, tunnelled[0].address))


def _check_fields(service: Any) -> None:
    """The types and ranges of a service's fields (one read from JSON may have anything)."""
    key = service.key
    _require(key.protocol in PROTOCOLS, "a service's protocol", key.protocol, "one of " + ", ".join(PROTOCOLS))
    _ipv4(key.vip, "a service's VIP")
    _integer(key.port, "the port of %s %s" % (key.protocol, key.vip), 1, 65535)
    for entry in service.entries:
        where = "%s real server %s" % (key, entry.address)
        _ipv4(entry.address, where)
        _integer(entry.port, where + "'s port", 1, 65535)
        _require(entry.method in METHODS, where + "'s method", entry.method, "one of " + ", ".join(METHODS))
        _integer(entry.weight, where + "'s weight", 0, MAX_WEIGHT)
        _require(entry.method == "nat" or entry.port == key.port, where + "'s port", entry.port,
                 "the service's own (%d): only NAT rewrites the port" % key.port)
    for address in service.inhibit_on_failure:
        _ipv4(address, "%s's inhibit_on_failure" % key)
    if service.persistence is not None:
        _integer(service.persistence, "%s's persistence" % key, 1, 31 * 24 * 3600)
    try:
        _require(netmask_of(service.netmask) == service.netmask, "%s's netmask" % key, service.netmask,
                 "a dotted netmask such as 255.255.255.0")
    except IpvsadmError as e:
        raise IpvsadmError("%s: %s" % (key, e)) from None


def _check_real_server(description: Any, key: ServiceKey, entry: RealServerEntry) -> None:
    host = next((h for h in description.real_servers if h.ip == entry.address), None)
    if host is None:
        raise IpvsadmError("%s: %s is not a web host of the cluster; web hosts: %s" % (
            key, entry.address, ", ".join("%s %s" % (h.name, h.ip) for h in description.real_servers)))
    if host.service_interface.switch == description.remote_edge and entry.method != "tun":
        raise IpvsadmError("%s: %s (%s) is one L3 hop away behind r0: only TUN (-i) reaches it, not %s" % (
            key, host.name, entry.address, entry.method.upper()))


def _check_scalars(description: Any) -> None:
    _require(description.mode in MODES, "mode", description.mode, "one of " + ", ".join(MODES))
    _integer(description.http_port, "http_port", 1, 65535)
    _integer(description.lan_mtu, "lan_mtu", MIN_MTU, MAX_MTU)
    if description.mode == "tun" or "tun" in description.methods:
        _integer(description.lan_mtu, "lan_mtu", 1500 + VXLAN_OVERHEAD, MAX_MTU)
    _mac(description.vip_mac, "vip_mac")
    _mac(description.gateway_mac, "gateway_mac")
    _ipv4(description.nat_gateway, "nat_gateway")


def _check_switches(description: Any) -> Dict[str, Any]:
    """The switches' fields; {name: switch}."""
    for i, switch in enumerate(description.switches):
        where = "switches[%d]" % i
        _name(switch.name, where + ".name", IFNAME_MAX - len("-eth99"))
        _integer(switch.dpid, where + ".dpid", 1, 2 ** 64 - 1)
        _require(switch.role in SWITCH_ROLES, where + ".role", switch.role, "one of " + ", ".join(SWITCH_ROLES))
    for role in ("public", "lan"):
        count = sum(s.role == role for s in description.switches)
        _require(count == 1, "switches", "%d with the role %s" % (count, role),
                 "exactly one switch with the role " + role)
    _unique([s.name for s in description.switches], "switch name")
    _unique([s.dpid for s in description.switches], "switch dpid")
    return {s.name: s for s in description.switches}


def _check_roles(description: Any, switches: Dict[str, Any]) -> None:
    """One router, some real servers, and two proxies (switches) or two director hosts."""
    routers = len(description.hosts_with_role("router"))
    _require(routers == 1, "hosts", "%d routers" % routers, "exactly one host with the role router")
    _require(description.real_servers, "hosts", "no web host", "at least one host with the role web")
    _require(description.director in DIRECTORS, "director", description.director, "one of " + ", ".join(DIRECTORS))
    if description.director == SDN:
        _require(len(description.proxies) == 2
                 and all(switches.get(p) and switches[p].role == "proxy" for p in description.proxies),
                 "proxies", list(description.proxies), "two switches with the role proxy")
    else:
        _require(not description.proxies, "proxies", list(description.proxies), "none: the directors are hosts")
        directors = len(description.hosts_with_role("director"))
        _require(directors == 2, "hosts", "%d directors" % directors, "two hosts with the role director")


def _check_cables(description: Any, switches: Dict[str, Any], interfaces: List[Any]) -> None:
    """Switch-to-switch cables end on switches of the description; no switch port is used twice."""
    for i, t in enumerate(description.trunks):
        for end, port in ((t.switch_a, t.port_a), (t.switch_b, t.port_b)):
            _require(end in switches, "trunks[%d]" % i, end, "a switch of the description")
            _integer(port, "trunks[%d] port" % i, 1, OFPP_MAX)
    ends = [(i.switch, i.port) for i in interfaces]
    ends += [(t.switch_a, t.port_a) for t in description.trunks] + [(t.switch_b, t.port_b) for t in description.trunks]
    _unique(ends, "switch port")


def _check_tunnels(description: Any) -> None:
    for i, t in enumerate(description.tunnels):
        where = "tunnels[%d]" % i
        _require(t.proxy in description.proxies, where + ".proxy", t.proxy,
                 "one of the proxies " + ", ".join(description.proxies))
        _integer(t.vni, where + ".vni", 1, 2 ** 24 - 1)
        _ipv4(t.local_ip, where + ".local_ip")
        _mac(t.local_mac, where + ".local_mac")
        _integer(t.port, where + ".port", 1, OFPP_MAX)
        _integer(t.pkt_mark, where + ".pkt_mark", 1, 2 ** 32 - 1)
    _unique([t.vni for t in description.tunnels], "tunnel VNI")


def _nets_by_role(interfaces: List[Any], switches: Dict[str, Any]) -> Dict[str, Network]:
    """{switch role: the network of the first interface cabled to a switch of that role}."""
    nets: Dict[str, Network] = {}
    for intf in interfaces:
        nets.setdefault(switches[intf.switch].role,
                        ipaddress.ip_interface("%s/%d" % (intf.ip, intf.prefixlen)).network)
    return nets


def _check_host(host: Any, where: str, switches: Dict[str, Any]) -> None:
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


def validate(mode: str, clients: int, webs: int, remote_webs: int = 0, director: str = SDN) -> None:
    if mode not in MODES:
        raise ConfigError("unknown forwarding mode %r: choose one of %s" % (mode, ", ".join(MODES)))
    if director not in DIRECTORS:
        raise ConfigError("unknown director %r: choose one of %s" % (director, ", ".join(DIRECTORS)))
    if director == HAPROXY and (mode != "nat" or remote_webs):
        raise ConfigError("the haproxy director is a full proxy on the proxies' LAN (both addresses "
                          "rewritten, as in NAT): it takes --mode nat and no --remote-webs")
    for what, value, low, top in (("clients", clients, 1, MAX_CLIENTS), ("webs", webs, 1, MAX_WEBS),
                                  ("remote-webs", remote_webs, 0, MAX_REMOTE_WEBS)):
        if not is_integer(value, low, top):
            raise ConfigError("--%s must be an integer from %d to %d, got %r" % (what, low, top, value))
    if remote_webs and mode == "dr":
        raise ConfigError("DR cannot reach remote real servers: it rewrites only the MAC, so every "
                          "real server must share the proxies' L2 segment (s_lan), but --remote-webs "
                          "puts real servers on %s behind r0; use --mode tun, which tunnels across "
                          "the L3 hop" % REMOTE_NET)
    if remote_webs and mode == "nat":
        raise ConfigError("NAT cannot reach remote real servers: their replies must return through "
                          "the proxy, but servers on %s route through r0; use --mode tun" % REMOTE_NET)
