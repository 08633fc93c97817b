"""The Cluster harness: starts and stops everything; run.py, tests, benchmarks and experiments
all use it.

    with Cluster(mode="nat", clients=4, webs=2) as cluster:
        cluster.host("c1").cmd("curl -s http://%s/" % cluster.vip)
        cluster.rest("GET", "/lb/status")

Start order: pre-flight checks, the controller (Ryu), the Mininet network (its switches connect
and receive their flows), the etcd cluster on db1..db3, the web servers. Stop undoes all of it,
whatever failed on the way; a run that crashed is cleaned up by the next one.
"""
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime

import requests
from mininet.log import setLogLevel
from mininet.net import Mininet

from core.paths import ROOT
from core.apitoken import HARNESS, TOKEN_FILE_NAME, make_token_file, request_headers
from core.settings import ControllerSettings, HealthSettings, NetworkPolicy, ProxyPolicy
from topologies import forwarding
from core.addressing import ETCD_CLIENT_PORT, ETCD_PEER_PORT, SDN, VIP
from core.builder import describe
from core.rules import ConfigError
from topologies.mininet_io import ListeningController, port_listening, read_output_leniently
from topologies.peer import PeerSettings, haproxy_config, keepalived_config
from topologies.priority import CONTROLLER_NICE, SWITCHES_NICE, ovs_vswitchd_pid, rank, set_autogroup_nice
from topologies.runstate import (ClusterError, RunRecord, check_run_dir, default_run_dir,
                                 die_with_this_process, require_free_port, sh, stop_processes)
from topologies.staticweb import APP, NGINX, check_web_server, nginx_config, write_docroot
from topologies.topo import DATAPATH_TYPE, LvsTopo

# Signals that end a run the way Ctrl-C does: the harness tears everything down first.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
__all__ = ["Cluster", "ClusterError", "ConfigError", "ControllerDown", "RestError"]

# What cluster.fail() can do to each role.
CONTROLLER = "controller"
FAILURE_KINDS = {"web": ("crash", "link"), "db": ("crash", "link"),
                 "proxy": ("crash", "link", "hang"), "director": ("crash", "link", "hang"),
                 "client": ("link",), "router": ("link",), CONTROLLER: ("crash",)}
# A hung datapath: the bridge and its OpenFlow channel live on, but nothing it sends leaves.
# A token bucket with a 1-byte burst drops every frame (this kernel has no netem or gact).
HANG_QDISC = "tbf rate 8bit burst 1 limit 1"
read_output_leniently()
# etcd's Raft timers (ms). Followers notice a lost leader 5-10 heartbeats after its last one (etcd
# randomises the timeout in whole heartbeat ticks), and when two of them time out in the same tick
# the vote splits and costs another such round: measured at 20/100, one leader loss in 6 split
# and the new leader came 276 ms after the cut. At 10/50 a split round costs at most 100 ms, so a
# conversation's turn stays under 300 ms (apps/store.py hedges across members meanwhile). etcd
# wants the election timeout at least 5 heartbeats; pre-vote and check-quorum keep one member
# that missed heartbeats (a stalled machine) from deposing a leader the others still hear.
ETCD_HEARTBEAT_MS, ETCD_ELECTION_MS = 10, 50


class ControllerDown(ClusterError):
    """The controller does not answer (it failed, or is starting)."""


class RestError(ClusterError):
    def __init__(self, method, path, status, body):
        super().__init__("%s %s answered %d: %s" % (method, path, status, body.get("error", body)))
        self.status, self.body = status, body


def wait_until(what, check, timeout, interval=0.1):
    """Poll `check` until it returns a true value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise ClusterError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


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
                 peer=PeerSettings(), web_server=APP):
        self.description = describe(mode=mode, clients=clients, webs=webs, vip=vip,
                                    remote_webs=remote_webs, director=director)
        self.peer = peer
        self.web_server = check_web_server(web_server)
        self.rest_port, self.of_port = rest_port, of_port
        self.health = health
        self.proxy_policy = proxy_policy
        self.network_policy = network_policy
        self.review, self.block = review, block
        self.reviewer = None
        if run_dir is not None:
            check_run_dir(run_dir)
        self.run_dir = os.path.abspath(run_dir) if run_dir is not None else default_run_dir(mode)
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.progress = progress or (lambda message: None)
        self.net = None
        self.controller = None
        self._switches_ranked = None   # (ovs-vswitchd pid, its autogroup's nice before the run)
        self.api_token = None
        self.processes = {}            # (node name, service) -> Popen
        self.failed = {}               # node name -> failure kind
        self.record = RunRecord()
        self._t0 = None
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
        self._step("controller", self._start_controller)
        self._step("network", self._start_network)
        self._step("forwarding", self._configure_forwarding)
        self._step("switches", self._wait_switches)
        self._step("etcd", self._start_etcd)
        self._step("web servers", self._start_webs)
        if self.directors_are_hosts:
            self._step("directors", self._start_directors)
        if self.review:
            self._step("log reviewer", self._start_reviewer)

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
                                      self.run_dir, scratch=[self.etcd_dir])
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

    def _start_controller(self):
        log = open(os.path.join(self.log_dir, "controller.log"), "a")   # a restart appends
        self.controller = subprocess.Popen(
            [sys.executable, "-m", "controller.launcher", "--cluster",
             os.path.join(self.run_dir, "cluster.json"), "--of-port", str(self.of_port),
             "--rest-port", str(self.rest_port),
             "--events", os.path.join(self.log_dir, "controller-events.jsonl"),
             "--connections", os.path.join(self.log_dir, "connections.jsonl"), "--alerts", self.alerts_path,
             "--settings", os.path.join(self.run_dir, "controller-settings.json"),
             "--state", os.path.join(self.run_dir, "controller-state.json"), "--api-token", self.api_token_path],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONPATH=ROOT), start_new_session=True, preexec_fn=die_with_this_process())
        self.record.add_pid("controller", self.controller.pid)
        set_autogroup_nice(self.controller.pid, CONTROLLER_NICE)

        def answering():
            if self.controller.poll() is not None:
                raise ClusterError("the controller exited (code %d): see %s"
                                   % (self.controller.returncode, log.name))
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
        self.net = Mininet(topo=LvsTopo(description=self.description, proxy_policy=self.proxy_policy), controller=None,
                           autoSetMacs=False, autoStaticArp=False, build=False)
        self.net.addController(ListeningController("c0", ip="127.0.0.1", port=self.of_port))
        self.net.build()
        self.net.start()
        for node in self.net.hosts:
            self.record.add_pid("shell:" + node.name, node.pid)
        return "%d switches, %d hosts, %d links" % (len(self.net.switches), len(self.net.hosts),
                                                    len(self.net.links))

    def _configure_forwarding(self):
        """What the forwarding method needs beyond flows: see topologies/forwarding.py."""
        d = self.description
        self._host_commands(d.router.name, forwarding.router_setup(d))
        if d.lan_mtu != 1500:
            for link in self.net.links:
                if {d.lan_edge, d.remote_edge} & {link.intf1.node.name, link.intf2.node.name}:
                    for intf in (link.intf1, link.intf2):
                        intf.node.cmd("ip link set %s mtu %d" % (intf.name, d.lan_mtu))
        for proxy in d.proxies:
            self._set_up_proxy(proxy)
        self._set_up_conntrack()
        for web in d.real_servers:
            self._host_commands(web.name, forwarding.real_server_setup(d, web))
        if self.directors_are_hosts:
            return "the real servers answer the directors on their own LAN"
        return "%s: %s" % (d.mode.upper(), {"nat": "real servers route through the virtual gateway",
                                            "dr": "VIP on the real servers' lo, ARP silenced",
                                            "tun": "VXLAN endpoints on proxies and real servers"}[d.mode])

    def _set_up_proxy(self, proxy):
        """The proxy's root-namespace set-up (TUN)."""
        self._root_commands(forwarding.proxy_setup(self.description, proxy), proxy)

    @staticmethod
    def _root_commands(commands, what):
        """Run commands in the root namespace; ClusterError naming `what` for the first that fails.
        OVS learns an address just given to a bridge's LOCAL port asynchronously, and refuses a
        route through it until then: a route is retried."""
        for command in commands:
            for _ in range(20):
                result = sh(*command.split())
                if result.returncode == 0 or "ovs/route/add" not in command:
                    break
                time.sleep(0.1)
            if result.returncode != 0:
                raise ClusterError("setting up %s failed: %s: %s" % (what, command, result.stderr.strip()))

    def _set_up_conntrack(self):
        """The proxies' connection tracking (forwarding.conntrack_setup). Zone timeouts live in
        the datapath's record of the Open vSwitch database, made here if there is none yet."""
        dp = DATAPATH_TYPE
        if self.description.proxies and sh("ovs-vsctl", "get", "Open_vSwitch", ".", "datapaths:" + dp).returncode:
            sh("ovs-vsctl", "--", "--id=@dp", "create", "Datapath", "datapath_version=0",
               "--", "set", "Open_vSwitch", ".", "datapaths:%s=@dp" % dp)
        self._root_commands(forwarding.conntrack_setup(self.description, dp), "connection tracking")

    def _undo_forwarding(self):
        d = self.description
        for proxy in d.proxies:
            for command in forwarding.proxy_teardown(d, proxy):
                sh(*command.split())
        for command in forwarding.conntrack_teardown(d, DATAPATH_TYPE):
            sh(*command.split())

    def _host_commands(self, node, commands):
        for command in commands:
            out, err, code = self.host(node).pexec(command)    # split on spaces, run in the node's namespaces
            if code != 0:
                raise ClusterError("configuring %s failed: %s: %s" % (node, command, (err or out).strip()))

    def _wait_switches(self):
        names = {s.name for s in self.description.switches}

        def all_ready():
            status = self._status_or_none()
            return (status and (status["active_proxy"] or self.directors_are_hosts)
                    and names <= {s["name"] for s in status["switches"] if s["ready"]} and status)
        status = wait_until("all switches to connect and take their flows", all_ready, timeout=30)
        return "%d switches connected, flows installed; active proxy %s" % (
            len(names), status["active_proxy"] or "none (the directors are hosts)")

    # --- etcd ---------------------------------------------------------------------------------
    @property
    def etcd_dir(self):
        """etcd's data; removed when the run stops (each member preallocates 64 MB of WAL)."""
        return os.path.join(self.run_dir, "etcd")

    def etcd_endpoints(self):
        return ",".join("http://%s:%d" % (h.ip, ETCD_CLIENT_PORT)
                        for h in self.description.hosts_with_role("db"))

    def _etcd_command(self, db, cluster_state="new"):
        host = self.description.host(db)
        peers = ",".join("%s=http://%s:%d" % (h.name, h.ip, ETCD_PEER_PORT)
                         for h in self.description.hosts_with_role("db"))
        client_url, peer_url = ("http://%s:%d" % (host.ip, port)
                                for port in (ETCD_CLIENT_PORT, ETCD_PEER_PORT))
        # Heartbeat and election timeout are tuned for a LAN of namespaces (docs/PLATFORM.md). Pre-vote:
        # a member that comes back after a crash asks before it campaigns, so it cannot depose a
        # working leader with a higher term (and leave the cluster leaderless for an election).
        # zap: JSON lines with millisecond times, elections included.
        return ["etcd", "--name", db, "--data-dir", os.path.join(self.etcd_dir, db),
                "--listen-client-urls", client_url + ",http://127.0.0.1:%d" % ETCD_CLIENT_PORT,
                "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url,
                "--initial-advertise-peer-urls", peer_url, "--initial-cluster", peers,
                "--initial-cluster-token", "lvsdn-" + os.path.basename(self.run_dir),
                "--initial-cluster-state", cluster_state, "--heartbeat-interval", str(ETCD_HEARTBEAT_MS),
                "--election-timeout", str(ETCD_ELECTION_MS), "--pre-vote", "--logger", "zap"]

    def etcd_health(self):
        """[{"endpoint": URL, "health": bool}, ...] for every member, as etcdctl sees it."""
        db = self.description.hosts_with_role("db")[0].name
        out = self.host(db).cmd("ETCDCTL_API=3 etcdctl --command-timeout=2s --endpoints=%s "
                                "endpoint health -w json 2>/dev/null" % self.etcd_endpoints())
        try:
            return [{"endpoint": e["endpoint"], "health": bool(e["health"])} for e in json.loads(out)]
        except (ValueError, KeyError, TypeError):
            return []

    def _start_etcd(self):
        dbs = [h.name for h in self.description.hosts_with_role("db")]
        for db in dbs:
            self._spawn(db, "etcd", self._etcd_command(db))
        wait_until("3 healthy etcd members",
                   lambda: sum(e["health"] for e in self.etcd_health()) == len(dbs), timeout=30)
        return "%d members healthy (%s)" % (len(dbs), self.etcd_endpoints())

    # --- web tier -----------------------------------------------------------------------------
    def _web_command(self, web):
        if self.web_server == NGINX:
            return self._nginx_command(web)
        return [sys.executable, "-m", "apps.webserver", "--name", web, "--port",
                str(self.description.http_port), "--etcd", self.etcd_endpoints(), "--access-log",
                os.path.join(self.log_dir, "%s-access.jsonl" % web)]

    def _nginx_command(self, web):
        root = os.path.join(self.run_dir, "nginx", web)
        write_docroot(root, web)
        config = os.path.join(root, "nginx.conf")
        with open(config, "w") as f:
            f.write(nginx_config(web, self.description.http_port, root, self.log_dir))
        return ["nginx", "-p", root, "-c", config]

    def web_healthy(self, web):
        url = "http://%s:%d/health" % (self.description.host(web).ip, self.description.http_port)
        return self.host(web).cmd("curl -s -m 1 -o /dev/null -w '%%{http_code}' %s" % url) == "200"

    def _start_webs(self):
        webs = [h.name for h in self.description.real_servers]
        for web in webs:
            self._spawn(web, "web", self._web_command(web))
        wait_until("web servers to answer /health", lambda: all(map(self.web_healthy, webs)),
                   timeout=20)
        wait_until("the controller's health checks to find every real server up",
                   lambda: {b["state"] for b in self.rest("GET", "/lb/backends")["backends"]} == {"up"},
                   timeout=20)
        wait_until("every switch to confirm its flows", lambda: self.rest("GET", "/lb/status")["flows_in_sync"],
                   timeout=20)
        return "%d real servers up (health checks every %gs)" % (len(webs), self.health.interval)

    # --- the peer's directors (keepalived + HAProxy hosts) -------------------------------------
    @property
    def directors_are_hosts(self):
        return self.description.director != SDN

    @property
    def directors(self):
        """The two nodes that can carry the VIP: the proxies, or the director hosts."""
        return list(self.description.proxies) or [h.name for h in self.description.hosts_with_role("director")]

    def _start_directors(self):
        for name in self.directors:
            self._start_director(name)
        wait_until("a director to take the VIP and serve it",
                   lambda: "served_by" in self.host("c1").cmd("curl -s -m 1 http://%s/" % self.vip), timeout=20)
        owner = [name for name in self.directors if self.vip in self.host(name).cmd("ip -4 -o addr")]
        return "keepalived (advert_int %gs) + HAProxy on %s; VIP on %s" % (
            self.peer.advert_int, ", ".join(self.directors), ", ".join(owner) or "none")

    def _start_director(self, name):
        home = os.path.join(self.run_dir, "directors", name)
        os.makedirs(home, exist_ok=True)
        files = {key: os.path.join(home, key)
                 for key in ("haproxy.cfg", "haproxy.pid", "keepalived.conf", "keepalived.pid", "vrrp.pid")}
        with open(files["haproxy.cfg"], "w") as f:
            f.write(haproxy_config(self.description, self.peer, self._haproxy_socket(name)))
        with open(files["keepalived.conf"], "w") as f:
            f.write(keepalived_config(self.description, name, self.peer, files["haproxy.pid"]))
        haproxy = self._spawn(name, "haproxy", ["haproxy", "-db", "-f", files["haproxy.cfg"]])
        with open(files["haproxy.pid"], "w") as f:        # in the foreground HAProxy writes none
            f.write("%d\n" % haproxy.pid)
        self._spawn(name, "keepalived", ["keepalived", "--dont-fork", "--log-console", "--vrrp", "--no-syslog",
                                         "-f", files["keepalived.conf"], "-p", files["keepalived.pid"],
                                         "-r", files["vrrp.pid"]])

    def _haproxy_socket(self, director):
        return os.path.join(self.run_dir, "directors", director, "haproxy.sock")

    def haproxy_servers(self, director):
        """{real server: its state in a director's HAProxy ("UP", "DOWN", "UP 1/2" going down...)},
        from HAProxy's runtime API; {} when that HAProxy does not answer."""
        try:
            with socket.socket(socket.AF_UNIX) as api:
                api.settimeout(2)
                api.connect(self._haproxy_socket(director))
                api.sendall(b"show stat\n")
                answer = b"".join(iter(lambda: api.recv(65536), b""))
        except OSError:
            return {}
        rows = csv.DictReader(answer.decode(errors="replace").lstrip("# ").splitlines())
        return {r["svname"]: r["status"] for r in rows
                if r.get("pxname") == "real_servers" and r.get("svname") not in ("FRONTEND", "BACKEND")}

    # --- log reviewer -------------------------------------------------------------------------
    @property
    def alerts_path(self):
        return os.path.join(self.log_dir, "alerts.jsonl")

    def _start_reviewer(self):
        command = [sys.executable, "-m", "apps.logreview", self.run_dir, "--follow", "--out", self.alerts_path]
        if self.block:
            command += ["--block", "http://127.0.0.1:%d" % self.rest_port, "--api-token", self.api_token_path]
        log = open(os.path.join(self.log_dir, "logreview.log"), "w")
        self.reviewer = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=ROOT),
                                         start_new_session=True, preexec_fn=die_with_this_process())
        self.record.add_pid("logreview", self.reviewer.pid)
        return "following the logs, alerts in %s%s" % (self.alerts_path, ", blocking" if self.block else "")

    def alerts(self):
        """The alerts raised so far, as dicts."""
        try:
            with open(self.alerts_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    # --- processes in hosts -------------------------------------------------------------------
    def _spawn(self, node, service, command):
        log = open(os.path.join(self.log_dir, "%s-%s.log" % (node, service)), "a")
        process = self.host(node).popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        env=dict(os.environ, PYTHONPATH=ROOT),
                                        preexec_fn=die_with_this_process())
        self.processes[(node, service)] = process
        self.record.add_pid("%s:%s" % (node, service), process.pid)
        return process

    def _kill(self, *services, crash=False):
        """Stop services given as (node, service) pairs, all at once."""
        stop_processes([self.processes.pop(key) for key in services if key in self.processes],
                       crash=crash)
        for node, service in services:
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

    # --- failures -----------------------------------------------------------------------------
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
        if role == CONTROLLER:
            if self.controller is None:
                raise ClusterError("this cluster has no controller to fail (director %s)" % self.description.director)
            self.controller.kill()             # SIGKILL: no goodbye to the switches
            self.controller.wait()
            self.failed[name] = kind
            return ("the controller crashed: the switches keep forwarding with their flows; no failover "
                    "can happen until it returns (`recover controller`)")
        if kind == "link":
            self._set_links(name, "down")
        elif kind == "hang":
            self._set_hang(name, True)
        elif role == "proxy":       # the box dies: its NICs go dark, its OpenFlow channel drops
            self._set_proxy_links(name, "down", far_ends=False)
            sh("ovs-vsctl", "--timeout=5", "del-controller", name)
        elif role == "director":     # the box dies: its daemons, and it falls silent (as a deleted proxy)
            self._kill((name, "keepalived"), (name, "haproxy"), crash=True)
            self._set_links(name, "down")
        else:
            self._kill((name, "etcd" if role == "db" else "web"), crash=True)
        self.failed[name] = kind
        message = "%s failed (%s)" % (name, kind)
        if role in ("proxy", "director") and all(p in self.failed for p in self.directors):
            message += "; both proxies are down: the VIP is down until one of them recovers"
        return message

    def _set_hang(self, name, hung):
        """A node that receives but sends nothing (see HANG_QDISC), or its recovery."""
        node = self.net[name]          # a switch's shell is in the root namespace, a host's in its own
        for intf in node.intfList():
            if intf.name != "lo":
                node.cmd("tc qdisc replace dev %s root %s" % (intf.name, HANG_QDISC) if hung
                         else "tc qdisc del dev %s root" % intf.name)

    def recover(self, name):
        if name not in self.failed:
            raise ClusterError("%s has not failed; failed nodes: %s"
                               % (name, ", ".join(sorted(self.failed)) or "none"))
        role = self._role(name)
        if role == "proxy" and CONTROLLER in self.failed:
            raise ClusterError("recover the controller first: %s would come back with no flows, and the "
                               "edges' failover groups would send it the VIP as soon as BFD hears it" % name)
        kind = self.failed.pop(name)
        if role == CONTROLLER:
            self._start_controller()
            wait_until("the restarted controller to have every switch in sync", self._controller_in_sync, timeout=30)
            return "the controller is back, with the state it saved (the switches' flows were read, not wiped)"
        if kind == "link":
            self._set_links(name, "up")
            self._restore_gateway(name)
        elif kind == "hang":
            self._set_hang(name, False)
        elif role == "proxy":
            self._reboot_proxy(name)
        elif role == "director":     # it boots again: links up, no VIP until keepalived says so
            self._set_links(name, "up")
            self._restore_gateway(name)
            public = self.description.host(name).interface_on(self.description.public_edge)
            self.host(name).cmd("ip addr del %s/%d dev %s" % (self.vip, public.prefixlen, public.name))
            self._start_director(name)
        elif role == "db":
            self._spawn(name, "etcd", self._etcd_command(name, cluster_state="existing"))
        else:
            self._spawn(name, "web", self._web_command(name))
        return "%s recovered" % name

    def _reboot_proxy(self, proxy):
        """A crashed proxy boots again: its tables empty, as a box's after a reboot, its NICs up,
        its OpenFlow channel back. The bridge is kept (its ports, BFD, tunnel end): rebuilding it
        holds ovs-vswitchd's main thread for about 100 ms, long enough to silence BFD on the
        other proxy's cables, while this one's new sessions, not yet at full rate, hold."""
        commands = [("ovs-ofctl", "-O", "OpenFlow13", "del-" + table, proxy) for table in ("flows", "groups", "meters")]
        commands += [("ovs-vsctl", "--timeout=5", "set-controller", proxy)
                     + tuple("%s:%s:%d" % (c.protocol, c.IP(), c.port) for c in self.net.controllers)]
        for command in commands:
            result = sh(*command)
            if result.returncode:
                raise ClusterError("rebooting %s failed: %s: %s" % (proxy, " ".join(command), result.stderr.strip()))
        self._set_proxy_links(proxy, "up", far_ends=False)

    def _restore_gateway(self, name):
        """A link going down takes the routes through it with it, the default route included, and
        coming back up does not restore them (a host's network manager would): put it back."""
        host = next((h for h in self.description.hosts if h.name == name), None)
        if host is not None and host.gateway:
            self.host(name).cmd("ip route replace default via %s" % host.gateway)

    def _cables(self, name):
        """(node, peer) pairs of a node's links."""
        if name in self.description.proxies:
            return [(name, peer) for peer in self.description.trunk_ports(name).values()]
        return [(name, intf.switch) for intf in self.description.host(name).interfaces]

    def _set_links(self, name, status):
        if name in self.description.proxies:
            self._set_proxy_links(name, status)
            return
        for node, peer in self._cables(name):
            self.net.configLinkStatus(node, peer, status)

    def _set_proxy_links(self, proxy, status, far_ends=True):
        """Every cable of a proxy at once (one `ip -batch`; Mininet's configLinkStatus takes one
        interface at a time, a proxy then being half cut off for milliseconds): its own ends,
        and with `far_ends` the edges' ends too. A switch's port N is "<switch>-ethN"."""
        ends = ["%s-eth%d" % (switch, port) for switch, port, _ in self.description.proxy_cable_ends(proxy)
                if far_ends or switch == proxy]
        batch = "".join("link set %s %s\n" % (end, status) for end in ends)
        result = subprocess.run(["ip", "-batch", "-"], input=batch, capture_output=True, text=True, timeout=10)
        if result.returncode:
            raise ClusterError("setting %s's links %s failed: %s" % (proxy, status, result.stderr.strip()))

    # --- REST ---------------------------------------------------------------------------------
    def rest(self, method, path, body=None, door=HARNESS):
        """Call the controller's REST API with this run's token, naming the caller's door; the
        decoded JSON, or RestError for a 4xx/5xx."""
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

    def _controller_in_sync(self):
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
        for step in (self._stop_reviewer, self._stop_services, self._stop_network,
                     self._stop_controller, self._unrank_switches, self._remove_scratch, self.record.release):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - the other steps must still run
                failures.append(e)
        self._stopping = False
        if failures:
            raise failures[0]

    def _stop_reviewer(self):
        if self.reviewer is not None:
            stop_processes([self.reviewer])
            self.reviewer = None

    def _stop_services(self):
        # etcd's data is scratch, removed with the run: no graceful stop. A leader stopped
        # gracefully first tries to hand its leadership over, to members stopping with it, and
        # holds the teardown for seconds.
        etcd = [key for key in self.processes if key[1] == "etcd"]
        self._kill(*[key for key in self.processes if key not in etcd])
        self._kill(*etcd, crash=True)

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
                self._undo_forwarding()
            finally:
                net, self.net = self.net, None
                net.stop()

    def _stop_controller(self):
        if self.controller is not None:
            stop_processes([self.controller])
            self.controller = None

    def _remove_scratch(self):
        # A finished run needs its logs, not its database.
        shutil.rmtree(self.etcd_dir, ignore_errors=True)
