"""The log reviewer's criteria: pure logic fed with log records (ECS JSON objects) in time order.

Criteria and their default thresholds (all configurable):
  port-scan          one source trying >= 15 distinct ports of one host within 300 s
                     (Zeek's scan policy: port_scan_threshold 15, interval 5 min); attempts that
                     failed count.
  host-sweep         one source trying >= 25 distinct hosts within 300 s (Zeek's
                     addr_scan_threshold 25, interval 5 min).
  syn-flood          >= 200 connection attempts within 2 s from one source that did not complete
                     (no HTTP request logged for them; project default).
  brute-force-login  >= 5 failed logins from one source within 600 s (fail2ban's maxretry 5,
                     findtime 10 min).
  forbidden-service  any attempt from the public net to a real server's address, a DB port, or
                     the management address, or to a TCP or UDP port of a VIP that no virtual
                     service serves (the design's own rule: the public side may only talk to the
                     virtual services and the router). A record of an attempt on a virtual
                     service names it (labels.service): services added at run time are known
                     from the log itself, and so are their VIPs.
  spoofing           any packet with a forged source (port security dropped it at the port it came
                     in on): the host cabled to that port is flagged, never the address it claimed,
                     so no one can get another host banned.
Each (criterion, source) raises one alert per `realert` seconds (fail2ban's bantime, 600 s).
A connection attempt is seen by every switch on its way; it counts once, at the source's own edge
switch (s_pub for sources the cluster does not know): that is what the source itself tried to
reach, before any proxy rewrote it (NAT's copies on s_lan go to the real server).
"""
import ipaddress
from collections import defaultdict, deque
from datetime import datetime

from core.addressing import PUBLIC_EDGE
from core.eventlog import ecs_timestamp
from core.settings import Thresholds


def epoch(timestamp):
    """ECS @timestamp ("2026-11-26T22:43:51.263Z") as seconds since the epoch."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class Window:
    """Items seen in the last `seconds`, by time."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.items: deque = deque()

    def add(self, at, item):
        self.items.append((at, item))
        while self.items and self.items[0][0] < at - self.seconds:
            self.items.popleft()

    def distinct(self):
        return {item for _, item in self.items}

    def __len__(self):
        return len(self.items)


class Detector:
    """Feed records with `observe`; it returns the alerts they raise."""

    def __init__(self, public_net, protected, thresholds=Thresholds(), ignore=(), edges=None,
                 public_edge=PUBLIC_EDGE, vips=()):
        self.public_net = public_net          # ipaddress network of the clients' side
        self.protected = protected            # {ip: what} the public side must not reach
        self.vips = set(vips)                 # the public side reaches only their services' ports
        self.edges = edges or {}              # {ip: the edge switch its host is cabled to}
        self.public_edge = public_edge
        self.t = thresholds
        self.ignore = set(ignore)             # sources never flagged (the controller's own checks)
        self.ports = defaultdict(lambda: Window(self.t.portscan_window))
        self.hosts = defaultdict(lambda: Window(self.t.sweep_window))
        self.syns = defaultdict(lambda: Window(self.t.synflood_window))
        self.completed = defaultdict(lambda: Window(self.t.synflood_window))
        self.failures = defaultdict(lambda: Window(self.t.bruteforce_window))
        self.first_seen = {}
        self.last_alert = {}

    def observe(self, record):
        source = record.get("source.ip")
        if not source or source in self.ignore or "@timestamp" not in record:
            return []
        at = epoch(record["@timestamp"])
        self.first_seen.setdefault(source, at)
        if record.get("event.action") == "connection-attempt":
            if record.get("observer.name", self.public_edge) != self.edges.get(source, self.public_edge):
                return []
            return self._attempt(record, source, at)
        if record.get("event.action") == "http-request":
            return self._request(record, source, at)
        if record.get("event.action") == "spoofed-packet":
            return self._alert("spoofing", source, at, switch=record.get("observer.name"),
                               port=record.get("observer.ingress.interface.id"),
                               host=record.get("observer.ingress.interface.alias"),
                               claimed=record.get("labels.claimed_ip"))
        return []

    def _attempt(self, record, source, at):
        alerts = []
        destination = record.get("destination.ip")
        port = record.get("destination.port")
        if port is not None:
            self.ports[(source, destination)].add(at, port)
            if len(self.ports[(source, destination)].distinct()) >= self.t.portscan_ports:
                alerts += self._alert("port-scan", source, at, host=destination,
                                      ports=sorted(self.ports[(source, destination)].distinct()))
        self.hosts[source].add(at, destination)
        if len(self.hosts[source].distinct()) >= self.t.sweep_hosts:
            alerts += self._alert("host-sweep", source, at, hosts=sorted(self.hosts[source].distinct()))
        if record.get("network.transport") == "tcp":
            alerts += self._syn(source, destination, at, record)
        if record.get("labels.service"):
            self.vips.add(destination)
        forbidden = self._forbidden(record, destination, port)
        if forbidden and self._is_public(source):
            alerts += self._alert("forbidden-service", source, at, destination=destination, port=port,
                                  what=forbidden)
        return alerts

    def _forbidden(self, record, destination, port):
        """What the public side may not reach at the attempt's destination, or None."""
        if destination in self.protected:
            return self.protected[destination]
        if destination in self.vips and port is not None and not record.get("labels.service"):
            return "%s port %d of VIP %s, which no virtual service serves" % (
                record.get("network.transport"), port, destination)
        return None

    def _syn(self, source, destination, at, record):
        key = (record.get("source.port"), destination, record.get("destination.port"))
        self.syns[source].add(at, key)
        incomplete = len(self.syns[source]) - len(self.completed[source])
        if incomplete >= self.t.synflood_attempts:
            return self._alert("syn-flood", source, at, attempts=len(self.syns[source]),
                               completed=len(self.completed[source]), window_s=self.t.synflood_window)
        return []

    def _request(self, record, source, at):
        self.completed[source].add(at, record.get("source.port"))
        if record.get("event.category") == "authentication" and record.get("event.outcome") == "failure":
            self.failures[source].add(at, record.get("user.name"))
            if len(self.failures[source]) >= self.t.bruteforce_failures:
                return self._alert("brute-force-login", source, at, failures=len(self.failures[source]),
                                   users=sorted(self.failures[source].distinct()))
        return []

    def _is_public(self, ip):
        try:
            return ipaddress.ip_address(ip) in self.public_net
        except ValueError:
            return False

    def _alert(self, criterion, source, at, **evidence):
        key = (criterion, source)
        if key in self.last_alert and at - self.last_alert[key] < self.t.realert:
            return []
        self.last_alert[key] = at
        return [{"@timestamp": ecs_timestamp(at), "event.kind": "alert", "rule.name": criterion,
                 "source.ip": source, "event.start": ecs_timestamp(self.first_seen[source]),
                 "event.end": ecs_timestamp(at), "evidence": evidence}]
