#!/usr/bin/env python3
"""Start the LVS-style SDN cluster: controller, Mininet network, etcd, web servers.

    sudo python topologies/run.py [--mode nat|tun|dr] [--clients N] [--webs N] [--no-cli]

Shows each start-up step with its time, prints the cluster's nodes, addresses and roles, then
opens the Mininet CLI (extra commands: status, fail, recover). With --no-cli it runs a self-check
instead and exits 0 only if every check passes. Ctrl-D, Ctrl-C, SIGTERM or a crash tear everything
down.
"""
import importlib.util
import os
import sys

# run.py starts under the system Python (sudo python), where the venv's package is not yet
# importable: the one place besides core/paths.py that works out the tree.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
sys.path.insert(0, ROOT)

from core.rules import ConfigError  # noqa: E402
from core.builder import describe_keepalived  # noqa: E402
from core.keepalived import load_keepalived, notes  # noqa: E402
from core.services import load_rules  # noqa: E402
from core.flags import (OneLineParser, add_description_arguments, add_port_arguments,  # noqa: E402
                        check_ports, description_flags_given, description_from_arguments)
from core.settings import (add_health_arguments, add_network_arguments, add_proxy_arguments,  # noqa: E402
                           health_from_arguments, network_policy_from_arguments, proxy_policy_from_arguments)
from topologies.runstate import check_run_dir  # noqa: E402

REQUIRED_MODULES = ("mininet", "ryu", "eventlet", "requests")


def fail(message):
    OneLineParser(prog="run.py").fail(message)


def parse_args(argv):
    parser = OneLineParser(prog="run.py", description=__doc__.split("\n")[0])
    add_description_arguments(parser)
    add_health_arguments(parser)
    add_proxy_arguments(parser)
    add_network_arguments(parser)
    parser.add_argument("--services", metavar="FILE",
                        help="the virtual services, an ipvsadm-save rules file (as /etc/ipvsadm.rules): "
                             "-A -t|-u VIP:PORT -s mh, -a -t|-u VIP:PORT -r ADDRESS[:PORT] -m|-g|-i -w WEIGHT "
                             "(default: TCP 80 on --vip by --mode)")
    parser.add_argument("--keepalived", metavar="FILE",
                        help="build the cluster a keepalived.conf describes: its virtual servers, VIPs, real "
                             "servers (a web host each, at its address) and checkers' timers, in place of "
                             "--mode, --webs, --vip and --services")
    parser.add_argument("--no-review", action="store_true", help="do not run the log reviewer")
    parser.add_argument("--no-block", action="store_true",
                        help="the log reviewer flags suspicious sources but does not block them")
    parser.add_argument("--no-cli", action="store_true", help="run the self-check and exit instead of the CLI")
    add_port_arguments(parser)
    parser.add_argument("--run-dir", help="where logs and etcd data go (default runs/<time>-<mode>)")
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except ValueError as e:        # ConfigError is one
        parser.fail(str(e))
    return args


def check_args(args):
    """Every flag, and the combinations that cannot work, before anything starts: ValueError
    naming the flag, the value and what is allowed."""
    given = description_flags_given(args)
    description = description_from_arguments(args)
    args.keepalived_config, args.keepalived_description = ((None, None) if args.keepalived is None
                                                           else read_keepalived(args, given))
    args.service_lines = None if args.services is None else read_services(args.services, description)
    args.health = health_from_arguments(args)
    args.proxy_policy = proxy_policy_from_arguments(args)
    args.network_policy = network_policy_from_arguments(args)
    check_ports(args)
    if args.no_block and args.no_review:
        raise ConfigError("--no-block has no effect with --no-review: without the log reviewer "
                          "nothing blocks; give one or the other")
    if args.run_dir is not None:
        check_run_dir(args.run_dir)


def read_keepalived(args, given):
    """The keepalived.conf read and the cluster it describes, checked whole (KeepalivedError naming
    the file, the line and the keyword); the flags it stands in for (`given` of them) are refused
    beside it."""
    given = [flag for flag in given if flag != "clients"]
    if given or args.services is not None:
        raise ConfigError("--keepalived %s describes the cluster: leave out --%s" % (
            args.keepalived, (given + ["services"])[0].replace("_", "-")))
    config = load_keepalived(args.keepalived)
    return config, describe_keepalived(config, clients=args.clients)


def read_services(path, description):
    """The lines of a rules file, each checked for the cluster (ConfigError naming the file and
    the first line that cannot work)."""
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("--services %s cannot be read: %s" % (path, getattr(e, "strerror", None) or e)) from None
    load_rules(text, path, description)
    return text.splitlines()


def ensure_environment():
    """Root, and a Python that has the dependencies: re-run under the project's virtualenv when
    started by another Python (`sudo python topologies/run.py`)."""
    if os.geteuid() != 0:
        fail("needs root (Mininet creates namespaces and veths): re-run with sudo")
    missing = [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return
    venv_python = os.path.join(VENV, "bin", "python")
    if os.path.exists(venv_python) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.execv(venv_python, [venv_python, os.path.abspath(__file__)] + sys.argv[1:])
    fail("this Python (%s) lacks %s: run `sudo scripts/install.sh` once, or start the cluster "
         "with `sudo scripts/cluster.sh`" % (sys.executable, ", ".join(missing)))


def print_table(cluster):
    d = cluster.description
    status = cluster.rest("GET", "/lb/status")
    print("\nVIP %s (MAC %s), forwarding method %s, proxies %s, active %s" % (
        d.vip, d.vip_mac, d.mode.upper(), status["proxy_mode"], ", ".join(status["active_proxies"])))
    print("dashboard %s\nREST API http://127.0.0.1:%d/lb/ (changes need the token in %s), run directory %s\n"
          % (cluster.dashboard_url, cluster.rest_port, cluster.api_token_path, cluster.run_dir))
    row = "%-7s %-10s %-10s %-18s %-18s %s"
    print(row % ("NODE", "ROLE", "INTERFACE", "ADDRESS", "MAC", "SWITCH:PORT"))
    for host in d.hosts:
        for i, intf in enumerate(host.interfaces):
            print(row % (host.name if i == 0 else "", host.role if i == 0 else "", intf.name.split("-")[1],
                         "%s/%d" % (intf.ip, intf.prefixlen), intf.mac, "%s:%d" % (intf.switch, intf.port)))
    for switch in status["switches"]:
        role = switch["role"]
        if switch["name"] in d.proxies:
            role = "proxy, " + next(p["role"] for p in status["proxies"] if p["name"] == switch["name"])
        print(row % (switch["name"], "switch", "dpid " + switch["dpid"], role, "", ""))
    print()


def self_check(cluster):
    from topologies.selfcheck import run_checks
    results = run_checks(cluster)
    for name, ok, detail in results:
        print("  %s %-12s %s" % ("ok  " if ok else "FAIL", name, detail))
    passed = sum(ok for _, ok, _ in results)
    print("self-check: %d passed, %d failed" % (passed, len(results) - passed))
    return passed == len(results)


def open_cli(cluster):
    from topologies.cli import ClusterCLI
    ClusterCLI(cluster)


def cluster_options(args):
    """The Cluster's keyword arguments for run.py's flags (docs/EXPERIMENTS.md's test starts its
    clusters from the page's run.py lines with them)."""
    return dict(mode=args.mode, clients=args.clients, webs=args.webs, vip=args.vip, remote_webs=args.remote_webs,
                health=args.health, proxy_policy=args.proxy_policy, network_policy=args.network_policy,
                review=not args.no_review, block=not args.no_block, run_dir=args.run_dir, director=args.director,
                services=args.service_lines, services_from=args.services, keepalived=args.keepalived_config,
                rest_port=args.rest_port, of_port=args.of_port)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    ensure_environment()
    from topologies.cluster import Cluster, ClusterError
    config, description = args.keepalived_config, args.keepalived_description
    if config is not None:
        print("starting the cluster of %s: %d virtual servers, %d clients, %d web hosts" % (
            args.keepalived, len(config.services), args.clients, len(description.real_servers)))
        for line in notes(config, description.vips + [description.nat_gateway]):
            print("  " + line)
    else:
        print("starting the cluster: %s mode, %d clients, %d web hosts"
              % (args.mode.upper(), args.clients, args.webs))
    try:
        with Cluster(progress=print, **cluster_options(args)) as cluster:
            print_table(cluster)
            if args.no_cli:
                ok = self_check(cluster)
            else:
                open_cli(cluster)
                ok = True
            print("tearing down")
    except ClusterError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; the cluster was torn down")
    print("torn down: no switch, host or process of this run is left")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
