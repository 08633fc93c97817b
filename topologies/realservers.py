"""The real servers' programs: the web app (apps/webserver.py, state in etcd) or nginx, one per
web host, started by the harness and watched by the controller's health checks."""
import os
import sys

from topologies.runstate import wait_until
from topologies.staticweb import NGINX, nginx_config, write_docroot


class RealServers:
    """The real servers' commands, their health as a client would see it, and their start."""

    def __init__(self, cluster, web_server):
        self.cluster = cluster
        self.web_server = web_server
        self.names = [h.name for h in cluster.description.real_servers]

    def command(self, web):
        cluster = self.cluster
        if self.web_server == NGINX:
            return self._nginx_command(web)
        return [sys.executable, "-m", "apps.webserver", "--name", web, "--port",
                str(cluster.description.http_port), "--etcd", cluster.etcd.endpoints(), "--access-log",
                os.path.join(cluster.log_dir, "%s-access.jsonl" % web)]

    def _nginx_command(self, web):
        root = os.path.join(self.cluster.run_dir, "nginx", web)
        write_docroot(root, web)
        config = os.path.join(root, "nginx.conf")
        with open(config, "w") as f:
            f.write(nginx_config(web, self.cluster.description.http_port, root, self.cluster.log_dir))
        return ["nginx", "-p", root, "-c", config]

    def healthy(self, web):
        """True when `web` answers its own /health (asked from inside the host)."""
        url = "http://%s:%d/health" % (self.cluster.description.host(web).ip, self.cluster.description.http_port)
        return self.cluster.host(web).cmd("curl -s -m 1 -o /dev/null -w '%%{http_code}' %s" % url) == "200"

    def start(self):
        cluster = self.cluster
        for web in self.names:
            self.restart(web)
        wait_until("web servers to answer /health", lambda: all(map(self.healthy, self.names)), timeout=20)
        wait_until("the controller's health checks to find every real server up",
                   lambda: {b["state"] for b in cluster.rest("GET", "/lb/backends")["backends"]} == {"up"},
                   timeout=20)
        wait_until("every switch to confirm its flows", lambda: cluster.rest("GET", "/lb/status")["flows_in_sync"],
                   timeout=20)
        return "%d real servers up (health checks every %gs)" % (len(self.names), cluster.health.interval)

    def stop(self):
        self.cluster.kill(*[(web, "web") for web in self.names])

    def crash(self, web):
        self.cluster.kill((web, "web"), crash=True)

    def restart(self, web):
        self.cluster.spawn(web, "web", self.command(web))
