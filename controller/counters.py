"""What the switches' counters say, read from their stats replies: per destination (a real
server of a service), its traffic, the connections given to it and the clients' FINs (the
proxies' FORWARD and SELECTED tables); per meter, the copies that entered it and the copies it
dropped. The work is per destination, not per connection."""
import ipaddress
from typing import TYPE_CHECKING, Any, Callable, Collection, Dict, Iterable, Iterator, List, Tuple

from controller import events
from controller.flows import switch_meters
from controller.pipeline import (COOKIE_AFFINITY, DENY_METER, FIN_SET, LOG_METER, PASSIVE_METER, SPOOF_METER, SYN_ONLY,
                                 T_AFFINITY, T_FORWARD, T_SELECTED)
from core.description import ClusterDescription
from core.eventlog import Event

if TYPE_CHECKING:
    from controller.state import ClusterState

METER_DROPS = {LOG_METER: ("log-copies-dropped", "connection-log copies"),      # event, what a meter drops
               PASSIVE_METER: ("passive-copies-dropped", "copies of real servers' RSTs and ICMP errors"),
               DENY_METER: ("log-copies-dropped", "copies of attempts segmentation refused"),
               SPOOF_METER: ("spoof-copies-dropped", "copies of forged packets")}


def _per_destination(stats: Iterable[Any], known: Collection[int]) -> Iterator[Tuple[int, Dict[str, Any], Any]]:
    """Flow stats by destination (their reg1 match, one of `known`): (destination, match, stat)."""
    for stat in stats:
        match = dict(stat.match.items())
        if match.get("reg1", -1) in known:
            yield match["reg1"], match, stat


def forward_counters(stats: Iterable, known: Collection[int]) -> Dict[int, Dict[str, int]]:
    """The FORWARD table's counters: per destination, packets and bytes sent to it and the
    clients' FINs among them (closed connections)."""
    totals: Dict[int, Dict[str, int]] = {}
    for d, match, stat in _per_destination(stats, known):
        counters = totals.setdefault(d, {"packets": 0, "bytes": 0, "closed": 0})
        counters["packets"] += stat.packet_count
        counters["bytes"] += stat.byte_count
        if match.get("tcp_flags") == FIN_SET:
            counters["closed"] += stat.packet_count
    return totals


def opened_counters(stats: Iterable, known: Collection[int]) -> Dict[int, int]:
    """The SELECTED table's SYN counters: per destination, the connections given to it."""
    return {d: stat.packet_count for d, match, stat in _per_destination(stats, known)
            if match.get("tcp_flags") == SYN_ONLY}


def affinity_entries(stats: Iterable) -> List[Dict[str, Any]]:
    """The AFFINITY table's persistence entries (the flows the proxy learned): each one's
    service index, client prefix, destination, packets and seconds since it was learned."""
    entries = []
    for stat in stats:
        if stat.cookie != COOKIE_AFFINITY:
            continue
        match = dict(stat.match.items())
        loads = [a for i in stat.instructions for a in getattr(i, "actions", ())
                 if getattr(a, "key", getattr(a, "dst", None)) == "reg1"]
        client = match.get("ipv4_src", "0.0.0.0/0")
        prefix = ipaddress.IPv4Network("%s/%s" % client if isinstance(client, tuple) else client, strict=False)
        if "reg2" in match and loads:
            entries.append({"index": match["reg2"], "client": str(prefix), "destination": loads[0].value,
                            "packets": stat.packet_count, "age_s": stat.duration_sec})
    return entries


def meter_counts(stats: Iterable) -> Tuple[int, int]:
    """A meter's stats: (packets that entered it, packets its bands dropped), in all."""
    stats = list(stats)
    return (sum(stat.packet_in_count for stat in stats),
            sum(band.packet_band_count for stat in stats for band in stat.band_stats))


FLOWS, METER = "flows", "meter"     # what a poll asks for: a table's flow counters, a meter's counts


FLOW_POLL_BUDGET = 128    # destinations whose counters a proxy is asked for per second, at most
AFFINITY_POLL_ROUNDS = 5  # the persistence entries (one flow per client) are read this many rounds apart


def polls(description: ClusterDescription, switch: str, destinations: int = 0, round_number: int = 0,
          persistent: bool = False) -> List[Tuple[str, int]]:
    """What to ask a switch in round `round_number` (one a second), (FLOWS, table) or (METER,
    meter id): of an edge switch, each of its meters every round (controller/accounting.py counts
    on it); of a proxy, its FORWARD and SELECTED tables, every round while the services have at
    most FLOW_POLL_BUDGET destinations, else every ceil(destinations / FLOW_POLL_BUDGET) rounds
    (Ryu parses each flow's statistics in Python: measured, 512 destinations polled every second
    took a fifth of a core); with a `persistent` service, its AFFINITY table every
    AFFINITY_POLL_ROUNDS rounds."""
    if switch in description.proxies:
        every = max(1, -(-destinations // FLOW_POLL_BUDGET))
        found = [(FLOWS, T_FORWARD), (FLOWS, T_SELECTED)] if round_number % every == 0 else []
        return found + ([(FLOWS, T_AFFINITY)] if persistent and round_number % AFFINITY_POLL_ROUNDS == 0 else [])
    return [(METER, meter_id) for meter_id in switch_meters(description, switch)]


class Counters:
    """The polled counters told to ClusterState, reply by reply; `on_steered` is called when
    the connections given out re-weight a least-connection service's table."""

    def __init__(self, state: "ClusterState", on_steered: Callable[[], None] = lambda: None) -> None:
        self.state = state
        self.on_steered = on_steered
        self._dropped: Dict[Tuple[str, int], int] = {}      # (edge switch, meter) -> copies it dropped

    def polled(self, switch: str, poll: Tuple[str, int], stats: Iterable) -> List[Event]:
        """The reply to one of `polls`: told to the state; the events it makes."""
        kind, number = poll
        if kind == METER:
            return self.metered(switch, number, stats)
        if number == T_AFFINITY:
            self.state.affinity[switch] = affinity_entries(stats)
        else:
            (self.forwarded if number == T_FORWARD else self.selected)(switch, stats)
        return []

    def forwarded(self, proxy: str, stats: Iterable) -> None:
        for d, counters in forward_counters(stats, self.state.book.destinations()).items():
            self.state.update_counters(proxy, d, **counters)

    def selected(self, proxy: str, stats: Iterable) -> None:
        for d, opened in opened_counters(stats, self.state.book.destinations()).items():
            self.state.update_counters(proxy, d, opened=opened)
        # once a round (the active proxy's reply), over every proxy's counters
        if proxy == self.state.active_proxy and self.state.steer():
            self.on_steered()

    def metered(self, switch: str, meter_id: int, stats: Iterable) -> List[Event]:
        """A copy meter's poll: what it dropped since the last poll (a flood of connection
        attempts, or of RSTs and ICMP errors, is metered: the controller's work stays bounded),
        and any copies that passed it but never arrived (controller/accounting.py)."""
        made, dropped = meter_counts(stats)
        lost = self.state.copy_account(switch, meter_id).polled(made, dropped)
        new = max(0, dropped - self._dropped.get((switch, meter_id), 0))
        self._dropped[(switch, meter_id)] = dropped
        if meter_id in (LOG_METER, DENY_METER):
            self.state.log_copies_dropped += new
        return events.meter_drops(switch, METER_DROPS[meter_id], lost, new)
