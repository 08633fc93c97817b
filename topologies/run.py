#!/usr/bin/env python3
"""Start the LVS-style SDN cluster: controller, Mininet network, etcd, web servers.

    sudo python topologies/run.py [--mode nat|tun|dr] [--clients N] [--webs N] [--no-cli]

Shows each start-up step with its time, prints the cluster's nodes, addresses and roles, then
opens the Mininet CLI (extra commands: status, fail, recover). With --no-cli it runs a self-check
instead and exits 0 only if every check passes. Ctrl-D, Ctrl-C, SIGTERM or a crash tear everything
down.
"""
import argparse
import importlib.util
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
sys.path.insert(0, ROOT)

from controller.health import add_health_arguments, health_from_arguments  # noqa: E402
from controller.proxies import ACTIVE_ACTIVE, ACTIVE_STANDBY, ProxyPolicy  # noqa: E402
from topologies.description import (MAX_CLIENTS, MAX_REMOTE_WEBS, MAX_WEBS, MODES, VIP,  # noqa: E402
                                    ConfigError, describe)

REQUIRED_MODULES = ("mininet", "ryu", "eventlet", "requests")


def fail(message):
    sys.stderr.write("run.py: error: %s\n" % message)
    sys.exit(2)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        fail("%s (see --help)" % message)


def parse_args(argv):
    parser = Parser(prog="run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", default="nat", help="LVS forwarding method: %s (default nat)" % ", ".join(MODES))
    parser.add_argument("--clients", default="4", help="client hosts, 1..%d (default 4)" % MAX_CLIENTS)
    parser.add_argument("--webs", default="2", help="web hosts (real servers), 1..%d (default 2)" % MAX_WEBS)
    parser.add_argument("--remote-webs", default="0",
                        help="web hosts one L3 hop away behind r0, 0..%d (TUN only; default 0)" % MAX_REMOTE_WEBS)
    parser.add_argument("--vip", default=VIP, help="the virtual IP, on the public net (default %s)" % VIP)
    add_health_arguments(parser)
    parser.add_argument("--proxies", default=ACTIVE_STANDBY,
                        help="%s (one proxy carries the VIP, the other takes over) or %s (both carry "
                             "it, s_pub spreads connections); default %s" % (ACTIVE_STANDBY, ACTIVE_ACTIVE, ACTIVE_STANDBY))
    parser.add_argument("--preempt", action="store_true",
                        help="a recovered lb1 takes the VIP back (default: it stays standby)")
    parser.add_argument("--no-review", action="store_true", help="do not run the log reviewer")
    parser.add_argument("--no-block", action="store_true",
                        help="the log reviewer flags suspicious sources but does not block them")
    parser.add_argument("--no-cli", action="store_true", help="run the self-check and exit instead of the CLI")
    parser.add_argument("--rest-port", type=int, default=8080, help="controller REST port on 127.0.0.1 (default 8080)")
    parser.add_argument("--of-port", type=int, default=6653, help="OpenFlow port on 127.0.0.1 (default 6653)")
    parser.add_argument("--run-dir", help="where logs and etcd data go (default runs/<time>-<mode>)")
    args = parser.parse_args(argv)
    for flag in ("clients", "webs", "remote_webs"):
        value = getattr(args, flag)
        setattr(args, flag, int(value) if value.lstrip("-").isdigit() else value)
    try:
        describe(mode=args.mode, clients=args.clients, webs=args.webs, vip=args.vip,
                 remote_webs=args.remote_webs)
    except ConfigError as e:
        fail(str(e))
    try:
        args.health = health_from_arguments(args)
        ProxyPolicy(mode=args.proxies, preempt=args.preempt).validate()
    except ValueError as e:
        fail(str(e))
    for flag, port in (("--rest-port", args.rest_port), ("--of-port", args.of_port)):
        if not 1 <= port <= 65535:
            fail("%s must be a TCP port from 1 to 65535, got %d" % (flag, port))
    return args


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
    print("REST API http://127.0.0.1:%d/lb/status, run directory %s\n" % (cluster.rest_port, cluster.run_dir))
    row = "%-7s %-8s %-10s %-16s %-18s %s"
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


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    ensure_environment()
    from topologies.cluster import Cluster, ClusterError

    # SIGTERM and SIGHUP unwind like Ctrl-C, so the context manager tears everything down.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(143))
    print("starting the cluster: %s mode, %d clients, %d web hosts" % (args.mode.upper(), args.clients, args.webs))
    try:
        with Cluster(mode=args.mode, clients=args.clients, webs=args.webs, vip=args.vip,
                     remote_webs=args.remote_webs, health=args.health, proxies=args.proxies,
                     preempt=args.preempt, review=not args.no_review, block=not args.no_block,
                     run_dir=args.run_dir,
                     rest_port=args.rest_port, of_port=args.of_port, progress=print) as cluster:
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
