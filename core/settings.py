"""Settings of the controller (health checks, proxy policy) and of the log reviewer (thresholds),
shared by the harness, run.py, the controller's launcher and the reviewer.

One validation mechanism for all of them: each field names its rule in its metadata, and a
dataclass checks every field when it is made (a bool is never a number, NaN and infinity are
never in range), so that a bad value fails where it is given, with a message naming the setting.
"""
import json
from argparse import ArgumentParser, Namespace
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, TypeVar

from core.rules import is_integer, is_number

ACTIVE_STANDBY, ACTIVE_ACTIVE = "active-standby", "active-active"
C = TypeVar("C", bound="Checked")
S = TypeVar("S", bound="ControllerSettings")


@dataclass(frozen=True)
class Rule:
    must: str              # what a value must be, for the message
    obeys: Callable[[Any], bool]


def seconds(default: float, low: float, high: float) -> Any:
    return field(default=default, metadata={"rule": Rule(
        "from %g to %g seconds" % (low, high), lambda v: is_number(v) and low <= v <= high)})


def integer(default: int, low: int, high: int) -> Any:
    return field(default=default, metadata={"rule": Rule(
        "an integer from %d to %d" % (low, high),
        lambda v: is_integer(v, low, high))})


def positive(default: float) -> Any:
    return field(default=default, metadata={"rule": Rule("a positive number", lambda v: is_number(v) and v > 0)})


def one_of(default: str, *choices: str) -> Any:
    return field(default=default, metadata={"rule": Rule(" or ".join(map(str, choices)), lambda v: v in choices)})


def flag(default: bool) -> Any:
    return field(default=default, metadata={"rule": Rule("true or false", lambda v: isinstance(v, bool))})


class Checked:
    """Base of the settings dataclasses: checks each field against its rule when made."""
    WHAT = "setting"       # how messages name the settings: "health interval must be ..."

    def __post_init__(self) -> None:
        self.validate()

    def validate(self: C) -> C:
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            rule, value = f.metadata.get("rule"), getattr(self, f.name)
            if rule and not rule.obeys(value):
                raise ValueError("%s %s must be %s, got %r" % (self.WHAT, f.name, rule.must, value))
        return self


@dataclass(frozen=True)
class HealthSettings(Checked):
    """keepalived-style health checks of the real servers (controller/health.py)."""
    WHAT = "health"
    interval: float = seconds(0.2, 0.01, 60)     # between probes of one server
    timeout: float = seconds(0.3, 0.01, 60)      # a probe may take
    fall: int = integer(2, 1, 100)               # bad probes in a row that fail a server
    rise: int = integer(2, 1, 100)               # good probes in a row that restore it
    passive: bool = flag(True)                   # a real server's RST or ICMP error triggers a check at once


@dataclass(frozen=True)
class ProxyPolicy(Checked):
    """Which proxies carry the VIP and how their liveness is probed (controller/proxies.py)."""
    WHAT = "proxy"
    mode: str = one_of(ACTIVE_STANDBY, ACTIVE_STANDBY, ACTIVE_ACTIVE)
    preempt: bool = flag(False)
    # With preempt: how long the preferred proxy must have been alive, BFD live on its cables,
    # before it takes the VIP back (keepalived's preempt_delay), so that a flapping proxy or a
    # stalled switch's half-heard sessions do not move the VIP twice.
    preempt_delay: float = seconds(1.0, 0, 3600)
    probe_interval: float = seconds(0.1, 0.01, 60)    # between liveness probes of each proxy, on each side
    probe_timeout: float = seconds(0.35, 0.01, 60)    # without a probe back: the proxy is dead
    # BFD on the proxies' cables, in milliseconds (Open vSwitch's bfd:min_rx, bfd:min_tx): a proxy
    # goes unheard after 3 of the slower of its intervals, and the edges' fast-failover groups
    # leave it. Under 10 ms a 2-core userspace switch misses its own deadlines; over 1 s a
    # client's lost SYN is retransmitted before the failover.
    bfd_min_rx: int = integer(20, 10, 1000)
    bfd_min_tx: int = integer(20, 10, 1000)

    def validate(self) -> "ProxyPolicy":
        super().validate()
        if self.preempt and self.mode == ACTIVE_ACTIVE:
            raise ValueError("preemption applies to %s only: in %s every live proxy carries the VIP"
                             % (ACTIVE_STANDBY, ACTIVE_ACTIVE))
        return self


@dataclass(frozen=True)
class NetworkPolicy(Checked):
    """What the edge switches let through (core/segmentation.py). Port security, which
    stops forged source addresses, is always on."""
    WHAT = "network"
    segmentation: bool = flag(True)      # hosts may send only what the matrix allows


@dataclass(frozen=True)
class Thresholds(Checked):
    """The log reviewer's criteria (apps/detect.py); counts, and windows in seconds."""
    WHAT = "threshold"
    portscan_ports: int = positive(15)
    portscan_window: float = positive(300)
    sweep_hosts: int = positive(25)
    sweep_window: float = positive(300)
    synflood_attempts: int = positive(200)
    synflood_window: float = positive(2)
    bruteforce_failures: int = positive(5)
    bruteforce_window: float = positive(600)
    realert: float = positive(600)


@dataclass(frozen=True)
class ControllerSettings:
    """Everything the controller is given beyond the cluster's description, as one JSON document
    (the harness writes it into each run directory; `--settings` of the launcher reads it)."""
    health: HealthSettings = field(default_factory=HealthSettings)
    proxy_policy: ProxyPolicy = field(default_factory=ProxyPolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls: "type[S]", text: str) -> S:
        """The settings in `text`; ValueError naming what is wrong (unset settings keep their
        defaults)."""
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValueError("not JSON: %s" % e) from None
        parts: dict = {f.name: f.default_factory for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - set(parts):
            raise ValueError("must be an object with some of: %s" % ", ".join(sorted(parts)))
        settings = {}
        for name, kind in parts.items():
            given = data.get(name, {})
            known = {f.name for f in fields(kind)}
            if not isinstance(given, dict) or set(given) - known:
                raise ValueError("%s must be an object with some of: %s" % (name, ", ".join(sorted(known))))
            settings[name] = kind(**given)
        return cls(**settings)


def add_health_arguments(parser: ArgumentParser) -> None:
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
    parser.add_argument("--health-passive", choices=("on", "off"), default="on" if defaults.passive else "off",
                        help="passive checks: a real server's RST or ICMP error seen by its switch triggers an "
                             "active check at once, and a failed one takes it out (default on)")


def health_from_arguments(args: Namespace) -> HealthSettings:
    """HealthSettings from the parsed --health-* flags; ValueError if they make no sense."""
    return HealthSettings(args.health_interval, args.health_timeout, args.health_fall, args.health_rise,
                          passive=args.health_passive == "on")


def add_proxy_arguments(parser: ArgumentParser) -> None:
    """--proxies, --preempt and the BFD timers, shared by run.py and the controller's launcher."""
    defaults = ProxyPolicy()
    parser.add_argument("--proxies", default=ACTIVE_STANDBY,
                        help="%s (one proxy carries the VIP, the other takes over) or %s (both carry it, "
                             "s_pub spreads connections); default %s" % (ACTIVE_STANDBY, ACTIVE_ACTIVE, ACTIVE_STANDBY))
    parser.add_argument("--preempt", action="store_true",
                        help="a recovered lb1 takes the VIP back (default: it stays standby)")
    parser.add_argument("--preempt-delay", type=float, default=defaults.preempt_delay, metavar="SECONDS",
                        help="with --preempt: how long lb1 must have been alive, BFD live on its cables, "
                             "before it takes the VIP back (0..3600, default %g)" % defaults.preempt_delay)
    parser.add_argument("--bfd-min-rx", type=int, default=defaults.bfd_min_rx, metavar="MS",
                        help="BFD on the proxies' cables: the fastest rate, in ms, at which a switch wants "
                             "to hear the other end (10..1000, default %d)" % defaults.bfd_min_rx)
    parser.add_argument("--bfd-min-tx", type=int, default=defaults.bfd_min_tx, metavar="MS",
                        help="BFD on the proxies' cables: the fastest rate, in ms, at which a switch sends "
                             "(10..1000, default %d); a silent proxy is left after 3 intervals"
                        % defaults.bfd_min_tx)


def proxy_policy_from_arguments(args: Namespace) -> ProxyPolicy:
    """ProxyPolicy from the parsed --proxies, --preempt and --bfd-* flags; ValueError if they make
    no sense."""
    return ProxyPolicy(mode=args.proxies, preempt=args.preempt, preempt_delay=args.preempt_delay,
                       bfd_min_rx=args.bfd_min_rx, bfd_min_tx=args.bfd_min_tx)


def add_network_arguments(parser: ArgumentParser) -> None:
    """--segmentation, shared by run.py and the controller's launcher."""
    parser.add_argument("--segmentation", choices=("on", "off"), default="on",
                        help="least privilege at the edges: each host may send only what docs/SECURITY.md's matrix "
                             "allows, the rest is dropped and logged as blocked (default on; off: any host "
                             "reaches any address it can route to, as a plain LAN)")


def network_policy_from_arguments(args: Namespace) -> NetworkPolicy:
    return NetworkPolicy(segmentation=args.segmentation == "on")
