"""What the switches' counters say, read from their stats replies: per real server, its traffic,
the connections given to it and the clients' FINs (the proxies' FORWARD and SELECTED tables);
per meter, the copies that entered it and the copies it dropped. The work is per server, not per
connection."""
from typing import Dict, Iterable, Tuple

from controller.pipeline import FIN_SET, SYN_ONLY


def _per_server(stats, server_ids: Dict[str, int]):
    """Flow stats by real server (their reg1 match): (server, match, stat) each."""
    by_id = {sid: name for name, sid in server_ids.items()}
    for stat in stats:
        match = dict(stat.match.items())
        if by_id.get(match.get("reg1")):
            yield by_id[match["reg1"]], match, stat


def forward_counters(stats: Iterable, server_ids: Dict[str, int]) -> Dict[str, Dict[str, int]]:
    """The FORWARD table's counters: per server, packets and bytes sent to it and the clients'
    FINs among them (closed connections)."""
    totals: Dict[str, Dict[str, int]] = {}
    for server, match, stat in _per_server(stats, server_ids):
        counters = totals.setdefault(server, {"packets": 0, "bytes": 0, "closed": 0})
        counters["packets"] += stat.packet_count
        counters["bytes"] += stat.byte_count
        if match.get("tcp_flags") == FIN_SET:
            counters["closed"] += stat.packet_count
    return totals


def opened_counters(stats: Iterable, server_ids: Dict[str, int]) -> Dict[str, int]:
    """The SELECTED table's SYN counters: per server, the connections given to it."""
    return {server: stat.packet_count for server, match, stat in _per_server(stats, server_ids)
            if match.get("tcp_flags") == SYN_ONLY}


def meter_counts(stats: Iterable) -> Tuple[int, int]:
    """A meter's stats: (packets that entered it, packets its bands dropped), in all."""
    stats = list(stats)
    return (sum(stat.packet_in_count for stat in stats),
            sum(band.packet_band_count for stat in stats for band in stat.band_stats))
