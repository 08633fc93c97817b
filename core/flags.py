"""Command-line flags shared by run.py and the controller's launcher: one parser whose errors are
one line and exit 2, the flags that describe a cluster, and the two local TCP ports."""
import argparse
import sys
from typing import List, NoReturn

from core.addressing import HAPROXY, MAX_CLIENTS, MAX_REMOTE_WEBS, MAX_WEBS, MODES, SDN, VIP
from core.builder import describe
from core.description import ClusterDescription
from core.rules import ConfigError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.fail("%s (see --help)" % message)

    def fail(self, message: str) -> NoReturn:
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        sys.exit(2)


# The description flags and their defaults; an absent flag stays None until
# description_from_arguments, so that a caller can tell whether any was given.
DESCRIPTION_DEFAULTS = {"mode": "nat", "clients": "4", "webs": "2", "remote_webs": "0", "vip": VIP,
                        "director": SDN}
COUNT_FLAGS = ("clients", "webs", "remote_webs")


def add_description_arguments(parser: argparse.ArgumentParser) -> None:
    """--mode, --clients, --webs, --remote-webs, --vip."""
    parser.add_argument("--mode", help="LVS forwarding method: %s (default nat)" % ", ".join(MODES))
    parser.add_argument("--clients", help="client hosts, 1..%d (default 4)" % MAX_CLIENTS)
    parser.add_argument("--webs", help="web hosts (real servers), 1..%d (default 2)" % MAX_WEBS)
    parser.add_argument("--remote-webs", help="web hosts one L3 hop away behind r0, 0..%d (TUN only; "
                                              "default 0)" % MAX_REMOTE_WEBS)
    parser.add_argument("--vip", help="the virtual IP, a free address of the public net (default %s)" % VIP)
    parser.add_argument("--director", help="who carries the VIP: %s (this project's proxies) or %s (keepalived + "
                                           "HAProxy on two hosts, for comparison); default %s" % (SDN, HAPROXY, SDN))


def description_flags_given(args: argparse.Namespace) -> List[str]:
    return [flag for flag in DESCRIPTION_DEFAULTS if getattr(args, flag) is not None]


def description_from_arguments(args: argparse.Namespace) -> ClusterDescription:
    """The cluster the description flags ask for, absent ones at their defaults (set on `args`,
    counts as integers); ConfigError naming the flag that cannot work."""
    for flag, default in DESCRIPTION_DEFAULTS.items():
        value = default if getattr(args, flag) is None else getattr(args, flag)
        if flag in COUNT_FLAGS and value.lstrip("-").isdigit():
            value = int(value)
        setattr(args, flag, value)
    return describe(mode=args.mode, clients=args.clients, webs=args.webs, vip=args.vip,
                    remote_webs=args.remote_webs, director=args.director)


def add_port_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rest-port", type=int, default=8080,
                        help="the controller's REST API port on 127.0.0.1 (default 8080)")
    parser.add_argument("--of-port", type=int, default=6653, help="the OpenFlow port on 127.0.0.1 (default 6653)")


def check_ports(args: argparse.Namespace) -> None:
    """ConfigError unless --rest-port and --of-port are TCP ports and not the same one."""
    for flag, port in (("--rest-port", args.rest_port), ("--of-port", args.of_port)):
        if not 1 <= port <= 65535:
            raise ConfigError("%s must be a TCP port from 1 to 65535, got %d" % (flag, port))
    if args.rest_port == args.of_port:
        raise ConfigError("--rest-port and --of-port are both %d: the REST API and OpenFlow need a "
                          "port each" % args.rest_port)
