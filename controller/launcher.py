"""Starts Ryu with the project's application: `python -m controller.launcher --cluster FILE`.

Ryu 4.34 imports eventlet.wsgi.ALREADY_HANDLED, which eventlet removed in 0.30.3, and every
eventlet that still has it fails on Python >= 3.10. Only Ryu's WebSocket support uses the name,
so a sentinel lets Ryu start on a current eventlet (see ../shared/PLATFORM.md).
"""
import argparse
import dataclasses
import json
import os
import sys

from controller.health import add_health_arguments, health_from_arguments
from controller.proxies import ACTIVE_ACTIVE, ACTIVE_STANDBY, ProxyPolicy

# Read by controller/app.py: Ryu owns the command line, so the app gets its inputs this way.
CLUSTER_ENV = "LVSDN_CLUSTER"
EVENTS_ENV = "LVSDN_EVENTS"
HEALTH_ENV = "LVSDN_HEALTH"
PROXIES_ENV = "LVSDN_PROXIES"
CONNECTIONS_ENV = "LVSDN_CONNECTIONS"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m controller.launcher",
                                     description="Run the LVS-style SDN controller (Ryu).")
    parser.add_argument("--cluster", required=True, help="cluster description JSON (written by the harness)")
    parser.add_argument("--of-port", type=int, default=6653, help="OpenFlow port on 127.0.0.1")
    parser.add_argument("--rest-port", type=int, default=8080, help="REST API port on 127.0.0.1")
    parser.add_argument("--log-file", help="Ryu's own log (default: stderr)")
    parser.add_argument("--events", help="controller events as JSON lines")
    parser.add_argument("--connections", help="the connection log: every connection attempt seen, JSON lines")
    add_health_arguments(parser)
    parser.add_argument("--proxies", choices=(ACTIVE_STANDBY, ACTIVE_ACTIVE), default=ACTIVE_STANDBY,
                        help="one proxy carries the VIP, or both at once")
    parser.add_argument("--preempt", action="store_true",
                        help="a recovered preferred proxy takes the VIP back (default: it stays standby)")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.cluster):
        parser.error("cluster description not found: %s" % args.cluster)
    try:
        args.health = health_from_arguments(args)
    except ValueError as e:
        parser.error(str(e))
    return args


def ryu_arguments(args):
    ryu_args = ["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(args.of_port),
                "--wsapi-host", "127.0.0.1", "--wsapi-port", str(args.rest_port)]
    if args.log_file:
        ryu_args += ["--log-file", args.log_file]
    return ryu_args + ["controller.app"]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ[CLUSTER_ENV] = os.path.abspath(args.cluster)
    if args.events:
        os.environ[EVENTS_ENV] = os.path.abspath(args.events)
    if args.connections:
        os.environ[CONNECTIONS_ENV] = os.path.abspath(args.connections)
    os.environ[HEALTH_ENV] = json.dumps(dataclasses.asdict(args.health))
    os.environ[PROXIES_ENV] = json.dumps({"mode": args.proxies, "preempt": args.preempt})
    import eventlet.wsgi
    if not hasattr(eventlet.wsgi, "ALREADY_HANDLED"):
        eventlet.wsgi.ALREADY_HANDLED = object()
    from ryu.cmd import manager
    manager.main(args=ryu_arguments(args))


if __name__ == "__main__":
    main()
