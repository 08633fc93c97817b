"""The cluster description: the one source of truth for names, addresses, roles, ports and DPIDs.

Pure data, no Mininet or Ryu import: the topology builds from it, the controller reads it as JSON
(written by the harness into the run directory), tests and tools read it too.

The model only: the plan of addresses is core/addressing.py, the rules core/validation.py, and
core/builder.py's describe() makes one.
"""
import dataclasses
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from core.addressing import PROXY_NAMES, SDN
from core.ipvsadm import RealServerEntry, ServiceKey, VirtualService
from core.rules import ConfigError
from core.validation import check_description


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
    def ip(self) -> str:
        return self.interfaces[0].ip

    @property
    def service_interface(self) -> Interface:
        """The interface a real server serves on (and a host's first)."""
        return self.interfaces[0]

    def interface_on(self, switch: Optional[str]) -> Optional[Interface]:
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
    services: Tuple[VirtualService, ...] = ()   # as started; the controller's state has them as they are now

    @property
    def methods(self) -> Set[str]:
        """The forwarding methods the services use."""
        return {entry.method for service in self.services for entry in service.real_servers}

    @property
    def vips(self) -> List[str]:
        """Every VIP: the cluster's own (--vip) first, then the services' others."""
        return list(dict.fromkeys([self.vip] + [s.key.vip for s in self.services]))

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError("no host named %r in the cluster" % name)

    def switch(self, name: str) -> Switch:
        for switch in self.switches:
            if switch.name == name:
                return switch
        raise KeyError("no switch named %r in the cluster" % name)

    def switch_by_dpid(self, dpid: int) -> Optional[Switch]:
        return next((s for s in self.switches if s.dpid == dpid), None)

    def tunnel(self, proxy: str) -> TunnelEndpoint:
        return next(t for t in self.tunnels if t.proxy == proxy)

    def conntrack_zone(self, proxy: str) -> int:
        """The proxy's own zone of the connection tracker (all bridges of one ovs-vswitchd
        share one tracker; a zone keeps each proxy's connections its own, as on two machines)."""
        return self.proxies.index(proxy) + 1

    def _edge(self, role: str) -> str:
        """The switch of a role every description has one of (core/validation.py)."""
        return next(s.name for s in self.switches if s.role == role)

    def _switch_with_role(self, role: str) -> Optional[str]:
        return next((s.name for s in self.switches if s.role == role), None)

    @property
    def public_edge(self) -> str:
        """The public side's switch: clients, r0's outer side, the proxies' uplinks."""
        return self._edge("public")

    @property
    def lan_edge(self) -> str:
        """The real servers' LAN switch: web hosts, r0's inner side, the proxies' downlinks."""
        return self._edge("lan")

    @property
    def db_edge(self) -> Optional[str]:
        return self._switch_with_role("db")

    @property
    def remote_edge(self) -> Optional[str]:
        """The remote real servers' switch, one L3 hop behind r0 (None without remote servers)."""
        return self._switch_with_role("remote")

    @property
    def proxy_edges(self) -> Tuple[str, str]:
        """The edge switches that the proxies join (and from which they are probed)."""
        return (self.public_edge, self.lan_edge)

    @property
    def management_interface(self) -> Interface:
        """The controller's interface on the real servers' LAN (its health checks leave by it)."""
        return self.hosts_with_role("management")[0].interfaces[0]

    @property
    def management_ip(self) -> str:
        return self.management_interface.ip

    def real_servers_on(self, switch: str) -> List[Host]:
        """The real servers whose service interface is cabled to `switch`."""
        return [w for w in self.real_servers if w.service_interface.switch == switch]

    @property
    def router(self) -> Host:
        """r0, between the public side and the LAN (and the remote net)."""
        return self.hosts_with_role("router")[0]

    def proxy_uplink(self, proxy: str) -> int:
        """The proxy's own port towards s_pub: what it sends towards clients leaves here."""
        return next(p for p, peer in self.trunk_ports(proxy).items() if peer == self.public_edge)

    def proxy_downlink(self, proxy: str) -> int:
        """The proxy's own port towards s_lan: real servers, and the NAT gateway's side."""
        return next(p for p, peer in self.trunk_ports(proxy).items() if peer == self.lan_edge)

    def proxy_port(self, edge_switch: str, proxy: str) -> int:
        """The port of an edge switch (s_pub, s_lan) that leads to a proxy."""
        return next(p for p, peer in self.trunk_ports(edge_switch).items() if peer == proxy)

    def proxy_cable_ends(self, proxy: str) -> List[Tuple[str, int, str]]:
        """Both ends of a proxy's cables to the edge switches, each (switch, port, the switch at
        the other end): the proxy's own ends first."""
        own = [(proxy, port, peer) for port, peer in sorted(self.trunk_ports(proxy).items())]
        return own + [(edge, self.proxy_port(edge, proxy), proxy) for edge in self.proxy_edges]

    def hosts_with_role(self, role: str) -> List[Host]:
        return [h for h in self.hosts if h.role == role]

    @property
    def real_servers(self) -> List[Host]:
        return self.hosts_with_role("web")

    @property
    def node_names(self) -> List[str]:
        return [s.name for s in self.switches] + [h.name for h in self.hosts]

    def host_ports(self, switch: Optional[str]) -> Dict[int, Interface]:
        """{port: Interface} of the hosts cabled to an edge switch."""
        return {i.port: i for h in self.hosts for i in h.interfaces if i.switch == switch}

    def trunk_ports(self, switch: Optional[str]) -> Dict[int, str]:
        """{port: peer switch name} of a switch's switch-to-switch cables."""
        ports = {}
        for t in self.trunks:
            if t.switch_a == switch:
                ports[t.port_a] = t.switch_b
            if t.switch_b == switch:
                ports[t.port_b] = t.switch_a
        return ports

    def to_json(self, compact: bool = False) -> str:
        return json.dumps(asdict(self), separators=(",", ":")) if compact else json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: object) -> "ClusterDescription":
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
            proxies=tuple(_list(fields, "proxies", "description") if "proxies" in fields else PROXY_NAMES),
            services=tuple(service_from_dict(s, "services[%d]" % i)
                           for i, s in enumerate(_list(fields, "services", "description") if "services" in fields
                                                 else []))))
        check_description(description)
        return description

    @classmethod
    def load(cls, path: str) -> "ClusterDescription":
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


def _fields(cls: type, data: object, where: str) -> Dict[str, Any]:
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


def service_from_dict(data: object, where: str) -> VirtualService:
    """A virtual service from its JSON form (the dataclasses' own fields)."""
    service = _fields(VirtualService, data, where)
    sorry = service.get("sorry_server")
    return VirtualService(**dict(
        service, key=ServiceKey(**_fields(ServiceKey, service["key"], where + ".key")),
        sorry_server=None if sorry is None else RealServerEntry(**_fields(RealServerEntry, sorry,
                                                                          where + ".sorry_server")),
        inhibit_on_failure=tuple(_list(service, "inhibit_on_failure", where) if "inhibit_on_failure" in service
                                 else ()),
        real_servers=tuple(RealServerEntry(**_fields(RealServerEntry, r, "%s.real_servers[%d]" % (where, j)))
                           for j, r in enumerate(_list(service, "real_servers", where) if "real_servers" in service
                                                 else []))))


def _list(fields: Dict[str, Any], name: str, where: str) -> list:
    """A list field (a tuple too: a snapshot may hold the dataclasses' own form)."""
    value = fields[name]
    if not isinstance(value, (list, tuple)):
        raise ConfigError("%s.%s must be a list, got %r" % (where, name, value))
    return list(value)
