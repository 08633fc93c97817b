"""Maglev consistent hashing with weights (Eisenbud et al., NSDI 2016), as Katran uses it.

The lookup table has TABLE_SIZE slots; the data plane hashes each connection's 5-tuple to a slot
(a select group's datapath hash, whose hash values Open vSwitch hands out to at most 256 buckets:
see controller/pipeline.py) and the slot names the real server. Both proxies compute the same table from the
same inputs, so a connection maps to the same real server through either. Maglev's paper takes
a prime size so that any skip walks every slot; with 256, a power of two, every odd skip does.

Two kinds of change, two rules:
  - weights (including drain to 0) re-run Maglev's population: its minimal disruption keeps most
    slots, and established connections are pinned by the data plane's connection table anyway;
  - a real server that fails keeps its place in the table, and only its own slots move, each to
    the healthy server that ranks first for that slot by weighted rendezvous hashing; so removing
    one of N servers moves that server's keys and nobody else's.
"""
import hashlib
import math
from typing import Collection, Iterable, List, Mapping, Optional, Tuple

TABLE_SIZE = 256


def _hash(*parts: object) -> int:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _permutation(name: str, size: int) -> Tuple[int, int]:
    """Where the server's preference list starts, and its step: coprime with the size, so
    that the list visits every slot."""
    offset = _hash("offset", name) % size
    skip = _hash("skip", name) % (size - 1) + 1
    while math.gcd(skip, size) != 1:
        skip += 1
    return offset, skip


def populate(weights: Mapping[str, int], size: int = TABLE_SIZE) -> List[Optional[str]]:
    """Maglev's table: a list of `size` server names (None everywhere if no weight is positive).

    Weighted population: in each round a server claims as many slots as its weight (after
    dividing all weights by their common divisor), each time taking the next free slot of its
    own permutation."""
    servers = sorted(name for name, w in weights.items() if w > 0)
    table: List[Optional[str]] = [None] * size
    if not servers:
        return table
    divisor = math.gcd(*(weights[s] for s in servers))
    turns = {s: weights[s] // divisor for s in servers}
    perms = {s: _permutation(s, size) for s in servers}
    following = dict.fromkeys(servers, 0)
    filled = 0
    while True:
        for server in servers:
            offset, skip = perms[server]
            for _ in range(turns[server]):
                slot = (offset + following[server] * skip) % size
                while table[slot] is not None:
                    following[server] += 1
                    slot = (offset + following[server] * skip) % size
                table[slot] = server
                following[server] += 1
                filled += 1
                if filled == size:
                    return table


def _rendezvous_owner(slot: int, candidates: Iterable[str], weights: Mapping[str, int]) -> str:
    """Weighted rendezvous (highest random weight) choice of a server for one slot."""
    def score(name: str) -> float:
        unit = (_hash("hrw", slot, name) + 1) / float(2 ** 64 + 1)
        return -weights[name] / math.log(unit)
    return max(sorted(candidates), key=score)


def lookup_table(weights: Mapping[str, int], healthy: Collection[str],
                 size: int = TABLE_SIZE) -> List[Optional[str]]:
    """The table the data plane uses: `populate(weights)` with the slots of servers that are not
    in `healthy` handed to healthy servers with a positive weight (None if there is none)."""
    table = populate(weights, size)
    candidates = [s for s in healthy if weights.get(s, 0) > 0]
    for slot, owner in enumerate(table):
        if owner is not None and owner not in healthy:
            table[slot] = _rendezvous_owner(slot, candidates, weights) if candidates else None
    return table


def slot_of(key: object, size: int = TABLE_SIZE) -> int:
    """Where a key (any hashable description of a connection) falls; for tests and tools."""
    return _hash("key", key) % size
