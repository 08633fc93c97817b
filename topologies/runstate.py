"""One cluster run per machine: a lock, a record of what the run started, and the clean-up of
what a crashed run left behind (its processes, bridges and interfaces)."""
import ctypes
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime

from core.paths import ROOT
from core.rules import ConfigError

# Where run directories go unless a run names its own: LVSDN_RUNS_DIR, or runs/ in the project.
RUNS_DIR_ENV = "LVSDN_RUNS_DIR"
STATE_DIR = "/run/lvsdn" if os.path.isdir("/run") else "/tmp/lvsdn"
LOCK_PATH = os.path.join(STATE_DIR, "lock")
RECORD_PATH = os.path.join(STATE_DIR, "run.json")


class ClusterError(RuntimeError):
    """Something that stops a cluster run; the message says what and how to fix it."""


def default_run_dir(mode):
    """A new directory name under the runs directory: <time>-<mode>, numbered if taken."""
    runs = os.environ.get(RUNS_DIR_ENV) or os.path.join(ROOT, "runs")
    base = os.path.join(runs, "%s-%s" % (datetime.now().strftime("%Y%m%d-%H%M%S"), mode))
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = "%s-%d" % (base, n)
    return os.path.abspath(path)


def check_run_dir(path):
    """ConfigError unless `path` is, or can be made as, a writable directory. Asked by making
    (and removing) a scratch directory where it would go: permission bits alone say yes to root
    for /proc or a read-only mount."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError("run directory %s cannot be created: %s is not a directory" % (path, existing))
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".lvsdn-check-", dir=existing))
    except OSError as e:
        raise ConfigError("run directory %s cannot be created: %s is not writable (%s)"
                          % (path, existing, e.strerror)) from None


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


def sh(*cmd, timeout=10):
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)


def port_owner(port):
    """'pid N (name)' of the process listening on a TCP port of 127.0.0.1, if ss can tell."""
    out = sh("ss", "-Hltnp", "sport = :%d" % port).stdout
    found = re.search(r'\("([^"]+)",pid=(\d+)', out)
    return "pid %s (%s)" % (found.group(2), found.group(1)) if found else "another program"


def require_free_port(port, flag):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise ClusterError("port %d on 127.0.0.1 is taken by %s: stop it or choose another "
                               "with %s" % (port, port_owner(port), flag)) from None


PR_SET_PDEATHSIG = 1


def die_with_this_process():
    """A Popen preexec_fn: the child gets SIGTERM when this process dies, even by SIGKILL, so that
    nothing it starts outlives a crashed run (Linux prctl). A parent that died before the prctl
    took effect never signals (prctl(2)): the child then checks who its parent is and, orphaned
    already, exits before it runs anything. Linux sends the signal when the spawning *thread*
    ends: spawn from the main thread, or one that lasts as long as the run."""
    parent = os.getpid()

    def preexec():
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)
    return preexec


def process_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_processes(processes, grace=3.0, crash=False):
    """SIGTERM our own children (Popen objects) at once, SIGKILL those still there after `grace`
    seconds, and reap them all. `crash` sends SIGKILL straight away, as a crash would."""
    for process in processes:
        if process.poll() is None:
            process.kill() if crash else process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kill_pids(pids, grace=3.0):
    """SIGTERM processes that are not our children (a crashed run's), then SIGKILL what is
    still there after `grace` seconds."""
    pids = [p for p in pids if p and process_alive(p)]
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [p for p in pids if process_alive(p)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class RunRecord:
    """The lock and the record of a run. While the lock is held, another run is refused; a record
    whose lock is free was left by a run that crashed, and `acquire` cleans up after it: the
    processes it recorded, every process left in its hosts' namespaces, its bridges, tunnel
    routes and interfaces, and its scratch directories (etcd data; its logs stay)."""

    def __init__(self):
        self._lock_file = None
        self.data = {}

    def acquire(self, switch_names, node_names, run_dir, scratch=()):
        os.makedirs(STATE_DIR, exist_ok=True)
        self._lock_file = open(LOCK_PATH, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise ClusterError("another cluster run is active (%s): one Mininet run per machine; "
                               "stop it first" % self._holder()) from None
        cleaned = self._clean_leftovers(switch_names, node_names)
        self.data = {"pid": os.getpid(), "run_dir": run_dir, "pids": {},
                     "scratch": [os.path.abspath(p) for p in scratch]}
        self._save()
        return cleaned

    def _holder(self):
        record = self.read()
        if "pid" not in record:
            return "its record is unreadable"
        return "pid %s, run directory %s" % (record["pid"], record.get("run_dir"))

    @classmethod
    def recorded_run_dir(cls):
        """The run directory of the run that is active, or that crashed and awaits clean-up."""
        return cls.read().get("run_dir")

    @staticmethod
    def read():
        """The record of the run that is active, or that crashed and awaits clean-up; {} if none."""
        try:
            with open(RECORD_PATH) as f:
                record = json.load(f)
            return record if isinstance(record, dict) else {}
        except (OSError, ValueError):
            return {}

    @property
    def held(self):
        return self._lock_file is not None

    def add_pid(self, key, pid):
        """Record a process of this run (only while it holds the lock: the record is the
        active run's, and a refused run must not write it)."""
        if self.held:
            self.data["pids"][key] = pid
            self._save()

    def remove_pid(self, key):
        if self.held:
            self.data["pids"].pop(key, None)
            self._save()

    def _save(self):
        with open(RECORD_PATH + ".tmp", "w") as f:
            json.dump(self.data, f)
        os.replace(RECORD_PATH + ".tmp", RECORD_PATH)

    def release(self):
        if self._lock_file is None:
            return
        try:
            os.unlink(RECORD_PATH)
        except FileNotFoundError:
            pass
        self._lock_file.close()
        self._lock_file = None

    @classmethod
    def _clean_leftovers(cls, switch_names, node_names):
        """Clean up after a crashed run. Returns what was cleaned, as a list of words (empty when
        there was nothing)."""
        record = cls.read()
        cleaned = []
        shells = [int(p) for p in sh("pgrep", "-f", r"^mininet:(%s)$" % "|".join(node_names)).stdout.split()]
        # A process spawned just before the crash may be missing from the record; it still
        # lives in one of the run's namespaces.
        pids = set(shells) | set(processes_in_namespaces_of(shells))
        pids |= {p for p in record.get("pids", {}).values() if isinstance(p, int)}
        live = [p for p in sorted(pids) if process_alive(p)]
        if live:
            kill_pids(live)
            cleaned.append("%d processes" % len(live))
        bridges = set(sh("ovs-vsctl", "--timeout=5", "list-br").stdout.split()) & set(switch_names)
        for bridge in bridges:
            sh("ovs-vsctl", "--timeout=5", "--if-exists", "del-br", bridge)
        if bridges:
            cleaned.append("bridges " + " ".join(sorted(bridges)))
        routes = re.findall(r"^User: (\S+) MARK (\d+) dev (%s) " % "|".join(switch_names),
                            sh("ovs-appctl", "ovs/route/show").stdout, re.M)
        for prefix, mark, _dev in routes:
            sh("ovs-appctl", "ovs/route/del", prefix, "pkt_mark=" + mark)
        if routes:
            cleaned.append("%d tunnel routes" % len(routes))
        links = re.findall(r"^\d+: ((?:%s)-eth\d+)[@:]" % "|".join(node_names),
                           sh("ip", "-o", "link", "show").stdout, re.M)
        for link in links:
            sh("ip", "link", "del", link)
        if links:
            cleaned.append("%d interfaces" % len(links))
        scratch = [p for p in record.get("scratch", []) if isinstance(p, str) and os.path.isdir(p)]
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)
        if scratch:
            cleaned.append("data in " + " ".join(scratch))
        return cleaned


def network_namespace(pid):
    try:
        return os.readlink("/proc/%d/ns/net" % pid)
    except OSError:
        return None


def processes_in_namespaces_of(pids):
    """Every process that shares a network namespace with one of `pids`, the root namespace
    (this process's) excepted."""
    namespaces = {network_namespace(p) for p in pids} - {None, network_namespace(os.getpid())}
    if not namespaces:
        return []
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and network_namespace(int(entry)) in namespaces]
