"""Health of real servers, keepalived style: a probe every `interval`, each with a `timeout`; a
server is declared failed after `fall` bad probes in a row and healthy again after `rise` good
ones. Pure logic: the Ryu adapter runs the probes and feeds the results in.

A probe has one of three results:
  OK        the server answered /health with 200;
  DEGRADED  it answered, but not 200 (its DB tier is unreachable: it can still say so, fast);
  FAIL      no answer (refused, reset, timed out).
A switch port going down is a failure at once, without waiting for `fall`.
"""
from dataclasses import dataclass

OK, DEGRADED, FAIL = "ok", "degraded", "fail"
UP, DOWN, UNKNOWN = "up", "down", "unknown"
STATE_OF_RESULT = {DEGRADED: DEGRADED, FAIL: DOWN}


@dataclass(frozen=True)
class HealthSettings:
    interval: float = 0.2     # s between probes of one server
    timeout: float = 0.3      # s a probe may take
    fall: int = 2             # bad probes in a row that fail a server
    rise: int = 2             # good probes in a row that restore it

    def validate(self):
        for name in ("interval", "timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.01 <= value <= 60:
                raise ValueError("health %s must be from 0.01 to 60 seconds, got %r" % (name, value))
        for name in ("fall", "rise"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 100:
                raise ValueError("health %s must be an integer from 1 to 100, got %r" % (name, value))
        return self


def add_health_arguments(parser):
    """The --health-* flags, shared by run.py and the controller's launcher."""
    defaults = HealthSettings()
    parser.add_argument("--health-interval", type=float, default=defaults.interval,
                        help="seconds between health checks of a real server (default %g)" % defaults.interval)
    parser.add_argument("--health-timeout", type=float, default=defaults.timeout,
                        help="seconds a health check may take (default %g)" % defaults.timeout)
    parser.add_argument("--health-fall", type=int, default=defaults.fall,
                        help="failed checks in a row that take a real server out (default %d)" % defaults.fall)
    parser.add_argument("--health-rise", type=int, default=defaults.rise,
                        help="good checks in a row that bring it back (default %d)" % defaults.rise)


def health_from_arguments(args):
    """HealthSettings from the parsed --health-* flags; ValueError if they make no sense."""
    return HealthSettings(args.health_interval, args.health_timeout, args.health_fall, args.health_rise).validate()


class ServerHealth:
    """One real server's health; `state` is up, degraded, down or unknown (no verdict yet)."""

    def __init__(self, settings):
        self.settings = settings
        self.state = UNKNOWN
        self.good = 0                 # good probes in a row
        self.bad = 0                  # bad probes in a row, of either kind
        self.last_change_cause = None

    def probe_result(self, result):
        """Feed one probe result; True when the state changed."""
        if result == OK:
            self.good, self.bad = self.good + 1, 0
            wanted = UP if self.state == UNKNOWN or self.good >= self.settings.rise else self.state
            return self._become(wanted, "%d good health checks" % self.good)
        self.good, self.bad = 0, self.bad + 1
        if self.state in (UP, UNKNOWN) and self.bad < self.settings.fall:
            return False
        return self._become(STATE_OF_RESULT[result], "%d bad health checks, last: %s" % (self.bad, result))

    def link_down(self):
        self.good = 0
        return self._become(DOWN, "switch port down")

    def _become(self, state, cause):
        if state == self.state:
            return False
        self.state, self.last_change_cause = state, cause
        return True


def usable(states):
    """Which servers get new connections, from {name: state}: those up (or not yet judged); if
    none, the degraded ones, so that clients get their quick error answer instead of silence."""
    healthy = {name for name, state in states.items() if state in (UP, UNKNOWN)}
    return healthy or {name for name, state in states.items() if state == DEGRADED}
