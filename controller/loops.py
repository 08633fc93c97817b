"""The controller's background loops (proxy prober, health checkers, counter poller, block
expiry), each guarded: an exception in one round is reported and the loop goes on with the next.
Each loop's last completed round is kept, so that a loop that stopped going round (stuck, or
dead) shows as stale in `GET /lb/status` and fails the self-check.

Pure bookkeeping, driven with a `sleep` and a `clock` (eventlet's in the controller, fakes in
tests/unit/test_loops.py). For fault-injection tests, the loops named in `fault_once` (or every
loop, with "all") raise InjectedFault in their first round.
"""
from typing import Any, Callable, Dict, Iterable, Optional, Set

FAULT_ENV = "LVSDN_FAULT_ROUNDS"   # comma-separated loop names, or "all": fault injection for tests
STALE_ROUNDS = 5           # a loop is stale when its last round is this many intervals old...
STALE_MIN_SECONDS = 3.0    # ...and at least this old (a busy controller may lag a round or two)


class InjectedFault(RuntimeError):
    """A round made to fail on purpose (fault injection)."""


class Loops:
    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None],
                 on_failure: Callable[[str, Exception], None], fault_once: Iterable[str] = ()) -> None:
        self.clock, self.sleep, self.on_failure = clock, sleep, on_failure
        self.fault_once: Set[str] = set(fault_once)
        self.injected: Set[str] = set()
        self.started = clock()
        self.intervals: Dict[str, float] = {}       # loop name -> seconds between rounds
        self.last_round: Dict[str, float] = {}      # loop name -> clock time its last round completed
        self.failures: Dict[str, int] = {}        # loop name -> rounds that raised

    def run(self, name: str, interval: float, one_round: Callable[[], None]) -> None:
        """Call `one_round()` every `interval` seconds, forever. A round that raises is passed to
        `on_failure(name, exception)`; the loop sleeps and goes round again."""
        self.intervals[name] = interval
        self.failures.setdefault(name, 0)
        while True:
            self.sleep(interval)
            try:
                self._maybe_inject(name)
                one_round()
            except Exception as error:  # noqa: BLE001 - a loop must outlive one bad round
                self.failures[name] += 1
                self.on_failure(name, error)
            else:
                self.last_round[name] = self.clock()

    def _maybe_inject(self, name: str) -> None:
        if (name in self.fault_once or "all" in self.fault_once) and name not in self.injected:
            self.injected.add(name)
            raise InjectedFault("a fault injected into %s's first round" % name)

    def stale(self, name: str, now: Optional[float] = None) -> bool:
        now = self.clock() if now is None else now
        since = now - self.last_round.get(name, self.started)
        return since > max(STALE_ROUNDS * self.intervals[name], STALE_MIN_SECONDS)

    def status(self) -> Dict[str, Dict[str, Any]]:
        """Per loop: its interval, seconds since its last completed round (None if none yet),
        the rounds that failed, and whether it is stale."""
        now = self.clock()
        return {name: {"interval_s": interval,
                       "last_round_s_ago": round(now - self.last_round[name], 3) if name in self.last_round else None,
                       "failed_rounds": self.failures[name], "stale": self.stale(name, now)}
                for name, interval in sorted(self.intervals.items())}
