"""What a packet meets on its way from a host to a destination, in the pipeline's own words.

Open vSwitch's `ofproto/trace` of each switch the packet crosses, read and named: for every rule
it meets, the switch, the table (controller/pipeline.py's names), the rule's kind (its cookie) and
priority, what it matched (ports, addresses and registers named from the cluster description and
the balancer's view) and what it did; then the output port is followed to the next switch (or
through r0, or out of the VXLAN tunnel) until the packet leaves the network or is dropped.

Pure: `trace()` is handed a function that runs ofproto/trace on one bridge (the REST adapter
passes one that calls ovs-appctl; unit tests pass captured output). A connection's first packet
is traced: the connection tracker's answers are "new", and the datapath's hash (`dp_hash`, which
picks a select group's bucket) is computed here as the userspace datapath computes it, so the
real server named is the one a real connection from that source port reaches.
"""
import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, Union

from controller.pipeline import (COOKIE_LOG, COOKIE_WORDS, EDGE_TABLES, GROUPS, KIND_MASK, METER_NAMES,
                                 PRIORITY_NAMES, PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROXY_TABLES, SYNC_MAC,
                                 service_group)
from controller.servicebook import InvalidRequest
from controller.specs import BalancerView
from core.addressing import VXLAN_UDP_PORT, tunnel_mac
from core.description import ClusterDescription, Host, Interface

PROTOCOLS = {"tcp": PROTO_TCP, "udp": PROTO_UDP, "icmp": PROTO_ICMP}
DEFAULT_SPORT = 40000       # an ephemeral port, as a client's connection would have
MAX_HOPS = 12               # switches and r0 together; the longest path (TUN to a remote server) has 6
Fields = Dict[str, Optional[str]]
Runner = Callable[[str, str], str]     # (bridge, flow) -> ofproto/trace's output
Next = Tuple[str, int, str, Fields]    # (switch, in_port, where the packet came from, the packet)


NOT_SETTLED = ("note: the switches had not confirmed the latest change when this was traced: "
               "it may show the rules from before it")


class TraceUnavailable(Exception):
    """The switches cannot be asked (no ovs-appctl here, or it failed)."""


@dataclass(frozen=True)
class TraceRequest:
    source: str                 # a host's name
    destination: str            # an IPv4 address inside the cluster
    protocol: str = "tcp"
    port: Optional[int] = None  # TCP and UDP only
    sport: Optional[int] = None


def trace_request(description: ClusterDescription, view: BalancerView, source: str, destination: str,
                  protocol: Optional[str] = "tcp", port: Optional[object] = None,
                  sport: Optional[object] = None) -> TraceRequest:
    """A checked request; InvalidRequest naming what is wrong. `destination` may be a host's name.
    The port defaults to the first service's on that VIP (or the cluster's HTTP port), the
    source port to DEFAULT_SPORT."""
    names = {h.name: h for h in description.hosts}
    if source not in names:
        raise InvalidRequest("no host named %r to trace from; the hosts are %s" % (source, ", ".join(sorted(names))))
    if destination in names:
        destination = names[destination].ip
    if destination not in addresses(description, view):
        raise InvalidRequest("%r is outside the cluster: trace to a host (by name or address), a VIP (%s) or the "
                             "NAT gateway %s" % (destination, ", ".join(_vips(description, view)),
                                                 description.nat_gateway))
    if protocol not in PROTOCOLS:
        raise InvalidRequest("protocol %r is not one trace follows: tcp, udp or icmp" % (protocol,))
    if protocol == "icmp":
        if port is not None or sport is not None:
            raise InvalidRequest("icmp has no ports: leave out the port and the source port")
        return TraceRequest(source, destination, protocol)
    port = _port(port, "port") if port is not None else _default_port(description, view, destination, protocol)
    return TraceRequest(source, destination, protocol, port, _port(sport, "source port") if sport is not None
                        else DEFAULT_SPORT)


def _port(value: object, what: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidRequest("the %s must be a number from 1 to 65535, got %r" % (what, value)) from None
    if not 1 <= number <= 65535:
        raise InvalidRequest("the %s must be from 1 to 65535, got %d" % (what, number))
    return number


def _default_port(description: ClusterDescription, view: BalancerView, destination: str, protocol: str) -> int:
    ports = [s.key.port for s in view.services if s.key.vip == destination and s.key.protocol == protocol]
    return ports[0] if ports else description.http_port


def _vips(description: ClusterDescription, view: BalancerView) -> List[str]:
    """The VIPs the services have now (the description's before the controller has any)."""
    return view.vips or description.vips


def protocol_word(fields: Fields) -> str:
    """tcp, udp or icmp: the bare word of a flow as OVS prints it (or a packet here)."""
    return next(word for word in PROTOCOLS if word in fields)


def addresses(description: ClusterDescription, view: BalancerView) -> Dict[str, str]:
    """Every address inside the cluster, with what it is."""
    named = {i.ip: h.name for h in description.hosts for i in h.interfaces}
    named.update({t.local_ip: "%s's tunnel end" % t.proxy for t in description.tunnels})
    named[description.nat_gateway] = "the NAT gateway"
    named.update({vip: "a VIP" for vip in _vips(description, view)})
    return named


def sym_l4_hash(fields: Fields) -> int:
    """The hash the userspace datapath gives a select group's packet (`hash(sym_l4(0))`: Open
    vSwitch's flow_hash_symmetric_l3l4 with basis 0, UDP ports left out, and lib/hash.h's
    Murmur-style mixing): its low 8 bits pick the bucket."""
    protocol = PROTOCOLS[protocol_word(fields)]
    src, dst = (ipaddress.IPv4Address(fields[k]).packed for k in ("nw_src", "nw_dst"))
    value = _hash_add(0, int.from_bytes(bytes(a ^ b for a, b in zip(src, dst)), "little"))
    value = _hash_add(value, protocol)
    if protocol == PROTO_TCP:
        ports = int(fields["tp_src"] or 0) ^ int(fields["tp_dst"] or 0)
        value = _hash_add(value, int.from_bytes(ports.to_bytes(2, "big"), "little"))
    return _hash_finish(value)


def _rotate(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & 0xffffffff


def _hash_add(value: int, data: int) -> int:
    if data:
        data = _rotate(data * 0xcc9e2d51 & 0xffffffff, 15) * 0x1b873593 & 0xffffffff
        value ^= data
    return (_rotate(value, 13) * 5 + 0xe6546b64) & 0xffffffff


def _hash_finish(value: int) -> int:
    value ^= value >> 16
    value = value * 0x85ebca6b & 0xffffffff
    value ^= value >> 13
    value = value * 0xc2b2ae35 & 0xffffffff
    return value ^ value >> 16


# ofproto/trace's output, read.

@dataclass
class Rule:
    """One rule a packet met, as ofproto/trace prints it: its actions in order (a group's chosen
    bucket's too), with the trace's own notes ("-> ...") among them."""
    bridge: str
    table: int
    match: str
    priority: Optional[int]     # None: no rule matched in the table
    cookie: int
    actions: List[str]
    final: Fields               # the packet as the rule's pass through the pipeline left it
    outer: Optional[Fields] = None   # after a tunnel's encapsulation: the outer packet


RULE = re.compile(r"^\s*(\d+)\. (?:(\S*), )?priority (\d+), cookie (0x[0-9a-f]+)$")
NO_MATCH = re.compile(r"^\s*(\d+)\. No match")
TUNNELING = re.compile(r"^-> tunneling from (\S+) (\S+) to (\S+) (\S+)$")


def fields(text: str) -> Fields:
    """A flow or match as OVS prints it: {field: value}, bare words (tcp, eth) with None."""
    parsed: Fields = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        parsed[name] = value if _ else None
    return parsed


def parse_trace(text: str) -> List[Rule]:
    """The rules of one ofproto/trace, in the order the packet met them (recirculations
    included), each with the packet as its pass left it."""
    rules: List[Rule] = []
    bridge, reading = "", False
    passing: List[Rule] = []        # the rules of the pass being read
    flow: Fields = {}
    outer: Optional[Fields] = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Flow: "):
            flow, passing, outer = fields(stripped[len("Flow: "):]), [], None
        elif stripped.startswith('bridge("'):
            bridge, reading = stripped[len('bridge("'):-2], True
        elif stripped.startswith("Final flow: "):
            final = flow if stripped.endswith("unchanged") else fields(stripped[len("Final flow: "):])
            for rule in passing:
                rule.final = final
            reading = False
        elif not reading or not stripped or stripped.startswith(("---", "thaw", "Resuming")):
            continue
        elif RULE.match(line) or NO_MATCH.match(line):
            rule = _rule(line, bridge, flow, outer)
            rules.append(rule)
            passing.append(rule)
        elif rules:
            rules[-1].actions.append(stripped)
            tunnel = TUNNELING.match(stripped)
            if tunnel:
                outer = _outer_packet(*tunnel.groups())
    return rules


def _rule(line: str, bridge: str, flow: Fields, outer: Optional[Fields]) -> Rule:
    matched = RULE.match(line)
    if matched:
        table, match, priority, cookie = matched.groups()
        return Rule(bridge, int(table), match or "", int(priority), int(cookie, 16), [], flow, outer)
    missed = NO_MATCH.match(line)
    assert missed is not None
    return Rule(bridge, int(missed.group(1)), "", None, 0, [], flow, outer)


def _outer_packet(src_mac: str, src_ip: str, dst_mac: str, dst_ip: str) -> Fields:
    """The VXLAN packet a tunnel's encapsulation makes (OVS picks the UDP source port by hash)."""
    return {"udp": None, "dl_src": src_mac, "dl_dst": dst_mac, "nw_src": src_ip, "nw_dst": dst_ip, "nw_ttl": "64",
            "tp_src": str(VXLAN_UDP_PORT), "tp_dst": str(VXLAN_UDP_PORT)}


# Following the packet from switch to switch.

PACKET_FIELDS = ("dl_src", "dl_dst", "nw_src", "nw_dst", "nw_ttl", "tp_src", "tp_dst", "tcp_flags", "icmp_type",
                 "icmp_code")


def flow_text(in_port: int, packet: Fields) -> str:
    """The flow ofproto/trace is given: the packet's headers on `in_port`, with the datapath's
    hash of it."""
    word = protocol_word(packet)
    headers = ["%s=%s" % (_field_name(k, word), packet[k]) for k in PACKET_FIELDS if packet.get(k)]
    parts = ["in_port=%d" % in_port, word] + headers
    return ",".join(parts + ["dp_hash=%#x" % sym_l4_hash(packet)])


def _field_name(name: str, protocol: str) -> str:
    """OVS prints every L4 port as tp_src/tp_dst, but parses those as TCP's only."""
    return name.replace("tp_", protocol + "_") if name.startswith("tp_") else name


def first_packet(description: ClusterDescription, view: BalancerView,
                 request: TraceRequest) -> Tuple[Interface, Fields]:
    """The interface the source sends from, and the packet: to the destination's MAC on its own
    subnet, else to its gateway's."""
    host = description.host(request.source)
    interface = _interface_towards(host, request.destination) or host.interfaces[0]
    next_hop = request.destination if _on_subnet(interface, request.destination) else host.gateway
    packet: Fields = {request.protocol: None, "dl_src": interface.mac,
                      "dl_dst": mac_of(description, view, next_hop or request.destination),
                      "nw_src": interface.ip, "nw_dst": request.destination, "nw_ttl": "64"}
    if request.protocol == "icmp":
        packet.update(icmp_type="8", icmp_code="0")
    else:
        packet.update(tp_src=str(request.sport), tp_dst=str(request.port))
        if request.protocol == "tcp":
            packet["tcp_flags"] = "syn"
    return interface, packet


def _on_subnet(interface: Interface, address: str) -> bool:
    network = ipaddress.ip_interface("%s/%d" % (interface.ip, interface.prefixlen)).network
    return ipaddress.ip_address(address) in network


def _interface_towards(host: Host, address: str) -> Optional[Interface]:
    return next((i for i in host.interfaces if _on_subnet(i, address)), None)


def mac_of(description: ClusterDescription, view: BalancerView, address: str) -> str:
    """The MAC that answers ARP for an address: a VIP's, the NAT gateway's or a host's."""
    if address in _vips(description, view):
        return description.vip_mac
    if address == description.nat_gateway:
        return description.gateway_mac
    return next(i.mac for h in description.hosts for i in h.interfaces if i.ip == address)


@dataclass
class Hop:
    switch: str
    in_port: int
    came_from: str
    packet: Fields
    rules: List[Rule]


def trace(description: ClusterDescription, view: BalancerView, request: TraceRequest, run: Runner) -> dict:
    """The packet's whole way, explained: {"lines": [...], "hops": [...], "proxy", "real_server",
    "method", "reached", "dropped"}."""
    interface, packet = first_packet(description, view, request)
    names = Names(description, view)
    hops: List[Hop] = []
    todo: List[Next] = [(interface.switch, interface.port, request.source, packet)]
    reached: List[str] = []
    while todo and len(hops) < MAX_HOPS:
        switch, port, came_from, packet = todo.pop(0)
        hop = Hop(switch, port, came_from, packet, parse_trace(run(switch, flow_text(port, packet))))
        hops.append(hop)
        for out_port, leaving in outputs(description, hop):
            nxt = names.beyond(switch, out_port, leaving)
            if nxt is None:
                continue
            if isinstance(nxt, str):
                reached.append(nxt)
            else:
                todo.append(nxt)
    return Explanation(names, request, hops, reached).result()


def outputs(description: ClusterDescription, hop: Hop) -> List[Tuple[int, Fields]]:
    """The ports the packet leaves this switch by (copies to the controller and the proxies'
    SYN copies aside), each with the packet as it leaves: the outer packet after a tunnel."""
    tunnel_ports = {t.port for t in description.tunnels if t.proxy == hop.switch}
    found = []
    for rule in hop.rules:
        for action in rule.actions:
            if action.startswith("output:"):
                port = int(action[len("output:"):])
                if port not in tunnel_ports:
                    found.append((port, rule.outer or rule.final))
    return found


class Names:
    """What the trace's numbers are in the cluster's words: ports, MACs, addresses, registers."""

    def __init__(self, description: ClusterDescription, view: BalancerView):
        self.description, self.view = description, view
        self.addresses = addresses(description, view)
        self.macs = {i.mac: h.name for h in description.hosts for i in h.interfaces}
        self.macs.update({tunnel_mac(w.ip): "%s's VXLAN device" % w.name for w in description.real_servers})
        self.macs.update({description.vip_mac: "the VIPs' MAC", description.gateway_mac: "the NAT gateway's MAC",
                          SYNC_MAC: "the other proxy (connection sync)"})
        self.servers = {view.destination(s, web): (s, web, entry) for s in view.services for web, entry in s.hosts}

    def port(self, switch: str, port: int) -> str:
        peer = self.description.trunk_ports(switch).get(port)
        if peer:
            return peer
        host = self.host_at(switch, port)
        if host:
            return host.name
        tunnel = next((t for t in self.description.tunnels if t.proxy == switch and t.port == port), None)
        return "the VXLAN tunnel (VNI %d)" % tunnel.vni if tunnel else "port %d" % port

    def host_at(self, switch: str, port: int) -> Optional[Host]:
        """The host cabled to a switch's port."""
        interface = self.description.host_ports(switch).get(port)
        return next((h for h in self.description.hosts if interface in h.interfaces), None)

    def destination(self, value: str) -> str:
        """A reg1 or ct_mark value: a real server of a service."""
        found = self.servers.get(int(value.split("/")[0], 0))
        if not found:
            return value
        service, web, entry = found
        return "%s (%s:%d) of %s" % (web, entry.address, entry.port, service.key)

    def service(self, value: str) -> str:
        index = int(value, 0)
        return next((str(s.key) for s in self.view.services if s.index == index), value)

    def value(self, name: str, value: str, switch: str) -> str:
        if name == "in_port":
            return "%s (from %s)" % (value, self.port(switch, int(value)) if value.isdigit() else "the switch itself")
        if name in ("dl_src", "dl_dst", "eth_src", "eth_dst"):
            return "%s (%s)" % (value, self.macs[value]) if value in self.macs else value
        if name in ("nw_src", "nw_dst", "ip_src", "ip_dst", "tun_dst"):
            return "%s (%s)" % (value, self.addresses[value]) if value in self.addresses else value
        if name in ("reg1", "ct_mark"):
            return "%s (%s)" % (value, self.destination(value))
        if name == "reg2":
            return "%s (service %s)" % (value, self.service(value))
        return value

    def beyond(self, switch: str, port: int, packet: Fields) -> Union[None, str, Next]:
        """Where a packet leaving `switch` by `port` goes next: (switch, in_port, came_from,
        packet) for another switch, a host's name where it leaves the network, or None."""
        d = self.description
        for t in d.trunks:
            for here, out, there, into in ((t.switch_a, t.port_a, t.switch_b, t.port_b),
                                           (t.switch_b, t.port_b, t.switch_a, t.port_a)):
                if (here, out) == (switch, port):
                    return (there, into, switch, packet)
        host = self.host_at(switch, port)
        if host is None:
            return None
        if host.role == "router" and packet.get("nw_dst") not in [i.ip for i in host.interfaces]:
            return self._routed(host, packet)
        return host.name

    def _routed(self, router: Host, packet: Fields) -> Union[str, Next]:
        """r0 forwards: out of its interface on the destination's subnet, to its MAC."""
        address = packet.get("nw_dst") or ""
        interface = _interface_towards(router, address)
        if interface is None or address not in self.addresses:
            return router.name
        routed = dict(packet, dl_src=interface.mac, dl_dst=mac_of(self.description, self.view, address),
                      nw_ttl=str(int(packet.get("nw_ttl") or 64) - 1))
        return (interface.switch, interface.port, router.name, routed)


class Explanation:
    """The hops in words, and what they come to."""

    def __init__(self, names: Names, request: TraceRequest, hops: List[Hop], reached: List[str]):
        self.names, self.request, self.hops, self.reached = names, request, hops, reached
        self.proxy: Optional[str] = None
        self.real_server: Optional[Tuple[str, str]] = None   # (web host, method)

    def result(self) -> dict:
        r = self.request
        target = "%s:%d" % (r.destination, r.port) if r.port else r.destination
        sport = ", source port %d" % r.sport if r.sport else ""
        lines = ["trace %s from %s (%s) to %s%s" % (r.protocol, r.source, self.hops[0].packet["nw_src"], target, sport)]
        hops = []
        steps: List[dict] = []
        for hop in self.hops:
            lines.append("%s, in by port %d from %s" % (hop.switch, hop.in_port, hop.came_from))
            steps = [self.step(hop, rule) for rule in hop.rules]
            for step in steps:
                lines.append("  %s" % step["rule"])
                lines += ["      %s" % said for said in step["does"]]
            hops.append({"switch": hop.switch, "in_port": hop.in_port, "from": hop.came_from, "packet": hop.packet,
                         "rules": steps})
        dropped = self.dropped(steps)       # the last switch's
        lines.append(self.verdict(dropped))
        web, method = self.real_server or (None, None)
        return {"lines": lines, "hops": hops, "proxy": self.proxy, "real_server": web, "method": method,
                "reached": self.reached[0] if self.reached else None, "dropped": dropped}

    def tables(self, switch: str) -> Dict[int, str]:
        role = self.names.description.switch(switch).role
        return {n: name for name, n in (PROXY_TABLES if role == "proxy" else EDGE_TABLES)}

    def step(self, hop: Hop, rule: Rule) -> dict:
        table = "table %d %s" % (rule.table, self.tables(hop.switch).get(rule.table, "?"))
        if rule.priority is None:
            return {"table": rule.table, "rule": "%s: no rule matched" % table, "kind": None,
                    "does": ["dropped" if rule is hop.rules[-1] else "nothing done here"]}
        kind, meaning = COOKIE_WORDS.get(rule.cookie & KIND_MASK, ("?", "unknown"))
        match = " ".join(self._match(rule.match, hop.switch)) or "everything"
        header = "%s: %s rule (%s), priority %d (%s), matched %s" % (
            table, kind, meaning, rule.priority, PRIORITY_NAMES.get(rule.priority, "?"), match)
        return {"table": rule.table, "rule": header, "kind": kind, "priority": rule.priority,
                "cookie": "%#x" % rule.cookie, "does": self._does(hop, rule)}

    def _match(self, match: str, switch: str) -> List[str]:
        return [name if value is None else "%s=%s" % (name, self.names.value(name, value, switch))
                for name, value in fields(match).items() if name]

    def _does(self, hop: Hop, rule: Rule) -> List[str]:
        said = []
        for action in rule.actions:
            words = self._action(hop, rule, action)
            if words:
                said.append(words)
        return said or ["dropped"]

    def _action(self, hop: Hop, rule: Rule, action: str) -> Optional[str]:
        names = self.names
        if action.startswith("resubmit(,"):
            table = int(action[len("resubmit(,"):-1])
            return "on to table %d %s" % (table, self.tables(hop.switch).get(table, "?"))
        if action.startswith("output:"):
            port = int(action[len("output:"):])
            return "out by port %d to %s" % (port, names.port(hop.switch, port))
        if action == "IN_PORT":
            return "back out by its in port (a SYN copy to the other proxy: connection sync)"
        if action.startswith("group:"):
            return self._group(int(action[len("group:"):]))
        if action.startswith("-> using bucket") or action == "-> no live bucket":
            return "  " + action[3:]
        if action.startswith("set_field:"):
            return self._set_field(hop, *action[len("set_field:"):].split("->"))
        if action.startswith("ct("):
            return self._conntrack(hop, action)
        if action.startswith("meter:"):
            meter = int(action[len("meter:"):])
            return "through meter %d (%s)" % (meter, METER_NAMES.get(meter, "?"))
        if action.startswith("CONTROLLER"):
            return "a copy to the controller"
        if action.startswith("learn("):
            if self.names.description.switch(hop.switch).role == "proxy":
                return "learns the client's persistence entry"
            return "learns that this flow was seen (the log copies its first packet only)"
        if action.startswith("multipath("):
            return "hashes the client's address to a slot"
        if action == "drop":
            return "dropped" if rule is hop.rules[-1] else None
        if action.startswith("-> tunneling from"):
            return "encapsulated in VXLAN: " + action[len("-> tunneling "):]
        return None

    def _group(self, group: int) -> str:
        named = dict((number, name) for name, number in GROUPS)
        if group in named:
            return "group %d (%s): %s" % (group, named[group], "the first live proxy" if named[group] == "failover"
                                          else "spread over the live proxies by hash")
        service = next((s for s in self.names.view.services if service_group(s.index) == group), None)
        return "group %d (select: the real servers of %s by its scheduler's slots)" % (
            group, service.key if service else "?")

    def _set_field(self, hop: Hop, value: str, field: str) -> Optional[str]:
        if field == "reg1":
            found = self.names.servers.get(int(value, 0))
            if found and self.names.description.switch(hop.switch).role == "proxy":
                self.proxy = hop.switch
                self.real_server = (found[1], found[2].method)
            return "real server: %s" % self.names.destination(value)
        if field == "reg2":
            return "the service: %s" % self.names.service(value)
        if field in ("ct_mark", "pkt_mark", "reg3"):
            return None
        return "%s set to %s" % (field, self.names.value(field, value, hop.switch))

    def _conntrack(self, hop: Hop, action: str) -> str:
        zone = re.search(r"zone=(\d+)", action)
        table = re.search(r"table=(\d+)", action)
        where = "zone %s" % zone.group(1) if zone else "its zone"
        then = ""
        if table:
            then = " then table %s %s" % (table.group(1), self.tables(hop.switch).get(int(table.group(1)), "?"))
        if "commit" in action:
            return "committed to the connection tracker (%s)%s" % (where, then)
        return "looked up in the connection tracker (%s): a new connection%s" % (where, then)

    def dropped(self, steps: List[dict]) -> Optional[dict]:
        """Where the packet ends if it reaches nothing, from the last switch's `steps` (its
        rules, explained): the rule that decided."""
        if self.reached or not steps:
            return None
        hop = self.hops[-1]
        if outputs(self.names.description, hop):
            return None
        # The connection log's tables only copy: the rule that decided is the last before them.
        step = next((step for rule, step in zip(reversed(hop.rules), reversed(steps))
                     if rule.cookie & KIND_MASK != COOKIE_LOG), steps[-1])
        return {"switch": hop.switch, "table": step["table"], "rule": step["rule"], "kind": step["kind"]}

    def verdict(self, dropped: Optional[dict]) -> str:
        via = ""
        if self.real_server:
            via = " by %s, real server %s (%s)" % (self.proxy, self.real_server[0], self.real_server[1].upper())
        if dropped:
            return "verdict: dropped at %s, %s" % (dropped["switch"], dropped["rule"])
        if self.reached:
            return "verdict: reaches %s%s" % (", ".join(self.reached), via)
        return "verdict: the trace stopped after %d switches" % len(self.hops)
