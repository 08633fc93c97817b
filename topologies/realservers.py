"""The real servers' programs, started by the harness and watched by the controller's health
checks: on every web host the web app (apps/webserver.py, state in etcd) or nginx on the HTTP
port, and for each port a virtual service gives the host, something real that answers there:
the web app (or nginx) on a TCP port, dnsmasq on a DNS service's port (UDP 53), answering
`whoami.lvsdn.` with the host's own address, and a UDP echo (apps/udpecho.py) on any other UDP
port, each answer naming the host."""
import json
import os
import sys
from dataclasses import dataclass
from typing import List

from core.addressing import WHOAMI
from topologies.runstate import wait_until
from topologies.staticweb import NGINX, nginx_config, write_docroot


@dataclass(frozen=True, order=True)
class Program:
    """One server a web host runs: its protocol, port and kind (web, dns or echo)."""
    protocol: str
    port: int
    kind: str

    def name(self, http_port):
        """Its name among the host's processes (the HTTP port's web server is "web")."""
        if (self.protocol, self.port) == ("tcp", http_port):
            return "web"
        return "%s-%d" % ({"web": "web", "dns": "dns", "echo": "udp"}[self.kind], self.port)


def programs(description, services, web):
    """The programs a web host runs for `services`: the HTTP port's web server always (the
    controller's health checks ask it), one per (protocol, port) a service gives the host."""
    address = description.host(web).ip
    found = {Program("tcp", description.http_port, "web")}
    for service in services:
        for entry in service.entries:
            if entry.address == address:
                kind = "web" if service.key.protocol == "tcp" else "dns" if service.key.is_dns else "echo"
                found.add(Program(service.key.protocol, entry.port, kind))
    return sorted(found)


def _whoami(host, ip, port, tries):
    """The address the DNS server at ip:port gives for `whoami.lvsdn.` (its own), asked from `host`
    with `tries` tries of `tries` seconds each."""
    return host.cmd("dig @%s -p %d %s +short +time=%d +tries=%d" % (ip, port, WHOAMI, tries, tries)).strip()


def _echoed_by(host, ip, port):
    """The host the UDP echo at ip:port names in its answer to `host`, or None."""
    out = host.cmd("%s -m apps.udpecho --ask %s %d" % (sys.executable, ip, port)).strip()
    return out.split()[0][len("served_by="):] if out.startswith("served_by=") else None


class RealServers:
    """The real servers' programs, their answers as a client would see them, and their start."""

    def __init__(self, cluster, web_server):
        self.cluster = cluster
        self.web_server = web_server
        self.names = [h.name for h in cluster.description.real_servers]

    def programs(self, web) -> List[Program]:
        return programs(self.cluster.description, self.cluster.services.current, web)

    def command(self, web, program):
        """The command line of one program of a web host."""
        cluster, d = self.cluster, self.cluster.description
        if program.kind == "dns":
            return ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                    "--user=root", "--pid-file=", "--port=%d" % program.port, "--log-queries", "--log-facility=-",
                    "--address=/%s/%s" % (WHOAMI, d.host(web).ip)]
        if program.kind == "echo":
            return [sys.executable, "-m", "apps.udpecho", "--name", web, "--port", str(program.port)]
        if self.web_server == NGINX:
            return self._nginx_command(web, program)
        log = "%s-access.jsonl" % web if program.name(d.http_port) == "web" else "%s-%d-access.jsonl" % (
            web, program.port)
        return [sys.executable, "-m", "apps.webserver", "--name", web, "--port", str(program.port),
                "--etcd", cluster.etcd.endpoints(), "--access-log", os.path.join(cluster.log_dir, log)]

    def _nginx_command(self, web, program):
        root = os.path.join(self.cluster.run_dir, "nginx", web, str(program.port))
        write_docroot(root, web)
        config = os.path.join(root, "nginx.conf")
        with open(config, "w") as f:
            f.write(nginx_config(web, program.port, root, self.cluster.log_dir))
        return ["nginx", "-p", root, "-c", config]

    def answers(self, web, program):
        """True when one of `web`'s programs answers (asked from inside the host)."""
        host, ip = self.cluster.host(web), self.cluster.description.host(web).ip
        if program.kind == "dns":
            return _whoami(host, ip, program.port, tries=1) == ip
        if program.kind == "echo":
            return _echoed_by(host, ip, program.port) is not None
        url = "http://%s:%d/health" % (ip, program.port)
        return host.cmd("curl -s -m 1 -o /dev/null -w '%%{http_code}' %s" % url) == "200"

    def served_by(self, node, service):
        """Which web host answers `service` (a VirtualService) at its VIP when `node` asks as a
        client would (the DNS server's address, the echo's or the web app's own word), or None."""
        host, d, key = self.cluster.host(node), self.cluster.description, service.key
        if key.protocol == "udp" and key.is_dns:
            answer = _whoami(host, key.vip, key.port, tries=2)
            return next((w.name for w in d.real_servers if w.ip == answer), None)
        if key.protocol == "udp":
            return _echoed_by(host, key.vip, key.port)
        out = host.cmd("curl -s -m 3 http://%s:%d/" % (key.vip, key.port))
        try:
            return json.loads(out)["served_by"]
        except (ValueError, KeyError, TypeError):
            return None

    def healthy(self, web):
        """True when every program of `web` answers."""
        return all(self.answers(web, program) for program in self.programs(web))

    def start(self):
        cluster = self.cluster
        for web in self.names:
            self.restart(web)
        wait_until("the real servers' programs to answer", lambda: all(map(self.healthy, self.names)), timeout=20)
        if not cluster.plain_switches:
            wait_until("the controller's health checks to find every real server of every service up",
                       self.all_up, timeout=20)
            wait_until("every switch to confirm its flows", lambda: cluster.rest("GET", "/lb/status")["flows_in_sync"],
                       timeout=20)
        count = sum(len(self.programs(web)) for web in self.names)
        return "%d real servers up, %d programs (health checks every %gs)" % (
            len(self.names), count, cluster.health.interval)

    def all_up(self):
        """True when the controller finds every web host up, and every real server of every
        service up by the check of its port."""
        cluster = self.cluster
        hosts = {b["state"] for b in cluster.rest("GET", "/lb/backends")["backends"]}
        services = {r["state"] for s in cluster.rest("GET", "/lb/services")["services"] for r in s["real_servers"]}
        return hosts | services == {"up"}

    def follow(self):
        """Start what the services now give a web host and it does not run yet; True when every
        program answers."""
        for web in self.names:
            for program in self.programs(web):
                if (web, program.name(self.cluster.description.http_port)) not in self.cluster.processes:
                    self.start_program(web, program)
        wait_until("the real servers' new programs to answer", lambda: all(map(self.healthy, self.names)),
                   timeout=20)

    def _keys(self, web):
        return [key for key in self.cluster.processes if key[0] == web]

    def stop(self):
        self.cluster.kill(*[key for web in self.names for key in self._keys(web)])

    def crash(self, web):
        """Every program of the web host killed at once, as its crash."""
        self.cluster.kill(*self._keys(web), crash=True)

    def kill(self, web, program, crash=True):
        """One program of a web host killed (its DNS server, say), the others left alone."""
        self.cluster.kill((web, program.name(self.cluster.description.http_port)), crash=crash)

    def restart(self, web):
        for program in self.programs(web):
            self.start_program(web, program)

    def start_program(self, web, program):
        self.cluster.spawn(web, program.name(self.cluster.description.http_port), self.command(web, program))
