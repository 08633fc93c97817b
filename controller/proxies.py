"""Which proxy carries the VIP: liveness of each proxy and the election, as pure logic.

A proxy is alive while all three hold:
  channel  its OpenFlow channel is up;
  links    its cables to s_pub and s_lan are up (port status on both ends);
  bfd      BFD, which the switches run on those cables, hears it at both ends of each (a port
           is live, OFPPS_LIVE): what the edges' fast-failover groups watch, so the datapath has
           already left a proxy behind when the controller hears that it failed. Every switch of
           the emulation runs in one ovs-vswitchd, so a stall of that process silences BFD on
           every proxy's cables within about one detection time, and the sessions then come back
           one by one over a second or two (a session that is not up sends once a second,
           RFC 5880 6.8.3). A BFD verdict therefore counts only once it has stood for a stall
           window with no other proxy falling silent, and silence towards two proxies within a
           window is a stall: BFD's verdicts are held (the edges' groups pinned to the
           controller's choice) until those sessions are back, or STALL_HOLD at most. While no
           other proxy is live, BFD alone cannot tell the proxy's failure from the switch's: the
           probes decide;
  probes   the controller's liveness probes, sent into it from s_pub and s_lan, keep coming back
           (a hung datapath keeps its channel but forwards nothing, so only this catches it).
           Silence is judged against the side's reference probe, which the edge sends straight
           back: a proxy has stopped answering when a reference sent probe_timeout after its last
           answer is back. A busy channel or controller delays both alike and proves nothing.
Election:
  active-standby  exactly one alive proxy carries the VIP; non-preemptive by default (a recovered
                  proxy becomes standby), preemptive as an option (the first in order takes it
                  back, once it has been alive with BFD live for preempt_delay); none alive: the
                  VIP is down until one returns.
  active-active   every alive proxy carries the VIP; s_pub spreads connections over them.
The first election waits until both proxies are alive or the adapter settles it, so that the
preferred proxy wins rather than whichever came up first.
"""
import time
from typing import Any, Callable, Collection, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple

from core.description import ClusterDescription
from core.eventlog import ecs_timestamp
from core.settings import ACTIVE_ACTIVE, ProxyPolicy


End = Tuple[str, int]          # a proxy cable's end: (switch, port)


class PortState(NamedTuple):
    link: bool          # carrier up and not configured down
    live: bool          # Open vSwitch may forward through it: link up and, with BFD on it, BFD up
    heard: bool         # live at some moment since its link came up: BFD has had its say

    @property
    def silent(self) -> bool:
        """BFD has lost the other end (not merely not yet come up: it takes about a second after
        the link, and sessions come up one by one)."""
        return self.link and self.heard and not self.live


# How long BFD's verdicts stay held after a stall at most: sessions that are not up send once a
# second, so all are back within about two seconds unless one of them really failed meanwhile.
STALL_HOLD = 3.0


class Stall(NamedTuple):
    since: float
    ends: FrozenSet[End]        # the cable ends silent in it


class ProxyGroup:
    def __init__(self, description: ClusterDescription, policy: ProxyPolicy = ProxyPolicy(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.description = description
        self.policy = policy
        self.clock = clock
        self.names = description.proxies
        self.active: Tuple[str, ...] = ()  # proxies carrying the VIP, in order
        self.settled = False
        self.connected_at: Dict[str, float] = {}
        self.probe_seen: Dict[Tuple[str, str], float] = {}  # (proxy, side) -> when the last probe it answered was sent
        self.reference_seen: Dict[str, float] = {}  # side -> when the last reference probe back was sent
        self.last_failover: Optional[Dict[str, Any]] = None
        self.silent_since: Dict[End, float] = {}  # (switch, port) of a proxy's cable -> when BFD fell silent on it
        self.stall: Optional[Stall] = None  # the Stall holding BFD's verdicts, if any
        self._hold_told = False  # whether BFD's verdicts were held, as hold_change last said
        self.clean_since: Dict[str, float] = {}  # proxy -> since when it is alive with BFD live on every end
        # A stall's sessions expire within about one detection time (3 intervals) of each other.
        self.stall_window = 6 * max(policy.bfd_min_rx, policy.bfd_min_tx) / 1000.0

    # --- liveness -----------------------------------------------------------------------------
    def connected(self, proxy: str) -> None:
        self.connected_at[proxy] = self.clock()

    def disconnected(self, proxy: str) -> None:
        self.connected_at.pop(proxy, None)

    def probe_reply(self, proxy: str, side: str, sent_at: float) -> None:
        self.probe_seen[(proxy, side)] = max(sent_at, self.probe_seen.get((proxy, side), sent_at))

    def reference_reply(self, side: str, sent_at: float) -> None:
        self.reference_seen[side] = max(sent_at, self.reference_seen.get(side, sent_at))

    def bfd_changed(self, end: End, port_state: Optional[PortState]) -> None:
        """A proxy cable end's new PortState (None: no longer known): note when BFD fell silent
        on it, and whether that makes a stall."""
        now = self.clock()
        if port_state is not None and port_state.silent:
            self.silent_since.setdefault(end, now)
            if self.stall:              # the stall's sessions expire over about a detection time
                self.stall = self.stall._replace(ends=self.stall.ends | {end})
        else:
            self.silent_since.pop(end, None)
        self._judge_stall(now)

    def _judge_stall(self, now: float) -> None:
        """Start a stall when ends of two proxies fell silent within a window of each other; end
        it when its ends are all heard again, or after STALL_HOLD."""
        if self.stall and (now - self.stall.since >= STALL_HOLD or not self.stall.ends & self.silent_since.keys()):
            self.stall = None
        if self.stall is None:
            recent = {end: at for end, at in self.silent_since.items() if now - at < self.stall_window}
            if len({self._proxy_of(end) for end in recent}) > 1:
                self.stall = Stall(min(recent.values()), frozenset(recent))

    def bfd_held(self) -> bool:
        """True while a stall holds BFD's verdicts (see the module's docstring)."""
        self._judge_stall(self.clock())
        return self.stall is not None

    def hold_change(self) -> Optional[bool]:
        """Whether BFD's verdicts are held, when that changed since the last call (the edges'
        failover groups must be pinned or freed, and it logged); else None."""
        held = self.bfd_held()
        if held == self._hold_told:
            return None
        self._hold_told = held
        return held

    def stalled_proxies(self) -> List[str]:
        """The proxies whose cables the current stall silenced, in order."""
        return sorted({self._proxy_of(end) for end in self.stall.ends}) if self.stall else []

    def _proxy_of(self, end: End) -> str:
        switch, port = end
        return switch if switch in self.names else self.description.trunk_ports(switch)[port]

    def _answering(self, proxy: str, side: str) -> bool:
        """No reference probe sent more than probe_timeout after the proxy's last answer (or its
        connection) has come back on this side."""
        answered = max(self.probe_seen.get((proxy, side), 0), self.connected_at[proxy])
        return self.reference_seen.get(side, answered) - answered <= self.policy.probe_timeout

    def health(self, proxy: str, connected_switches: Collection[str],
               ports: Mapping[End, PortState]) -> Dict[str, bool]:
        """{"channel", "links", "bfd", "probes"}: each True or False (`ports`: (switch, port) ->
        PortState)."""
        channel = proxy in self.connected_at and proxy in connected_switches
        links = all(end.link for end in self._ends(proxy, ports))
        bfd = not any(self.end_silent(end, ports) for end in self._end_keys(proxy))
        probes = channel and all(self._answering(proxy, side)
                                 for side in self.description.proxy_edges if side in connected_switches)
        return {"channel": channel, "links": links, "bfd": bfd, "probes": bool(probes)}

    def _ends(self, proxy: str, ports: Mapping[End, PortState]) -> List[PortState]:
        """The known PortStates of both ends of the proxy's cables to the edge switches."""
        return [ports[(switch, port)] for switch, port, _ in self.description.proxy_cable_ends(proxy)
                if (switch, port) in ports]

    def alive(self, proxy: str, connected_switches: Collection[str], ports: Mapping[End, PortState]) -> bool:
        """All of `health`, except where BFD's silence does not count (yet): see `_bfd_excused`."""
        health = self.health(proxy, connected_switches, ports)
        if not health["bfd"] and self._bfd_excused(proxy, ports):
            health["bfd"] = True
        return all(health.values())

    def _bfd_excused(self, proxy: str, ports: Mapping[End, PortState]) -> bool:
        """BFD's silence on the proxy's cables says nothing of the proxy yet: a stall holds BFD's
        verdicts, or the silence began less than a stall window ago (it may be one), or no other
        proxy is live on its cables (the switch's own stall, or all hung: the probes tell)."""
        now = self.clock()
        began = min((self.silent_since[end] for end in self._end_keys(proxy) if end in self.silent_since),
                    default=now)
        return (self.bfd_held() or now - began < self.stall_window
                or not any(self._live(other, ports) for other in self.names if other != proxy))

    def _end_keys(self, proxy: str) -> List[End]:
        return [(switch, port) for switch, port, _ in self.description.proxy_cable_ends(proxy)]

    def end_silent(self, end: End, ports: Mapping[End, PortState]) -> bool:
        """BFD has lost the other end of this cable end's session, and that other end has not
        heard it either. BFD's state follows the other end's, so a cable whose one end is up
        and the other not is in its three-way handshake, up to a second (the slow rate of a
        session coming up): coming back, not silent (seen after a hang: the edges' ends up 1 s
        before the proxy's own)."""
        state, other = ports.get(end), ports.get(self._other_end(end))
        return bool(state and state.silent and not (other and other.live))

    def _other_end(self, end: End) -> End:
        switch, port = end
        if switch in self.names:
            peer = self.description.trunk_ports(switch)[port]
            return peer, self.description.proxy_port(peer, switch)
        proxy = self.description.trunk_ports(switch)[port]
        return next((proxy, p) for p, peer in self.description.trunk_ports(proxy).items() if peer == switch)

    def _live(self, proxy: str, ports: Mapping[End, PortState]) -> bool:
        return all(end.live for end in self._ends(proxy, ports))

    # --- election -----------------------------------------------------------------------------
    def settle(self) -> None:
        self.settled = True

    def elect(self, connected_switches: Collection[str], ports: Mapping[End, PortState]) -> Optional[Dict[str, Any]]:
        """Re-run the election; the failover record if the active set changed, else None.

        The first election waits for both proxies to be alive (or the settle time), unless a
        restarted controller's saved active proxy is known dead (a cable of it down) while
        another is alive: then it fails over at once."""
        alive = [p for p in self.names if self.alive(p, connected_switches, ports)]
        self._note_clean(connected_switches, ports)
        if not self.settled and len(alive) < len(self.names):
            saved = self.active and self.health(self.active[0], connected_switches, ports)
            if not (alive and saved and not (saved["links"] and saved["bfd"])):
                return None
        self.settled = True
        if self.policy.mode == ACTIVE_ACTIVE:
            chosen = tuple(alive)
        elif self.active and self.active[0] in alive and not self._preempts(alive[0]):
            chosen = self.active
        else:
            chosen = tuple(alive[:1])
        if chosen == self.active:
            return None
        record = {"at": ecs_timestamp(), "from": list(self.active), "to": list(chosen),
                  "cause": self._cause(chosen, connected_switches, ports)}
        self.active = chosen
        if record["from"]:                 # the first election is not a failover
            self.last_failover = record
        return record

    def _note_clean(self, connected_switches: Collection[str], ports: Mapping[End, PortState]) -> None:
        now = self.clock()
        for proxy in self.names:
            if all(self.health(proxy, connected_switches, ports).values()):
                self.clean_since.setdefault(proxy, now)
            else:
                self.clean_since.pop(proxy, None)

    def _preempts(self, preferred: str) -> bool:
        """Preemption hands the VIP to `preferred` once it has been alive on its own merits (BFD
        live, no stall excusing it) for preempt_delay: a proxy that is coming and going, or that
        only a stall makes look alive, does not take the VIP back."""
        return (self.policy.preempt and preferred != self.active[0] and preferred in self.clean_since
                and self.clock() - self.clean_since[preferred] >= self.policy.preempt_delay)

    def _cause(self, chosen: Tuple[str, ...], connected_switches: Collection[str],
               ports: Mapping[End, PortState]) -> str:
        reasons = []
        for proxy in self.active:
            if proxy in chosen:
                continue
            health = self.health(proxy, connected_switches, ports)
            if not health["channel"]:
                reasons.append("%s lost its OpenFlow channel" % proxy)
            elif not health["links"]:
                reasons.append("%s's links are down" % proxy)
            elif not health["bfd"]:
                reasons.append("BFD lost %s (cut off, or its data plane silent)" % proxy)
            elif not health["probes"]:
                reasons.append("%s stopped answering liveness probes (data plane hung)" % proxy)
            else:
                reasons.append("%s handed over to %s (preemption)" % (proxy, chosen[0]))
        for proxy in chosen:
            if proxy not in self.active:
                reasons.append("%s is alive" % proxy)
        return "; ".join(reasons) or "no proxy is alive"
