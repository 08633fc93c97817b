"""The sync engine: for one switch, what it holds of the controller's entries, and the messages
that bring it to what it should hold. Pure: no Ryu, no sockets, no clock of its own (FAUCET's
valve shape): the adapter (controller/app.py) passes events in and sends what comes back, each
message encoded by controller/openflow.py.

A switch that connects is read back before it is written (its flows, groups and meters), so that
a restarted controller sends only what differs. Then every write is diffed against what the
switch holds and sent in an order no packet can fall through: groups first (flows refer to
them), then deletions, then flows highest priority first, then groups no flow uses any more, and
a barrier. A write counts as done when its barrier's reply comes back. A write the switch refused
is not sent again until the wanted entry changes. If a barrier's reply never comes, the engine
no longer knows what the switch holds, so it reads the switch back.

Every message carries an xid of the engine's own, which grows across connections: a reply that
a switch sent before it left is known to be stale.
"""
import itertools
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from controller.pipeline import COOKIE_KINDS, KIND_MASK
from controller.specs import FlowSpec, GroupSpec

BARRIER_TIMEOUT = 5.0      # seconds a barrier may go unanswered before the switch is read back
READ_PARTS = ("flows", "groups", "meters")
READ_BACK = "as read back from the switch"   # a group whose buckets were not compared: modified once

FlowKey = Tuple[int, int, Tuple[Tuple[str, object], ...]]   # table, priority, match
Meters = Dict[int, Tuple[int, int]]                          # meter id -> (rate, burst)


@dataclass(frozen=True)
class Read:
    """Ask for every entry of one part of the switch: "flows", "groups" or "meters"."""
    part: str
    xid: int


@dataclass(frozen=True)
class AddFlow:
    """Add a flow, or replace the one with its key (an ADD keeps the old entry's counters)."""
    spec: FlowSpec
    xid: int


@dataclass(frozen=True)
class DeleteFlow:
    """Delete the flow with this key, strictly."""
    key: FlowKey
    xid: int


@dataclass(frozen=True)
class AddGroup:
    spec: GroupSpec
    modify: bool
    xid: int


@dataclass(frozen=True)
class DeleteGroup:
    group_id: int
    xid: int


@dataclass(frozen=True)
class AddMeter:
    """A drop band of `rate` packets per second and `burst` (replacing any meter of that id)."""
    meter_id: int
    rate: int
    burst: int
    xid: int


@dataclass(frozen=True)
class Barrier:
    xid: int


Message = Union[Read, AddFlow, DeleteFlow, AddGroup, DeleteGroup, AddMeter, Barrier]
Desired = Callable[[], Tuple[Iterable[FlowSpec], Iterable[GroupSpec]]]


def diff(installed: dict, desired: dict) -> Tuple[list, list, list]:
    """What turns a switch's `installed` entries into the `desired` ones (both: key -> entry):
    (keys to delete, keys to add, keys to modify). Unchanged entries are left alone."""
    deletes = [key for key in installed if key not in desired]
    adds = [key for key in desired if key not in installed]
    modifies = [key for key in desired if key in installed and installed[key] != desired[key]]
    return deletes, adds, modifies


def install_order(keys: Iterable[FlowKey]) -> List[FlowKey]:
    """Flow keys in the order to send them: highest priority first, so that a rule's exceptions
    are in place before the rule itself and no packet meets the rule alone while a switch is
    being filled."""
    return sorted(keys, key=lambda key: -key[1])


class SwitchSync:
    """One switch's side of the sync. `flows` (key -> cookie) and `groups` (id -> GroupSpec, or
    READ_BACK) are the controller's entries as the switch holds them, once read back; entries of
    other cookies (learned flows, an experimenter's own) are left alone and only counted."""

    def __init__(self, name: str, meters: Meters):
        self.name = name
        self.meters = dict(meters)
        self._xids = itertools.count(1)
        self.online = False
        self._reset()

    def _reset(self) -> None:
        self.flows: Dict[FlowKey, int] = {}
        self.groups: Dict[int, object] = {}
        self._meters_held: Dict[int, Tuple[int, int]] = {}
        self.foreign = 0                 # flows read back whose cookie is not one of the controller's kinds
        self._to_read = self.online      # the reads are sent by the next sync
        self._reads: Dict[int, str] = {}         # xid -> part, asked and not answered
        self._read: Dict[str, list] = {}         # part -> its entries, answered
        self._read_back = False
        self._first_write = False        # the first write after a read back is confirmed even if empty
        self._writes: Dict[int, Tuple[str, object, object]] = {}   # xid -> (what, key, entry) unconfirmed
        self._barriers: Dict[int, float] = {}    # xid -> when it was sent
        self.refused: Dict[Tuple[str, object], object] = {}   # (what, key) -> the entry the switch refused

    def next_xid(self) -> int:
        return next(self._xids)

    # --- the switch comes and goes --------------------------------------------------------------
    def connect(self) -> None:
        """The switch (re)connected: nothing is known of what it holds until it is read back."""
        self.online = True
        self._reset()

    def disconnect(self) -> None:
        """The switch left, perhaps in the middle of a write: whatever it answers later is stale."""
        self.online = False
        self._reset()

    @property
    def in_sync(self) -> bool:
        """Read back, every write confirmed, nothing refused."""
        return self.online and self._read_back and not (self._barriers or self.refused)

    @property
    def reading(self) -> bool:
        return self.online and not self._read_back

    def owns(self, xid: int) -> bool:
        """The reply (or error) with this xid answers a read or a write of this engine's."""
        return xid in self._reads or xid in self._writes or xid in self._barriers

    # --- reading back ---------------------------------------------------------------------------
    def _read_messages(self) -> List[Message]:
        self._to_read = False
        reads: List[Message] = [Read(part, self.next_xid()) for part in READ_PARTS]
        self._reads = {read.xid: read.part for read in reads if isinstance(read, Read)}
        return reads

    def read_reply(self, xid: int, entries: list) -> List[Message]:
        """The whole answer to a read: for flows, (key, cookie) pairs; for groups and meters,
        their ids. Once every part is in, the meters the switch lacks (to send now), and the
        switch may be written."""
        part = self._reads.pop(xid, None)
        if part is None:
            return []
        self._read[part] = list(entries)
        if self._reads:
            return []
        flows = self._read["flows"]
        self.flows = {key: cookie for key, cookie in flows if cookie & KIND_MASK in COOKIE_KINDS}
        self.foreign = len(flows) - len(self.flows)
        self.groups = {group_id: READ_BACK for group_id in self._read["groups"]}
        self._read_back = self._first_write = True
        held = set(self._read["meters"])
        return [self._sent("meter", meter_id, entry, AddMeter(meter_id, *entry, self.next_xid()))
                for meter_id, entry in sorted(self.meters.items()) if meter_id not in held]

    # --- writing --------------------------------------------------------------------------------
    def sync(self, desired: Desired, now: float) -> List[Message]:
        """The messages that bring the switch to `desired()` (flow specs, group specs; called
        only when the switch can be written): its reads first after a (re)connection, nothing
        while they are answered, then the difference and a barrier. A write is recorded as held
        once returned: a switch that drops half of it leaves, or misses the barrier, and is read
        back."""
        if not self.online:
            return []
        if self._to_read:
            return self._read_messages()
        if not self._read_back:
            return []
        flow_specs, group_specs = desired()
        groups = {g.group_id: g for g in group_specs}
        flows = {spec.key: spec for spec in flow_specs}
        messages = self._write(groups, {key: spec.wire_cookie for key, spec in flows.items()}, flows)
        if messages or self._first_write:
            self._first_write = False
            barrier = Barrier(self.next_xid())
            self._barriers[barrier.xid] = now
            messages.append(barrier)
        return messages

    def _write(self, groups: Dict[int, GroupSpec], cookies: Dict[FlowKey, int],
               flows: Dict[FlowKey, FlowSpec]) -> List[Message]:
        group_deletes, group_adds, group_modifies = diff(self.groups, self._unrefused("group", groups))
        flow_deletes, flow_adds, flow_replaces = diff(self.flows, self._unrefused("flow", cookies))
        messages = [self._sent("group", g, groups[g], AddGroup(groups[g], False, self.next_xid()))
                    for g in group_adds]
        messages += [self._sent("group", g, groups[g], AddGroup(groups[g], True, self.next_xid()))
                     for g in group_modifies]
        messages += [self._sent("flow", k, None, DeleteFlow(k, self.next_xid())) for k in flow_deletes]
        messages += [self._sent("flow", k, cookies[k], AddFlow(flows[k], self.next_xid()))
                     for k in install_order(flow_adds + flow_replaces)]
        messages += [self._sent("group", g, None, DeleteGroup(g, self.next_xid())) for g in group_deletes]
        return messages

    def _unrefused(self, what: str, desired: Mapping[Any, Any]) -> Dict[Any, Any]:
        """The desired entries, but an entry the switch refused stays as the switch holds it
        (or absent) until the wanted entry changes: sending it again would be refused again."""
        held = self._held(what)
        wanted = dict(desired)
        for (kind, key), refused in list(self.refused.items()):
            if kind != what:
                continue
            if wanted.get(key) != refused:
                del self.refused[(kind, key)]     # the wanted entry changed: try it
            elif key in held:
                wanted[key] = held[key]
            else:
                del wanted[key]
        return wanted

    def _held(self, what: str) -> Dict[Any, Any]:
        held: Dict[str, Dict[Any, Any]] = {"flow": self.flows, "group": self.groups, "meter": self._meters_held}
        return held[what]

    def _sent(self, what: str, key: object, entry: object, message: Message) -> Message:
        """Record a write's entry as held by the switch (None: deleted), and the message as
        unconfirmed until its barrier."""
        held = self._held(what)
        if entry is None:
            held.pop(key, None)
        else:
            held[key] = entry
        self._writes[message.xid] = (what, key, entry)
        return message

    def barrier_reply(self, xid: int) -> bool:
        """A barrier's reply: every write sent before it is done. True if it was ours."""
        if self._barriers.pop(xid, None) is None:
            return False
        self._writes = {x: w for x, w in self._writes.items() if x > xid}
        return True

    def error(self, xid: int) -> Optional[str]:
        """The switch refused message `xid`: what it was (None if not one of this engine's
        writes). The entry is recorded as refused, not held, and not sent again unchanged."""
        write = self._writes.pop(xid, None)
        if write is None:
            return None
        what, key, entry = write
        if entry is None:            # a deletion refused: the switch may hold it still; read back to know
            self._to_read, self._read_back = True, False
            return "deleting %s %s" % (what, key)
        self.refused[(what, key)] = entry
        self._held(what).pop(key, None)
        return "%s %s" % (what, key)

    def overdue(self, now: float) -> bool:
        """True (once) if a barrier has gone unanswered for BARRIER_TIMEOUT: the switch is read
        back by the next sync."""
        if not any(now - sent > BARRIER_TIMEOUT for sent in self._barriers.values()):
            return False
        self._reset()
        return True
