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
  wlc  weighted least connections: every counter poll, the shares are set so that the next
  lc   poll's new connections (as many as the last poll's) level out the real servers' active
       connections per unit of weight, as wlc's choice of the least loaded server would; lc
       counts every weight as 1.
  fo   weighted failover: every slot to the available real server of highest weight.
"""
from typing import Dict, List, Mapping, Optional, Tuple

from controller.maglev import TABLE_SIZE

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


def least_connection_weights(weights: Mapping[str, int], active: Mapping[str, int], expected: int,
                             size: int = TABLE_SIZE) -> Dict[str, int]:
    """Shares (summing to about `size`) that send `expected` new connections where they level the
    active connections per unit of weight (water filling: the level L at which the servers below
    it take L * weight - active each, `expected` in all); servers above the level get none. With
    no connection expected, or none active, the weights themselves."""
    servers = sorted(name for name, weight in weights.items() if weight > 0)
    if expected <= 0 or not servers or not any(active.get(name, 0) for name in servers):
        return {name: weights[name] for name in servers}
    level = _level(servers, weights, active, expected)
    shares = {name: max(0.0, level * weights[name] - active.get(name, 0)) for name in servers}
    total = sum(shares.values())
    steered = {name: round(share * size / total) for name, share in shares.items()}
    if not any(steered.values()):           # rounding lost every share: the least loaded takes all
        steered[max(shares, key=lambda name: shares[name])] = 1
    return steered


def _level(servers: List[str], weights: Mapping[str, int], active: Mapping[str, int], expected: int) -> float:
    """The water level L of least_connection_weights."""
    ordered = sorted(servers, key=lambda name: active.get(name, 0) / weights[name])
    filled_weight = filled_active = 0.0
    level = 0.0
    for i, name in enumerate(ordered):
        filled_weight += weights[name]
        filled_active += active.get(name, 0)
        level = (expected + filled_active) / filled_weight
        following = ordered[i + 1] if i + 1 < len(ordered) else None
        if following is None or level <= active.get(following, 0) / weights[following]:
            return level
    return level


def active_connections(counters: Mapping[str, int]) -> int:
    """Connections given to a real server and not yet closed by their client, as LVS counts
    ActiveConn in DR mode, from the client's side of each connection only."""
    return max(0, counters.get("opened", 0) - counters.get("closed", 0))


def counted_active(counters: Mapping[str, Mapping[int, Mapping[str, int]]], destinations: Mapping[str, int]
                   ) -> Tuple[Dict[str, int], int]:
    """From every proxy's counters: each real server's active connections (given and not yet
    closed by their client) and the connections given to the service in all, for `destinations`
    ({web host: its destination in this service})."""
    active: Dict[str, int] = {}
    opened = 0
    for per_proxy in counters.values():
        for name, d in destinations.items():
            counted = per_proxy.get(d, {})
            active[name] = active.get(name, 0) + active_connections(counted)
            opened += counted.get("opened", 0)
    return active, opened
