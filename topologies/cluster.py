"""The Cluster harness: starts and stops everything; run.py, tests, benchmarks and experiments
all use it.

    with Cluster(mode="nat", clients=4, webs=2) as cluster:
        cluster.host("c1").cmd("curl -s http://%s/" % cluster.vip)
        cluster.rest("GET", "/lb/status")

Start order: pre-flight checks, the controller (Ryu), the Mininet network (its switches connect
and receive their flows), the etcd cluster on db1..db3, the web servers. Stop undoes all of it,
whatever failed on the way; a run that crashed is cleaned up by the next one.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from urllib.parse import urlencode

import requests
from mininet.log import setLogLevel
from mininet.net import Mininet

from core.addressing import SDN, VIP
from core.apitoken import HARNESS, TOKEN_FILE_NAME, make_token_file, request_headers
from core.builder import describe, describe_keepalived, with_services
from core.paths import ROOT
from core.rules import ConfigError
from core.keepalived import health_settings as keepalived_health
from core.keepalived import load_keepalived
from core.services import load_rules
from core.settings import ControllerSettings, HealthSettings, NetworkPolicy, ProxyPolicy
from topologies import hostsetup
from topologies.dbtier import EtcdCluster
from topologies.faults import CONTROLLER, FAILURE_KINDS, FAULTS
from topologies.mininet_io import ListeningController, port_listening, read_output_leniently
from topologies.peer import PeerSettings
from topologies.peerdirectors import PeerDirectors
from topologies.priority import CONTROLLER_NICE, SWITCHES_NICE, ovs_vswitchd_pid, rank, set_autogroup_nice
from topologies.realservers import RealServers
from topologies.reviewer import LogReviewer
from topologies.runstate import (ClusterError, RunRecord, check_run_dir, default_run_dir, die_with_this_process,
                                 require_free_port, sh, stop_processes, wait_until)
from topologies.staticweb import APP, NGINX, check_web_server
from topologies.topo import LvsTopo
from topologies.virtualservices import VirtualServices

# Signals that end a run the way Ctrl-C does: the harness tears everything down first.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
__all__ = ["Cluster", "ClusterError", "ConfigError", "ControllerDown", "RestError"]

read_output_leniently()


class ControllerDown(ClusterError):
    """The controller does not answer (it failed, or is starting)."""


class RestError(ClusterError):
    def __init__(self, method, path, status, body):
        super().__init__("%s %s answered %d: %s" % (method, path, status, body.get("error", body)))
        self.status, self.body = status, body


def missing_tools(director=SDN, web_server=APP):
    """The programs a cluster with this director and web server needs that this machine lacks."""
    tools = ["ovs-vsctl", "etcd", "etcdctl", "ethtool", "curl"]
    if director != SDN:
        tools += ["haproxy", "keepalived"]
    if web_server == NGINX:
        tools.append("nginx")
    return [tool for tool in tools if not shutil.which(tool)]


class Cluster:
    def __init__(self, mode="nat", clients=4, webs=2, vip=VIP, remote_webs=0, run_dir=None,
                 rest_port=8080, of_port=6653, health=HealthSettings(), proxy_policy=ProxyPolicy(),
                 network_policy=NetworkPolicy(), review=False, block=True, progress=None, director=SDN,
                 peer=PeerSettings(), web_server=APP, services=None, services_from="services", keepalived=None,
                 plain_switches=False):
        if keepalived is not None:   # a keepalived.conf's path, or the file read: in place of the description's flags
            keepalived = load_keepalived(keepalived) if isinstance(keepalived, str) else keepalived
            self.description = describe_keepalived(keepalived, clients=clients)
            health = keepalived_health(keepalived) if health == HealthSettings() else health
            mode = self.description.mode
        else:
            self.description = describe(mode=mode, clients=clients, webs=webs, vip=vip,
                                        remote_webs=remote_webs, director=director)
        if services is not None:     # ipvsadm-save lines; refused naming `services_from` and the line
            self.description = with_services(self.description,
                                             load_rules("\n".join(services), services_from, self.description))
        if plain_switches and (self.description.director == SDN or review):
            raise ClusterError("plain switches (learning, no controller) need director='haproxy' and no log "
                               "reviewer: this project's proxies would join s_pub and s_lan twice, a loop for "
                               "learning switches, and the reviewer blocks through the controller")
        self.plain_switches = plain_switches
        self.services = VirtualServices(self)
        self.web_server = check_web_server(web_server)
        self.etcd = EtcdCluster(self)
        self.real_servers = RealServers(self, self.web_server)
        self.peer = PeerDirectors(self, peer)
        self.rest_port, self.of_port = rest_port, of_port
        self.health = health
        self.proxy_policy = proxy_policy
        self.network_policy = network_policy
        self.review = review
        self.reviewer = LogReviewer(self, block)
        if run_dir is not None:
            check_run_dir(run_dir)
        self.run_dir = os.path.abspath(run_dir) if run_dir is not None else default_run_dir(mode)
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.progress = progress or (lambda message: None)
        self.net = None
        self.controller = None
        self._switches_ranked = None   # (ovs-vswitchd pid, its autogroup's nice before the run)
        self.api_token = ""            # made at start
        self.processes = {}            # (node name, service) -> Popen
        self.failed = {}               # node name -> failure kind
        self.record = RunRecord()
        self._t0 = 0.0
        self._stopping = False
        self._deferred_signal = None
        self._saved_handlers = {}

    # --- context manager ----------------------------------------------------------------------
    def __enter__(self):
        self._catch_signals()
        try:
            self.start()
        except BaseException:
            self._exit()
            raise
        return self

    def __exit__(self, *_exc):
        self._exit()

    def _exit(self):
        """Stop, give the signal handlers back, then act on a signal that came during the stop."""
        try:
            self.stop()
        finally:
            for sig, handler in self._saved_handlers.items():
                signal.signal(sig, signal.SIG_DFL if handler is None else handler)   # None: set outside Python
            self._saved_handlers = {}
            deferred, self._deferred_signal = self._deferred_signal, None
        if deferred is not None:
            self._on_signal(deferred, None)

    def _catch_signals(self):
        """SIGTERM and SIGHUP unwind like Ctrl-C (their default would kill the process and skip
        the teardown), and a signal during the teardown waits until it is over. Only the main
        thread can set handlers; elsewhere the caller keeps that job."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            self._saved_handlers[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame):
        if self._stopping:
            self._deferred_signal = signum
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(128 + signum)

    @property
    def vip(self):
        return self.description.vip

    @property
    def mode(self):
        return self.description.mode

    def ipvsadm(self, line):
        """One ipvsadm command at run time (topologies/virtualservices.py): its output, or
        ClusterError with the refusal."""
        return self.services.ipvsadm(line)

    def host(self, name):
        if self.net is None or name not in self.net:
            raise ClusterError("no node named %r; nodes: %s"
                               % (name, ", ".join(self.description.node_names)))
        return self.net[name]

    # --- start --------------------------------------------------------------------------------
    def _step(self, label, action):
        started = time.monotonic()
        detail = action()
        self.progress("[%5.1fs] %-12s %s (%.1fs)" % (time.monotonic() - self._t0, label, detail or "ok",
                                                     time.monotonic() - started))

    def start(self):
        self._t0 = time.monotonic()
        self._step("pre-flight", self._preflight)
        if not self.plain_switches:
            self._step("controller", self.start_controller)
        self._step("network", self._start_network)
        self._step("forwarding", lambda: hostsetup.set_up(self))
        if not self.plain_switches:
            self._step("switches", self._wait_switches)
        self._step("etcd", self.etcd.start)
        self._step("web servers", self.real_servers.start)
        if self.directors_are_hosts:
            self._step("directors", self.peer.start)
        if self.review:
            self._step("log reviewer", self.reviewer.start)

    def _preflight(self):
        if os.geteuid() != 0:
            raise ClusterError("needs root (Mininet creates namespaces and veths): re-run with sudo")
        missing = missing_tools(self.description.director, self.web_server)
        if missing:
            raise ClusterError("%s is not installed: run scripts/install.sh" % " and ".join(missing))
        if sh("ovs-vsctl", "--timeout=3", "show").returncode != 0:
            raise ClusterError("Open vSwitch is not running: run scripts/install.sh (it starts it), "
                               "or /usr/share/openvswitch/scripts/ovs-ctl start")
        cleaned = self.record.acquire([s.name for s in self.description.switches],
                                      [h.name for h in self.description.hosts]
                                      + [s.name for s in self.description.switches],
                                      self.run_dir, scratch=[self.etcd.data_dir])
        require_free_port(self.of_port, "--of-port")
        require_free_port(self.rest_port, "--rest-port")
        try:
            os.makedirs(self.log_dir, exist_ok=True)
        except OSError as e:
            raise ClusterError("cannot create the run directory %s: %s" % (self.run_dir, e.strerror)) from None
        try:
            self.api_token = make_token_file(self.api_token_path)
        except ConfigError as e:
            raise ClusterError(str(e)) from None
        with open(os.path.join(self.run_dir, "cluster.json"), "w") as f:
            f.write(self.description.to_json())
        with open(os.path.join(self.run_dir, "controller-settings.json"), "w") as f:
            f.write(ControllerSettings(self.health, self.proxy_policy, self.network_policy).to_json())
        note = "run directory %s" % self.run_dir
        return note + ("; cleaned leftovers of a crashed run: " + ", ".join(cleaned) if cleaned else "")

    def start_controller(self):
        log = open(os.path.join(self.log_dir, "controller.log"), "a")   # a restart appends
        self.controller = controller = subprocess.Popen(
            [sys.executable, "-m", "controller.launcher", "--cluster",
             os.path.join(self.run_dir, "cluster.json"), "--of-port", str(self.of_port),
             "--rest-port", str(self.rest_port),
             "--events", os.path.join(self.log_dir, "controller-events.jsonl"),
             "--connections", os.path.join(self.log_dir, "connections.jsonl"), "--alerts", self.reviewer.alerts_path,
             "--settings", os.path.join(self.run_dir, "controller-settings.json"),
             "--state", os.path.join(self.run_dir, "controller-state.json"), "--api-token", self.api_token_path],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONPATH=ROOT), start_new_session=True, preexec_fn=die_with_this_process())
        self.record.add_pid("controller", self.controller.pid)
        set_autogroup_nice(self.controller.pid, CONTROLLER_NICE)

        def answering():
            if controller.poll() is not None:
                raise ClusterError("the controller exited (code %d): see %s" % (controller.returncode, log.name))
            return self._status_or_none()
        wait_until("the controller's REST API", answering, timeout=30)
        wait_until("the controller's OpenFlow port", lambda: port_listening("127.0.0.1", self.of_port), timeout=10)
        return "Ryu pid %d, OpenFlow 127.0.0.1:%d, REST http://127.0.0.1:%d" % (
            self.controller.pid, self.of_port, self.rest_port)

    @property
    def api_token_path(self):
        """The REST API's token for this run: changes need it (core/apitoken.py); root reads it."""
        return os.path.join(self.run_dir, TOKEN_FILE_NAME)

    @property
    def dashboard_url(self):
        """The dashboard's address with the token in its fragment, which a browser never sends."""
        return "http://127.0.0.1:%d/dashboard#token=%s" % (self.rest_port, self.api_token)

    def _start_network(self):
        self._rank_switches()
        setLogLevel("output")   # the CLI prints at this level; Mininet's info chatter stays hidden
        self.net = Mininet(topo=LvsTopo(description=self.description, proxy_policy=self.proxy_policy,
                                        plain=self.plain_switches),
                           controller=None, autoSetMacs=False, autoStaticArp=False, build=False)
        if not self.plain_switches:
            self.net.addController(ListeningController("c0", ip="127.0.0.1", port=self.of_port))
        self.net.build()
        self.net.start()
        for node in self.net.hosts:
            self.record.add_pid("shell:" + node.name, node.pid)
        return "%d switches, %d hosts, %d links" % (len(self.net.switches), len(self.net.hosts),
                                                    len(self.net.links))

    def _wait_switches(self):
        names = {s.name for s in self.description.switches}

        def all_ready():
            status = self._status_or_none()
            return (status and (status["active_proxy"] or self.directors_are_hosts)
                    and names <= {s["name"] for s in status["switches"] if s["ready"]} and status)
        status = wait_until("all switches to connect and take their flows", all_ready, timeout=30)
        return "%d switches connected, flows installed; active proxy %s" % (
            len(names), status["active_proxy"] or "none (the directors are hosts)")

    @property
    def directors_are_hosts(self):
        return self.description.director != SDN

    @property
    def directors(self):
        """The two nodes that can carry the VIP: the proxies, or the director hosts."""
        return list(self.description.proxies) or self.peer.names

    def alerts(self):
        """The log reviewer's alerts so far, as dicts."""
        return self.reviewer.alerts()

    def trace(self, source, destination, port=None, protocol="tcp", sport=None):
        """What a packet from host `source` to `destination` (an address or a host's name) meets on
        its way, switch by switch (GET /lb/trace): a dict with "lines" (the explanation), "proxy",
        "real_server", "method", "reached" and "dropped"; ClusterError for a bad request."""
        query = {"from": source, "to": destination, "protocol": protocol, "port": port, "sport": sport}
        return self.rest("GET", "/lb/trace?" + urlencode({k: v for k, v in query.items() if v is not None}))

    # --- processes in hosts -------------------------------------------------------------------
    def spawn(self, node, service, command):
        """Start a service in a node, logged to <log dir>/<node>-<service>.log and recorded for clean-up."""
        log = open(os.path.join(self.log_dir, "%s-%s.log" % (node, service)), "a")
        process = self.host(node).popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        env=dict(os.environ, PYTHONPATH=ROOT),
                                        preexec_fn=die_with_this_process())
        self.processes[(node, service)] = process
        self.record.add_pid("%s:%s" % (node, service), process.pid)
        return process

    def kill(self, *services, crash=False):
        """Stop services given as (node, service) pairs, all at once."""
        running = [key for key in services if key in self.processes]
        stop_processes([self.processes.pop(key) for key in running], crash=crash)
        for node, service in running:
            self.record.remove_pid("%s:%s" % (node, service))

    def app(self, node, module, *args, stdin=None, stdout=subprocess.PIPE):
        """Start one of the project's programs (python -m MODULE ARGS) in a host; a Popen with
        text stdout (or its output into the file `stdout`), for tests, benchmarks and experiments."""
        return self.host(node).popen([sys.executable, "-m", module] + [str(a) for a in args],
                                     cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), stdin=stdin,
                                     stdout=stdout, stderr=subprocess.PIPE, text=True, errors="replace")

    def served_counts(self, per_client=100, timeout=300):
        """Every client makes `per_client` new connections to the VIP, all clients at once:
        (Counter of the real servers that answered, failed requests)."""
        runs = [self.app(c.name, "apps.loadclient", "--url", "http://%s/" % self.vip, "--connections", per_client)
                for c in self.description.hosts_with_role("client")]
        results = [json.loads(run.communicate(timeout=timeout)[0]) for run in runs]
        return sum((Counter(r["served_by"]) for r in results), Counter()), sum(r["errors"] for r in results)

    def controller_events(self, start=0.0, end=float("inf")):
        """The controller's events (its JSON lines, as dicts) logged from `start` to `end` (Unix times)."""
        with open(os.path.join(self.log_dir, "controller-events.jsonl")) as f:
            events = [json.loads(line) for line in f if line.strip()]
        return [e for e in events
                if start <= datetime.fromisoformat(e["@timestamp"].replace("Z", "+00:00")).timestamp() < end]

    @staticmethod
    def port_bytes(switch, port):
        """(rx_bytes, tx_bytes) of a switch port, from its OpenFlow port counters."""
        out = sh("ovs-ofctl", "-O", "OpenFlow13", "dump-ports", switch, str(port)).stdout
        rx, tx = re.findall(r"bytes=(\d+)", out)[:2]
        return int(rx), int(tx)

    # --- failures (topologies/faults.py) ------------------------------------------------------
    def _role(self, name):
        if name == CONTROLLER:
            return CONTROLLER
        if name in self.description.proxies:
            return "proxy"
        return next((h.role for h in self.description.hosts if h.name == name), "switch")

    def fail(self, name, kind):
        """Break a node; a sentence saying what happened (and what it means, if both proxies
        are now down). ClusterError for what cannot be done."""
        if name not in self.description.node_names and name != CONTROLLER:
            raise ClusterError("no node named %r; nodes: %s, and the controller"
                               % (name, ", ".join(self.description.node_names)))
        role = self._role(name)
        kinds = FAILURE_KINDS.get(role, ())
        if kind not in kinds:
            raise ClusterError("cannot fail %s (%s) by %r; kinds for it: %s"
                               % (name, role, kind, ", ".join(kinds) or "none"))
        if name in self.failed:
            raise ClusterError("%s has already failed (%s); recover it first" % (name, self.failed[name]))
        message = FAULTS[(role, kind)].fail(self, name) or "%s failed (%s)" % (name, kind)
        self.failed[name] = kind
        if role in ("proxy", "director") and all(p in self.failed for p in self.directors):
            message += "; both proxies are down: the VIP is down until one of them recovers"
        return message

    def recover(self, name):
        """Undo a node's failure; a sentence saying so. It stays failed if the undoing fails."""
        if name not in self.failed:
            raise ClusterError("%s has not failed; failed nodes: %s"
                               % (name, ", ".join(sorted(self.failed)) or "none"))
        role = self._role(name)
        if role == "proxy" and CONTROLLER in self.failed:
            raise ClusterError("recover the controller first: %s would come back with no flows, and the "
                               "edges' failover groups would send it the VIP as soon as BFD hears it" % name)
        message = FAULTS[(role, self.failed[name])].recover(self, name) or "%s recovered" % name
        del self.failed[name]
        return message

    # --- REST ---------------------------------------------------------------------------------
    def rest(self, method, path, body=None, door=HARNESS):
        """Call the controller's REST API with this run's token, naming the caller's door; the
        decoded JSON, or RestError for a 4xx/5xx."""
        if self.plain_switches:
            raise ControllerDown("this run has no controller: its switches are plain learning switches "
                                 "(plain_switches=True)")
        try:
            response = requests.request(method, "http://127.0.0.1:%d%s" % (self.rest_port, path), json=body,
                                        headers=request_headers(self.api_token, door), timeout=5)
        except requests.ConnectionError:
            why = "it failed (%s): `recover controller` brings it back" % self.failed[CONTROLLER] \
                if CONTROLLER in self.failed else "it is not running"
            raise ControllerDown("the controller is down: %s; the switches keep forwarding with their "
                                 "flows, and no failover can happen until it returns" % why) from None
        decoded = response.json()
        if response.status_code >= 400:
            raise RestError(method, path, response.status_code, decoded)
        return decoded

    def controller_in_sync(self):
        """True when the controller answers and every switch that has not failed is in sync."""
        status = self._status_or_none()
        return bool(status and status["flows_in_sync"]
                    and all(s["ready"] for s in status["switches"] if s["name"] not in self.failed))

    def _status_or_none(self):
        try:
            return self.rest("GET", "/lb/status")
        except (requests.RequestException, ValueError, ControllerDown):
            return None

    # --- stop ---------------------------------------------------------------------------------
    def stop(self):
        """Undo everything start() did, in reverse, whatever state it reached. Every step runs
        even if one before it failed; the first failure is raised at the end."""
        self._stopping = True
        failures = []
        # Each tier stops its own programs, the DB tier after the web tier whose state it holds.
        for step in (self.reviewer.stop, self.real_servers.stop, self.peer.stop, self.etcd.stop, self._stop_network,
                     self._stop_controller, self._unrank_switches, self._remove_scratch, self.record.release):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - the other steps must still run
                failures.append(e)
        self._stopping = False
        if failures:
            raise failures[0]

    def _rank_switches(self):
        """ovs-vswitchd's session above the hosts' (topologies/priority.py), until the run stops."""
        pid = ovs_vswitchd_pid()
        restore = None if pid is None else rank(pid, SWITCHES_NICE)
        if restore is not None:
            self._switches_ranked = (pid, restore)

    def _unrank_switches(self):
        if self._switches_ranked is not None:
            set_autogroup_nice(*self._switches_ranked)
            self._switches_ranked = None

    def _stop_network(self):
        if self.net is not None:
            try:
                hostsetup.undo(self.description)
            finally:
                net, self.net = self.net, None
                net.stop()

    def _stop_controller(self):
        if self.controller is not None:
            stop_processes([self.controller])
            self.controller = None

    def _remove_scratch(self):
        # A finished run needs its logs, not its database.
        shutil.rmtree(self.etcd.data_dir, ignore_errors=True)
