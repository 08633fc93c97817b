"""The comparison stack's directors: keepalived (VRRP) and HAProxy on the hosts lb1 and lb2,
in the proxies' place (director=haproxy), from the configurations topologies/peer.py writes."""
import csv
import os
import socket

from topologies.peer import haproxy_config, keepalived_config
from topologies.runstate import wait_until


DAEMONS = ("keepalived", "haproxy")


class PeerDirectors:
    """Start keepalived and HAProxy on each director host, and read HAProxy's view of the real servers."""

    def __init__(self, cluster, settings):
        self.cluster = cluster
        self.settings = settings
        self.names = [h.name for h in cluster.description.hosts_with_role("director")]

    def _home(self, name):
        return os.path.join(self.cluster.run_dir, "directors", name)

    def start(self):
        cluster = self.cluster
        for name in self.names:
            self.boot(name)
        wait_until("a director to take the VIP and serve it",
                   lambda: "served_by" in cluster.host("c1").cmd("curl -s -m 1 http://%s/" % cluster.vip), timeout=20)
        owner = [name for name in self.names if cluster.vip in cluster.host(name).cmd("ip -4 -o addr")]
        return "keepalived (advert_int %gs) + HAProxy on %s; VIP on %s" % (
            self.settings.advert_int, ", ".join(self.names), ", ".join(owner) or "none")

    def stop(self):
        self.cluster.kill(*[(name, daemon) for name in self.names for daemon in DAEMONS])

    def crash(self, name):
        """Its daemons die at once (the harness darkens its links: topologies/faults.py)."""
        self.cluster.kill(*[(name, daemon) for daemon in DAEMONS], crash=True)

    def boot(self, name):
        """HAProxy and keepalived on one director host (again, after a crash: without the VIP,
        until keepalived takes it)."""
        home = self._home(name)
        os.makedirs(home, exist_ok=True)
        files = {key: os.path.join(home, key)
                 for key in ("haproxy.cfg", "haproxy.pid", "keepalived.conf", "keepalived.pid", "vrrp.pid")}
        with open(files["haproxy.cfg"], "w") as f:
            f.write(haproxy_config(self.cluster.description, self.settings, self._haproxy_socket(name)))
        with open(files["keepalived.conf"], "w") as f:
            f.write(keepalived_config(self.cluster.description, name, self.settings, files["haproxy.pid"]))
        haproxy = self.cluster.spawn(name, "haproxy", ["haproxy", "-db", "-f", files["haproxy.cfg"]])
        with open(files["haproxy.pid"], "w") as f:        # in the foreground HAProxy writes none
            f.write("%d\n" % haproxy.pid)
        self.cluster.spawn(name, "keepalived", ["keepalived", "--dont-fork", "--log-console", "--vrrp", "--no-syslog",
                                                "-f", files["keepalived.conf"], "-p", files["keepalived.pid"],
                                                "-r", files["vrrp.pid"]])

    def _haproxy_socket(self, name):
        return os.path.join(self._home(name), "haproxy.sock")

    def haproxy_servers(self, name):
        """{real server: its state in a director's HAProxy ("UP", "DOWN", "UP 1/2" going down...)},
        from HAProxy's runtime API; {} when that HAProxy does not answer."""
        try:
            with socket.socket(socket.AF_UNIX) as api:
                api.settimeout(2)
                api.connect(self._haproxy_socket(name))
                api.sendall(b"show stat\n")
                answer = b"".join(iter(lambda: api.recv(65536), b""))
        except OSError:
            return {}
        rows = csv.DictReader(answer.decode(errors="replace").lstrip("# ").splitlines())
        return {r["svname"]: r["status"] for r in rows
                if r.get("pxname") == "real_servers" and r.get("svname") not in ("FRONTEND", "BACKEND")}
