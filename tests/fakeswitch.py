"""A pipeline simulator for unit tests, after FAUCET's clib/fakeoftable.py: given one switch's
FlowSpecs and GroupSpecs (controller/specs.py) and a packet, what the switch does with it.

A packet is a dict of OpenFlow match fields (`in_port`, `eth_dst`, `ipv4_src`, `tcp_flags`...);
registers and `ct_mark` read 0 until set. `FakeSwitch.send(packet)` follows the tables from 0:
the highest-priority matching flow's actions run in order; `Resubmit` runs another table and
comes back; `Group` runs one bucket on a copy, as a group does: a select group's bucket chosen by
the switch's `hash_of` (as Open vSwitch's dp_hash hands hash value i to bucket i, and a dead
bucket's values to the next live one), a fast-failover group's first live bucket (a bucket is
dead while the port it watches is in the switch's `dead_ports`, or, watching CONTROLLER, while
the switch has no controller); `SourceHash` puts a hash of the source address in a register; `LearnAffinity` learns (and
replaces) a persistence entry, as learn does;
`Conntrack` looks the 5-tuple up in
a `Tracker` (shared by the switches of one test, as all bridges of one ovs-vswitchd share one)
and, with `commit`, keeps the connection with its mark; with a `table` the copy continues there.
The result lists each output (port, the packet as it left), the copies to the controller, and
what was learned. No wire format here: tests/unit/test_openflow_encoding.py checks that.
"""
import copy
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from controller.pipeline import CONTROLLER, IN_PORT, PRI_MATCH
from controller.specs import (FAST_FAILOVER, Conntrack, FlowSpec, Group, LearnAffinity, LearnSeen, Meter, Move, Output,
                              Resubmit, SetField, SourceHash)
from controller.sync import AddFlow, AddGroup, AddMeter, Barrier, DeleteFlow, DeleteGroup, Read

DEFAULT_ZERO = ("reg0", "reg1", "reg2", "reg3", "ct_mark")
MAX_DEPTH = 64          # as Open vSwitch bounds resubmits


MAC_FIELDS = {"eth_src", "eth_dst", "arp_sha", "arp_tha"}
IP_FIELDS = {"ipv4_src", "ipv4_dst", "arp_spa", "arp_tpa"}


def to_int(name, value):
    if name in MAC_FIELDS:
        return int(value.replace(":", ""), 16)
    if name in IP_FIELDS:
        return int.from_bytes(bytes(int(x) for x in value.split(".")), "big")
    return value


def from_int(name, value):
    if name in MAC_FIELDS:
        raw = "%012x" % value
        return ":".join(raw[i:i + 2] for i in range(0, 12, 2))
    if name in IP_FIELDS:
        return ".".join(str(b) for b in value.to_bytes(4, "big"))
    return value


def _mask(prefixlen):
    return (0xffffffff << (32 - prefixlen)) & 0xffffffff


def field_matches(packet, name, wanted):
    have = packet.get(name, 0 if name in DEFAULT_ZERO else None)
    if have is None:
        return False
    if isinstance(wanted, tuple):       # (value, mask)
        value, mask = (to_int(name, v) for v in wanted)
        return to_int(name, have) & mask == value & mask
    return have == wanted


def matches(flow, packet):
    return all(field_matches(packet, name, value) for name, value in flow.match)


@dataclass
class Tracker:
    """The connection tracker: (zone, 5-tuple) -> mark."""
    connections: Dict[Tuple, int] = field(default_factory=dict)

    @staticmethod
    def key(zone, packet):
        return (zone, packet.get("ipv4_src"), packet.get("ipv4_dst"), packet.get("ip_proto"),
                packet.get("tcp_src", packet.get("udp_src")), packet.get("tcp_dst", packet.get("udp_dst")))

    def marks(self, zone):
        return {k[1:]: mark for k, mark in self.connections.items() if k[0] == zone}


@dataclass
class Result:
    outputs: List[Tuple[int, dict]] = field(default_factory=list)
    to_controller: List[dict] = field(default_factory=list)
    learned: List[FlowSpec] = field(default_factory=list)
    metered: List[int] = field(default_factory=list)

    @property
    def ports(self):
        return [port for port, _ in self.outputs]

    def only_output(self):
        assert len(self.outputs) == 1, "expected one output, got %s" % (self.outputs,)
        return self.outputs[0]


class FakeSwitch:
    def __init__(self, flows, groups=(), tracker=None, hash_of=lambda packet: 0, dead_ports=(), controller=True):
        self.flows = list(flows)
        self.groups = {g.group_id: g for g in groups}
        self.tracker = tracker if tracker is not None else Tracker()
        self.hash_of = hash_of
        self.dead_ports = set(dead_ports) | (set() if controller else {CONTROLLER})

    def _bucket(self, group, packet):
        """The bucket a group runs for a packet, or None if none is live."""
        watched = group.watch_ports or (None,) * len(group.buckets)
        live = [port not in self.dead_ports for port in watched]
        first = 0 if group.kind == FAST_FAILOVER else self.hash_of(packet) % len(group.buckets)
        order = [(first + i) % len(group.buckets) for i in range(len(group.buckets))]
        return next((group.buckets[i] for i in order if live[i]), None)

    def send(self, packet):
        result = Result()
        self._table(0, dict(packet), result, 0)
        return result

    def _table(self, table_id, packet, result, depth):
        assert depth < MAX_DEPTH, "resubmit loop"
        candidates = [f for f in self.flows if f.table_id == table_id and matches(f, packet)]
        if candidates:
            flow = max(candidates, key=lambda f: f.priority)
            self._actions(flow.actions, packet, result, depth + 1)
        return packet

    def _actions(self, actions, packet, result, depth):
        for action in actions:
            self._action(action, packet, result, depth)

    def _action(self, action, packet, result, depth):
        if isinstance(action, Output):
            if action.port == CONTROLLER:
                result.to_controller.append(dict(packet))
            else:
                port = packet["in_port"] if action.port == IN_PORT else action.port
                result.outputs.append((port, dict(packet)))
        elif isinstance(action, SetField):
            packet[action.field] = action.value
        elif isinstance(action, Move):
            mask = (1 << action.n_bits) - 1
            src = to_int(action.src, packet[action.src])
            dst = to_int(action.dst, packet.get(action.dst, from_int(action.dst, 0)))
            packet[action.dst] = from_int(action.dst, dst & ~mask | src & mask)
        elif isinstance(action, Resubmit):
            self._table(action.table_id, packet, result, depth)
        elif isinstance(action, Group):
            bucket = self._bucket(self.groups[action.group_id], packet)
            if bucket is not None:
                self._actions(bucket, copy.deepcopy(packet), result, depth)
        elif isinstance(action, Conntrack):
            self._conntrack(action, packet, result, depth)
        elif isinstance(action, Meter):
            result.metered.append(action.meter_id)
        elif isinstance(action, SourceHash):
            packet[action.dst] = zlib.crc32(packet["ipv4_src"].encode()) % action.slots
        elif isinstance(action, LearnAffinity):
            self._learn(FlowSpec.make(PRI_MATCH, [SetField("reg1", packet.get("reg1", 0))], table_id=action.table_id,
                                      eth_type=0x0800, reg2=action.index,
                                      ipv4_src=(packet["ipv4_src"], from_int("ipv4_src", _mask(action.prefixlen)))),
                        result)
        elif isinstance(action, LearnSeen):
            learned = FlowSpec.make(100, [SetField("reg3", 1)], table_id=action.table_id, eth_type=0x0800,
                                    ipv4_src=packet["ipv4_src"], ipv4_dst=packet["ipv4_dst"],
                                    ip_proto=packet["ip_proto"])
            self.flows.append(learned)
            result.learned.append(learned)
        else:
            raise TypeError("the simulator does not know %r" % (action,))

    def _learn(self, learned, result):
        """As learn does: a flow of the same table, priority and match is replaced."""
        self.flows = [f for f in self.flows if f.key != learned.key] + [learned]
        result.learned.append(learned)

    def _conntrack(self, action, packet, result, depth):
        key = Tracker.key(action.zone, packet)
        tracked = dict(packet)
        if action.commit:
            mark = action.mark if action.mark is not None else self.tracker.connections.get(key, 0)
            self.tracker.connections[key] = mark
        tracked["ct_mark"] = self.tracker.connections.get(key, 0)
        if action.table is not None:        # the datapath recirculates a copy into that table
            self._table(action.table, tracked, result, depth)
        else:
            packet["ct_mark"] = tracked["ct_mark"]


class FakeChannel:
    """A switch's end of the OpenFlow channel, as the sync engine (controller/sync.py) writes to
    and reads from it: its flows (key -> cookie), groups (id -> spec) and meters (id -> (rate,
    burst)). `take(messages)` applies them in order and returns the replies, each (kind, xid,
    entries): "read" (the whole answer to a Read), "error" (a message refused: one for which
    `refuses(message)` is true, which changes nothing), "barrier" (unless `lose_barriers`)."""

    def __init__(self, flows=None, groups=None, meters=None):
        self.flows = dict(flows or {})
        self.groups = dict(groups or {})
        self.meters = dict(meters or {})
        self.refuses = lambda message: False
        self.lose_barriers = False
        self.received = []

    def take(self, messages):
        replies = []
        for message in messages:
            self.received.append(message)
            if self.refuses(message):
                replies.append(("error", message.xid, None))
            else:
                replies += self._apply(message)
        return replies

    def _apply(self, message):
        if isinstance(message, Read):
            entries = {"flows": list(self.flows.items()), "groups": list(self.groups),
                       "meters": list(self.meters)}[message.part]
            return [("read", message.xid, entries)]
        if isinstance(message, AddFlow):
            self.flows[message.spec.key] = message.spec.wire_cookie
        elif isinstance(message, DeleteFlow):
            self.flows.pop(message.key, None)
        elif isinstance(message, AddGroup):
            assert message.modify == (message.spec.group_id in self.groups), "a group added twice, or modified unheld"
            self.groups[message.spec.group_id] = message.spec
        elif isinstance(message, DeleteGroup):
            self.groups.pop(message.group_id, None)
        elif isinstance(message, AddMeter):
            self.meters[message.meter_id] = (message.rate, message.burst)
        elif isinstance(message, Barrier):
            return [] if self.lose_barriers else [("barrier", message.xid, None)]
        else:
            raise TypeError("the fake channel does not know %r" % (message,))
        return []
