"""LVS's schedulers as this datapath carries them out: each one fills a service's lookup table
(TABLE_SIZE slots, a real server per slot) that the proxies hash new connections into, so that
no scheduler needs the controller per connection. Pure: ClusterState gives the weights, the
health and the counters; controller/proxy.py puts the table in the datapath.

  mh   weighted Maglev over the 5-tuple (controller/maglev.py).
  sh   the same table, indexed by a hash of the client's address alone (the proxies' multipath
       action on nw_src), so that every connection of a client reaches one real server; a real
       server that fails hands on only its own slots, so only its clients move.
  wrr  the weighted hash: spread by weight over many connections, not an exact rotation (that
  rr   would need the controller per connection); rr gives every real server of positive
       weight an equal share.
  wlc  weighted least connections: every counter poll, each real server's share is set from
  lc   the connections it was given in the last poll and those it has open, so that the active
       connections per unit of weight level out, as they do under wlc's choice of the least
       loaded server per connection; lc counts every weight as 1.
  fo   weighted failover: every slot to the available real server of highest weight.
"""
from typing import Dict, List, Mapping, Optional, Tuple

from controller.maglev import TABLE_SIZE

NO_DATA = 0.05    # connections, given or open, that least_connection_weights counts for none

LEAST_CONNECTION = ("lc", "wlc")
SOURCE_HASHED = ("sh",)


def scheduling_weights(scheduler: str, weights: Mapping[str, int]) -> Dict[str, int]:
    """The weights a scheduler's table is populated with, from the real servers' own (0 stays 0:
    quiescent, as in LVS)."""
    if scheduler in ("rr", "lc"):
        return {name: min(weight, 1) for name, weight in weights.items()}
    return dict(weights)


def failover_choice(weights: Mapping[str, int], healthy: List[str]) -> Optional[str]:
    """fo: the healthy real server of highest positive weight (the first listed of equals)."""
    candidates = [name for name in healthy if weights.get(name, 0) > 0]
    return max(candidates, key=lambda name: weights[name]) if candidates else None


def least_connection_weights(weights: Mapping[str, int], active: Mapping[str, int], given: Mapping[str, int],
                             size: int = TABLE_SIZE) -> Dict[str, int]:
    """Shares (of `size` slots) that level the real servers' active connections per unit of
    weight, wlc's steady state: a server that was `given` G new connections in the last poll and
    has A open holds each for about A / G polls (Little's law), so it takes a share in
    proportion to weight * G / A (each at least NO_DATA, so that a server with no connections
    open and none given counts as quick, one with many open and none given as slow). Each
    server keeps at least one slot, so that it is measured again."""
    servers = sorted(name for name, weight in weights.items() if weight > 0)
    pace = {name: weights[name] * max(given.get(name, 0), NO_DATA) / max(active.get(name, 0), NO_DATA)
            for name in servers}
    total = sum(pace.values())
    return {name: max(1, round(pace[name] * size / total)) for name in servers}


def active_connections(counters: Mapping[str, int]) -> int:
    """Connections given to a real server and not yet closed by their client, as LVS counts
    ActiveConn in DR mode, from the client's side of each connection only."""
    return max(0, counters.get("opened", 0) - counters.get("closed", 0))


def counted(counters: Mapping[str, Mapping[int, Mapping[str, int]]], destinations: Mapping[str, int]
            ) -> Tuple[Dict[str, int], Dict[str, int]]:
    """From every proxy's counters, for `destinations` ({web host: its destination in this
    service}): each real server's active connections (given and not yet closed by their client)
    and the connections given to it so far."""
    active: Dict[str, int] = dict.fromkeys(destinations, 0)
    opened: Dict[str, int] = dict.fromkeys(destinations, 0)
    for per_proxy in counters.values():
        for name, d in destinations.items():
            active[name] += active_connections(per_proxy.get(d, {}))
            opened[name] += per_proxy.get(d, {}).get("opened", 0)
    return active, opened
