"""Health of real servers, keepalived style: a probe every `interval`, each with a `timeout`; a
server is declared failed after `fall` bad probes in a row and healthy again after `rise` good
ones. Pure logic: the Ryu adapter runs the probes and feeds the results in.

A probe has one of three results:
  OK        the server answered /health with 200;
  DEGRADED  it answered, but not 200 (its DB tier is unreachable: it can still say so, fast);
  FAIL      no answer (refused, reset, timed out).
A switch port going down is a failure at once, without waiting for `fall`.
"""
from typing import Dict, Optional, Set

from core.settings import HealthSettings

OK, DEGRADED, FAIL = "ok", "degraded", "fail"
UP, DOWN, UNKNOWN = "up", "down", "unknown"
CONFIRM = "confirm"          # an extra check failed: check again at once before acting
HEALTH_STATES = {UP, DOWN, DEGRADED, UNKNOWN}
STATE_OF_RESULT = {DEGRADED: DEGRADED, FAIL: DOWN}


class ServerHealth:
    """One real server's health; `state` is up, degraded, down or unknown (no verdict yet)."""

    def __init__(self, settings: HealthSettings) -> None:
        self.settings = settings
        self.state = UNKNOWN
        self.good = 0                 # good probes in a row
        self.bad = 0                  # bad probes in a row, of either kind
        self.last_change_cause: Optional[str] = None
        self.extra_check_at = float("-inf")   # when the latest extra check was (or is to be) made
        self.failed_extra_checks = 0          # in a row, since the last good check of either kind

    def probe_result(self, result: str) -> bool:
        """Feed one probe result; True when the state changed."""
        if result == OK:
            self.good, self.bad, self.failed_extra_checks = self.good + 1, 0, 0
            wanted = UP if self.state == UNKNOWN or self.good >= self.settings.rise else self.state
            return self._become(wanted, "%d good health checks" % self.good)
        self.good, self.bad = 0, self.bad + 1
        if self.state in (UP, UNKNOWN) and self.bad < self.settings.fall:
            return False
        return self._become(STATE_OF_RESULT[result], "%d bad health checks, last: %s" % (self.bad, result))

    def passive_signal(self, now: float) -> Optional[float]:
        """A RST or ICMP error from the server was seen: in how many seconds to make an extra
        check (0: now), or None when one is already waiting. At most one per check interval, so
        that provoked RSTs cannot make the controller probe without bound; a signal within the
        interval waits for its end instead of being dropped, so that a real failure is never
        left to the regular checks."""
        if self.extra_check_at > now:
            return None
        self.extra_check_at = max(now, self.extra_check_at + self.settings.interval)
        return self.extra_check_at - now

    def extra_check_result(self, result: str, signal: str) -> Optional[str]:
        """An extra check's result: DOWN (the state changed) once `fall` of them in a row have
        failed; CONFIRM when another is due at once; None when nothing follows. As `fall`
        confirms the regular checks, one failed check alone (which a loaded machine can give)
        never takes a server out: the confirming checks follow within milliseconds, so a dead
        server is still out at its first RST."""
        if result != FAIL:
            self.failed_extra_checks = 0
            return None
        self.failed_extra_checks += 1
        if self.failed_extra_checks < self.settings.fall:
            return CONFIRM
        self.good, self.failed_extra_checks = 0, 0
        return DOWN if self._become(DOWN, "%s, then %d failed checks" % (signal, self.settings.fall)) else None

    def resume(self, state: str) -> None:
        """Start from a state known before a restart (not unknown), so that a restarted
        controller's table does not change until the checks say otherwise."""
        if state not in HEALTH_STATES:
            raise ValueError("no health state %r" % (state,))
        self.state, self.good, self.bad = state, 0, 0
        self.last_change_cause = "as before the controller restarted"

    def link_down(self) -> bool:
        self.good = 0
        return self._become(DOWN, "switch port down")

    def _become(self, state: str, cause: str) -> bool:
        if state == self.state:
            return False
        self.state, self.last_change_cause = state, cause
        return True


def usable(states: Dict[str, str]) -> Set[str]:
    """Which servers get new connections, from {name: state}: those up (or not yet judged); if
    none, the degraded ones, so that clients get their quick error answer instead of silence."""
    healthy = {name for name, state in states.items() if state in (UP, UNKNOWN)}
    return healthy or {name for name, state in states.items() if state == DEGRADED}
