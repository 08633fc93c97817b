"""The flow specifications: pure data (flows, their actions, groups) that the Ryu adapter
(controller/openflow.py) encodes and unit tests read without a switch, and the balancer's view
that the pipeline is computed from."""
import zlib
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Set, Tuple

from controller.pipeline import COOKIE_L2, NEW_FLOW_IDLE
from core.description import ClusterDescription
from core.ipvsadm import RealServerEntry, ServiceKey, VirtualService


@dataclass(frozen=True)
class Output:
    port: int


@dataclass(frozen=True)
class SetField:
    field: str
    value: object


@dataclass(frozen=True)
class Move:
    """Copy the low n_bits of one field into the low bits of another (Nicira reg_move)."""
    src: str
    dst: str
    n_bits: int


@dataclass(frozen=True)
class Resubmit:
    table_id: int


@dataclass(frozen=True)
class Conntrack:
    """Pass the packet through the connection tracker's `zone` (Nicira ct): with `commit`, keep
    the connection, with `mark` as its ct_mark; with `table`, continue there after the lookup
    (ct_state and ct_mark then known), else go on with the next action."""
    zone: int
    commit: bool = False
    table: Optional[int] = None
    mark: Optional[int] = None


@dataclass(frozen=True)
class Group:
    group_id: int


@dataclass(frozen=True)
class SourceHash:
    """A hash of the packet's IPv4 source address alone, modulo `slots`, into register `dst`
    (Open vSwitch's multipath action on nw_src: the datapath keeps one megaflow per source)."""
    dst: str
    slots: int


@dataclass(frozen=True)
class LearnAffinity:
    """Learn into `table_id`, idle for at most `idle_timeout` s, a persistence entry: packets of
    service `index` from this packet's source address under a /`prefixlen` mask load this
    packet's reg1 (its real server) into reg1."""
    table_id: int
    index: int
    prefixlen: int
    idle_timeout: int


SELECT, FAST_FAILOVER = "select", "fast_failover"


@dataclass(frozen=True)
class GroupSpec:
    """A select group: Open vSwitch hashes the 5-tuple in the datapath (dp_hash, its default
    for select groups) and, its buckets being of equal weight, hands out the hash values to them
    in order; so bucket i takes the same share of connections on every switch. A bucket that
    watches a port is used only while that port is live (a select group's dead bucket's hash
    values go to the next live buckets); a fast-failover group uses its first live bucket."""
    group_id: int
    buckets: Tuple[Tuple[object, ...], ...]    # each bucket's actions; empty: drop
    kind: str = SELECT
    watch_ports: Tuple[int, ...] = ()          # per bucket, the port it watches; none: always live


@dataclass(frozen=True)
class Meter:
    """Pass through an OpenFlow meter (an instruction, applied before the flow's actions)."""
    meter_id: int


@dataclass(frozen=True)
class LearnSeen:
    """Learn (IP source, destination, protocol) into `table_id`, an entry that sets reg3 = 1."""
    table_id: int
    idle_timeout: int = NEW_FLOW_IDLE


@dataclass(frozen=True)
class FlowSpec:
    priority: int
    match: Tuple[Tuple[str, object], ...]   # OFPMatch field names and values, sorted
    actions: Tuple[object, ...] = ()        # empty: drop
    table_id: int = 0
    cookie: int = COOKIE_L2

    @classmethod
    def make(cls, priority: int, actions: Iterable[object] = (), table_id: int = 0, cookie: int = COOKIE_L2,
             **match: object) -> "FlowSpec":
        return cls(priority=priority, match=tuple(sorted(match.items())), actions=tuple(actions),
                   table_id=table_id, cookie=cookie)

    @property
    def match_dict(self) -> Dict[str, object]:
        return dict(self.match)

    @property
    def key(self) -> Tuple[int, int, Tuple[Tuple[str, object], ...]]:
        """What identifies a flow entry in a switch: table, priority and match."""
        return (self.table_id, self.priority, self.match)

    @property
    def wire_cookie(self) -> int:
        """The cookie the switch holds: the flow's kind, with a fingerprint of its actions in
        the high half, so that a switch's flows read back say whether each is the one wanted
        (a restarted controller then changes nothing that is right)."""
        return self.cookie | zlib.crc32(repr(self.actions).encode()) << 32

    @classmethod
    def from_key(cls, key: Tuple[int, int, Tuple[Tuple[str, object], ...]]) -> "FlowSpec":
        """A spec naming an entry by its key alone (for deleting one read back from a switch)."""
        table_id, priority, match = key
        return cls(priority=priority, match=match, table_id=table_id, cookie=0)


@dataclass(frozen=True)
class ServiceView:
    """One virtual service as the pipeline carries it: its definition, its index (its part of
    its connections' marks and its select group's id), its Maglev lookup table (a web host name
    per slot) and the real servers whose connections stay with them."""
    index: int
    service: VirtualService
    hosts: Tuple[Tuple[str, RealServerEntry], ...]     # (web host, its entry), as the service lists them
    table: Tuple[Optional[str], ...] = ()
    healthy: Tuple[str, ...] = ()
    inhibited: Tuple[str, ...] = ()    # failed, but quiescent (inhibit_on_failure): connections stay

    @property
    def kept(self) -> Tuple[str, ...]:
        """The real servers whose connections (and persistent clients) stay with them."""
        return self.healthy + self.inhibited

    @property
    def key(self) -> ServiceKey:
        return self.service.key


@dataclass(frozen=True)
class BalancerView:
    """What the pipeline needs of the balancer's state."""
    active_proxies: Tuple[str, ...]     # carrying the VIPs; the first also answers ARP for them
    services: Tuple[ServiceView, ...]
    server_ids: Tuple[Tuple[str, int], ...]
    blocked: Tuple[str, ...] = ()       # sources dropped at the public edge
    passive_checks: bool = True         # copy real servers' RSTs and ICMP errors to the controller
    segmentation: bool = True           # hosts may send only what core/segmentation.py allows
    bfd_held: bool = False              # a switch stall holds BFD's verdicts (controller/proxies.py)

    def server_id(self, name: str) -> int:
        return dict(self.server_ids)[name]

    def destination(self, service: ServiceView, web: str) -> int:
        """A real server of a service, as reg1 and ct_mark carry it: the service's index in the
        high byte, the web host's id in the low one."""
        return destination(service.index, self.server_id(web))

    @property
    def vips(self) -> List[str]:
        return list(dict.fromkeys(s.key.vip for s in self.services))

    @property
    def methods(self) -> Set[str]:
        return {entry.method for s in self.services for _, entry in s.hosts}

    @property
    def definitions(self) -> Tuple[VirtualService, ...]:
        return tuple(s.service for s in self.services)


def destination(index: int, server_id: int) -> int:
    return index << 8 | server_id


def server_ids(description: ClusterDescription) -> Tuple[Tuple[str, int], ...]:
    """Stable small integers for real servers (the low byte of reg1 and ct_mark values): 1, 2, ..."""
    return tuple((web.name, i) for i, web in enumerate(description.real_servers, 1))
