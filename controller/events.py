"""What the controller writes to its event log, built from what was decided: the Ryu app and the
modules that act only write these (core/eventlog.py). One place for the words, so that a reader
of the log and of the code meet the same ones."""
from typing import List, NamedTuple, Optional, Tuple

from controller.proxies import STALL_HOLD, PortState
from core.description import ClusterDescription
from core.eventlog import Event


def election(record: dict) -> Event:
    """The VIP moved (`record` from ProxyGroup.elect)."""
    action = "proxy-failover" if record["from"] else "proxy-elected"
    return Event(action, "VIP carried by %s (was %s): %s" % (
        ", ".join(record["to"]) or "no proxy (VIP down)", ", ".join(record["from"]) or "none", record["cause"]),
        {"observer_name": ",".join(record["to"])})


def bfd_hold(held: bool, stalled: List[str], stall_window: float) -> Event:
    """A switch stall began (`held`) or ended holding BFD's verdicts."""
    if not held:
        return Event("bfd-trusted", "BFD's sessions are back after the stall (or its hold ran out): its verdicts "
                     "count again")
    return Event("bfd-held", "BFD fell silent towards %s within %.0f ms: a switch stall, not a proxy's failure; "
                 "BFD's verdicts are held and the VIP stays where it is until those sessions are back (%g s at most)"
                 % (" and ".join(stalled), stall_window * 1000, STALL_HOLD))


def table_changes(description: ClusterDescription, left: List[str], joined: List[str]) -> List[Event]:
    """Real servers that left and joined the virtual service's table."""
    return ([Event("real-server-down", "%s left the virtual service's table" % server,
                   {"destination_ip": description.host(server).ip}) for server in left]
            + [Event("real-server-up", "%s is in the virtual service's table" % server,
                     {"destination_ip": description.host(server).ip}) for server in joined])


class PortChange(NamedTuple):
    """What a port's reported state changed (ClusterState.port_changed)."""
    switch: str
    port: int
    before: Optional[PortState]
    up: bool
    live: bool
    cable_peer: Optional[str]      # the proxy or edge at the other end of a proxy's cable
    server: Optional[str]          # the real server whose health the change took down

    @property
    def bfd_lost(self) -> bool:
        """BFD lost a proxy's cable: its verdict counts once a stall window has passed."""
        return bool(self.cable_peer and self.before is not None and self.before.live and not self.live)


def port_change(change: PortChange) -> List[Event]:
    """A port's link came up or went down, or BFD's verdict on a proxy's cable changed."""
    name, port, up, live = change.switch, change.port, change.up, change.live
    if change.before is None or change.before.link != up:
        return [Event("port-up" if up else "port-down", "%s port %d %s" % (name, port, "up" if up else "down"),
                      {"observer_name": name})]
    if change.cable_peer:
        return [Event("bfd-up" if live else "bfd-down", "%s port %d (to %s): BFD %s"
                      % (name, port, change.cable_peer, "up" if live else "down"), {"observer_name": name})]
    return []


def meter_drops(switch: str, what: Tuple[str, str], lost: int, dropped: int) -> List[Event]:
    """A copy meter's poll: `lost` copies passed it but never arrived, `dropped` more were dropped
    by it since the last poll; `what` is (the event's action, what the meter copies)."""
    action, copies = what
    events = []
    if lost:
        events.append(Event("copies-lost", "%d %s from %s passed its meter but never reached the controller"
                            % (lost, copies, switch), {"observer_name": switch, "labels_lost": lost}))
    if dropped:
        events.append(Event(action, "the meter of %s dropped %d %s" % (switch, dropped, copies),
                            {"observer_name": switch, "labels_dropped": dropped}))
    return events
