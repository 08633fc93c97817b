"""One cluster run per machine: a lock, a record of what the run started, and the clean-up of
what a crashed run left behind (its processes, bridges and interfaces)."""
import ctypes
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import time

STATE_DIR = "/run/lvsdn" if os.path.isdir("/run") else "/tmp/lvsdn"
LOCK_PATH = os.path.join(STATE_DIR, "lock")
RECORD_PATH = os.path.join(STATE_DIR, "run.json")


class ClusterError(RuntimeError):
    """Something that stops a cluster run; the message says what and how to fix it."""


def sh(*cmd, timeout=10):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


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


def die_with_parent():
    """For Popen(preexec_fn=...): the child gets SIGTERM when the harness dies, even by SIGKILL,
    so that no controller or log reviewer outlives a crashed run (Linux prctl)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


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
    whose lock is free was left by a run that crashed, and `acquire` cleans up after it."""

    def __init__(self):
        self._lock_file = None
        self.data = {}

    def acquire(self, switch_names, node_names):
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
        self.data = {"pid": os.getpid(), "pids": {}}
        self._save()
        return cleaned

    def _holder(self):
        try:
            with open(RECORD_PATH) as f:
                pid = json.load(f).get("pid")
            return "pid %s" % pid
        except (OSError, ValueError):
            return "its record is unreadable"

    def add_pid(self, key, pid):
        self.data["pids"][key] = pid
        self._save()

    def remove_pid(self, key):
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

    @staticmethod
    def _clean_leftovers(switch_names, node_names):
        """Kill the processes of a crashed run, delete its bridges and veths. Returns what was
        cleaned, as a list of words (empty when there was nothing)."""
        cleaned = []
        try:
            with open(RECORD_PATH) as f:
                pids = list(json.load(f).get("pids", {}).values())
        except (OSError, ValueError):
            pids = []
        pids += [int(p) for p in sh("pgrep", "-f", r"^mininet:(%s)$" % "|".join(node_names)).stdout.split()]
        live = [p for p in pids if process_alive(p)]
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
        return cleaned
