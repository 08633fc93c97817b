"""Starts Ryu with the project's application: `python -m controller.launcher --cluster FILE`.

Ryu 4.34 imports eventlet.wsgi.ALREADY_HANDLED, which eventlet removed in 0.30.3, and every
eventlet that still has it fails on Python >= 3.10. Only Ryu's WebSocket support uses the name,
so a sentinel lets Ryu start on a current eventlet (see docs/PLATFORM.md).
"""
import argparse
import atexit
import os
import shutil
import signal
import sys
import tempfile
from typing import List, Optional, Sequence

from core.apitoken import TOKEN_FILE_NAME, make_token_file, read_token_file
from core.settings import (ControllerSettings, add_health_arguments, add_network_arguments, add_proxy_arguments,
                           health_from_arguments, network_policy_from_arguments, proxy_policy_from_arguments)
from core.description import ClusterDescription
from core.rules import ConfigError
from core.flags import (OneLineParser, add_description_arguments, add_port_arguments, check_ports,
                        description_from_arguments, description_flags_given)

# Read by controller/app.py: Ryu owns the command line, so the app gets its inputs this way.
CLUSTER_ENV = "LVSDN_CLUSTER"        # the cluster description itself, as JSON
EVENTS_ENV = "LVSDN_EVENTS"
SETTINGS_ENV = "LVSDN_SETTINGS"      # ControllerSettings, as JSON
STATE_ENV = "LVSDN_STATE"            # the file that keeps what a restart must not lose
SETTINGS_FLAGS = ("--health-", "--proxies", "--preempt", "--bfd-", "--segmentation")
CONNECTIONS_ENV = "LVSDN_CONNECTIONS"
ALERTS_ENV = "LVSDN_ALERTS"          # the log reviewer's alerts, read for GET /lb/alerts
API_TOKEN_ENV = "LVSDN_API_TOKEN_FILE"   # the file that holds the REST API's token (core/apitoken.py)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m controller.launcher",
                           description="Run the LVS-style SDN controller (Ryu).")
    parser.add_argument("--cluster", help="a cluster description JSON (run.py writes one into each run "
                                          "directory); without it, the cluster the flags below describe")
    add_description_arguments(parser)
    add_port_arguments(parser)
    parser.add_argument("--log-file", help="Ryu's own log (default: stderr)")
    parser.add_argument("--events", help="controller events as JSON lines")
    parser.add_argument("--connections", help="the connection log: every connection attempt seen, JSON lines")
    parser.add_argument("--alerts", help="the log reviewer's alerts (JSON lines), served by GET /lb/alerts")
    parser.add_argument("--state", help="a file that keeps what a restart must not lose (weights, membership, "
                                        "blocks, the active proxy, real servers' last known health); read at start")
    parser.add_argument("--api-token", metavar="FILE",
                        help="the file holding the token that REST changes need, readable by its owner only (the "
                             "harness makes one per run); without it, a new one in a new private directory")
    parser.add_argument("--settings", help="the controller's settings, JSON (the harness writes one into each "
                                           "run directory); without it, the flags below")
    add_health_arguments(parser)
    add_proxy_arguments(parser)
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    try:
        if args.cluster and description_flags_given(args):
            raise ConfigError("--cluster and --%s both describe the cluster: give one or the other"
                              % description_flags_given(args)[0].replace("_", "-"))
        args.description = (ClusterDescription.load(args.cluster) if args.cluster
                            else description_from_arguments(args))
        check_ports(args)
        args.settings = settings_from_arguments(args, argv)
        if args.api_token is not None:
            args.api_token = os.path.abspath(args.api_token)
            read_token_file(args.api_token)
    except ValueError as e:        # ConfigError is one
        parser.fail(str(e))
    return args


def settings_from_arguments(args: argparse.Namespace, argv: Sequence[str]) -> ControllerSettings:
    """ControllerSettings from --settings, or from the --health-*, --proxies, --preempt, --bfd-* and
    --segmentation flags."""
    flags = [a for a in argv if a.startswith(SETTINGS_FLAGS)]
    if not args.settings:
        return ControllerSettings(health_from_arguments(args), proxy_policy_from_arguments(args),
                                  network_policy_from_arguments(args))
    if flags:
        raise ValueError("--settings and %s both set the controller's settings: give one or the other"
                         % flags[0].split("=")[0])
    try:
        with open(args.settings) as f:
            text = f.read()
    except OSError as e:
        raise ValueError("settings %s cannot be read: %s" % (args.settings, e.strerror)) from None
    try:
        return ControllerSettings.from_json(text)
    except (ValueError, TypeError) as e:
        raise ValueError("settings %s: %s" % (args.settings, e)) from None


def new_token_file() -> str:
    """A new token in a new private directory, for a controller started without --api-token.

    The directory goes when the controller does: SIGTERM takes Ctrl-C's way out of Ryu, so that
    the exit handlers run.
    """
    directory = tempfile.mkdtemp(prefix="lvsdn-api-")
    atexit.register(shutil.rmtree, directory, True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    path = os.path.join(directory, TOKEN_FILE_NAME)
    make_token_file(path)
    sys.stderr.write("controller: changes through the REST API need the token in %s\n" % path)
    return path


def ryu_arguments(args: argparse.Namespace) -> List[str]:
    ryu_args = ["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(args.of_port),
                "--wsapi-host", "127.0.0.1", "--wsapi-port", str(args.rest_port)]
    if args.log_file:
        ryu_args += ["--log-file", args.log_file]
    return ryu_args + ["controller.app"]


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ[CLUSTER_ENV] = args.description.to_json(compact=True)
    if args.events:
        os.environ[EVENTS_ENV] = os.path.abspath(args.events)
    if args.connections:
        os.environ[CONNECTIONS_ENV] = os.path.abspath(args.connections)
    if args.state:
        os.environ[STATE_ENV] = os.path.abspath(args.state)
    if args.alerts:
        os.environ[ALERTS_ENV] = os.path.abspath(args.alerts)
    os.environ[SETTINGS_ENV] = args.settings.to_json()
    os.environ[API_TOKEN_ENV] = args.api_token or new_token_file()
    # The state file is the only work in native threads, one write at a time (controller/app.py):
    # eventlet's default pool of 20 threads would each open an epoll the first time it is used.
    os.environ.setdefault("EVENTLET_THREADPOOL_SIZE", "2")
    import eventlet.wsgi
    if not hasattr(eventlet.wsgi, "ALREADY_HANDLED"):
        eventlet.wsgi.ALREADY_HANDLED = object()
    from ryu.cmd import manager
    manager.main(args=ryu_arguments(args))


if __name__ == "__main__":
    main()
