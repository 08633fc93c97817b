"""What the controller knows of the cluster: switches, ports, the active proxy, real servers.

Pure logic driven by events (switch up/down, port status, flows installed, counters) and by
requests (the virtual services: controller/servicebook.py); the Ryu adapter feeds it, turns `view()` into flows, and
the REST API reads `status()` and `backends()`. Nothing here touches a socket.
"""
import functools
import ipaddress
import json
import time
import zlib
from collections import defaultdict
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Set, Tuple

from controller import views
from controller.accounting import CopyAccount
from controller.checks import CheckKey, check_key, checks, host_check
from controller.events import PortChange
from controller.servicebook import InvalidRequest, ServiceBook, UnknownRealServer  # noqa: F401 (the API's errors)
from controller.specs import BalancerView, ServiceView, destination
from controller.health import HEALTH_STATES, ServerHealth, usable
from controller.maglev import TABLE_SIZE, lookup_table
from controller.schedulers import (LEAST_CONNECTION, counted, failover_choice, least_connection_weights,
                                   scheduling_weights)
from controller.proxies import End, PortState, ProxyGroup
from core.description import ClusterDescription, Host
from core.ipvsadm import ServiceKey, VirtualService
from core.eventlog import ecs_timestamp
from core.rules import is_integer
from core.settings import HealthSettings, NetworkPolicy, ProxyPolicy

DEFAULT_BAN_SECONDS = 600   # fail2ban's default bantime
MAX_BAN_SECONDS = 7 * 24 * 3600
SNAPSHOT_VERSION = 2        # 2: the services


class NotBlocked(LookupError):
    """A request to unblock a source that is not blocked."""


class UnknownNode(LookupError):
    """A request named a node that cannot be failed through the API."""


FAILABLE_ROLES = ("web", "db", "client")     # and the proxies
NODE_FAILURE_KINDS = ("link",)


@functools.lru_cache(maxsize=4096)
def _table(weights: Tuple[Tuple[str, int], ...], healthy: FrozenSet[str]) -> Tuple[Optional[str], ...]:
    """A service's Maglev lookup table (kept: services' tables rarely change, views are many)."""
    return tuple(lookup_table(dict(weights), healthy))


class ClusterState:
    def __init__(self, description: ClusterDescription, health_settings: HealthSettings = HealthSettings(),
                 proxy_policy: ProxyPolicy = ProxyPolicy(), network_policy: NetworkPolicy = NetworkPolicy(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.description = description
        self.connected: Set[str] = set()  # switch names with a live OpenFlow channel
        self.ready: Set[str] = set()  # switch names whose flows are confirmed (barrier reply)
        self.ports: Dict[End, PortState] = {}  # (switch name, port) -> PortState
        self.book = ServiceBook(description)      # the virtual services as they are now
        self.server_ids = self.book.server_ids
        self.cluster_id = "%08x" % zlib.crc32(description.to_json(compact=True).encode())
        # proxy -> {destination (controller/specs.py): {"opened", "closed", "packets", "bytes"}}
        self.counters: Dict[str, Dict[int, Dict[str, int]]] = {}
        # least-connection services: the weights their tables are populated with now
        # (controller/schedulers.py)
        self.steering: Dict[ServiceKey, Tuple[Tuple[str, int], ...]] = {}
        self._opened: Dict[ServiceKey, Dict[str, int]] = {}      # ...and the connections given, last poll
        # proxy -> its persistence entries, as last read (controller/counters.py affinity_entries)
        self.affinity: Dict[str, List[Dict[str, Any]]] = {}
        # each web host's check of its HTTP port; beside it, the checks of the services' ports
        self.health = {h.name: ServerHealth(health_settings) for h in description.real_servers}
        self.health_settings = health_settings
        self.checks: Dict[CheckKey, str] = {}                 # every check now: its checker
        self.service_checks: Dict[CheckKey, ServerHealth] = {}
        self.sync_checks()
        self.passive_checks = health_settings.passive
        self.segmentation = network_policy.segmentation
        # real server -> its last passive signal: {"at", "signal", "checked"}
        self.passive_signals: Dict[str, Dict[str, Any]] = {}
        self._service_ports = {(w.service_interface.switch, w.service_interface.port): w.name
                               for w in description.real_servers}
        self._proxy_cable_ends = {(switch, port) for proxy in description.proxies
                                  for switch, port, _ in description.proxy_cable_ends(proxy)}
        self.proxies = ProxyGroup(description, proxy_policy, clock)
        self.clock = clock
        self.blocks: Dict[str, Dict[str, Any]] = {}  # source IP -> {"until": clock time, "reason": text}
        self.failed_nodes: Dict[str, str] = {}  # node -> how the REST API failed it
        self.requests: Dict[str, Optional[int]] = {}  # real server -> requests it says it answered (its /health)
        # The cluster's own hosts (not its clients, which are the outside world) cannot be blocked.
        self.own_addresses = {i.ip: h.name for h in description.hosts if h.role != "client"
                              for i in h.interfaces}
        self.own_addresses.update({description.vip: "the VIP", description.nat_gateway: "the NAT gateway"})
        self.own_addresses.update({t.local_ip: t.proxy for t in description.tunnels})
        self.packet_in_count = 0
        self.probe_count = 0
        self.log_copies = 0           # connection-log copies received
        self.log_copies_dropped = 0   # ... and dropped by the switches' log meters
        self.refused = 0              # connection attempts segmentation refused (logged)
        self.spoofed = 0              # forged packets port security dropped (logged)
        # (edge switch, meter) -> its CopyAccount
        self.copies: Dict[Tuple[str, int], CopyAccount] = defaultdict(CopyAccount)
        self._in_table = self.healthy()   # as of the last table_changes()

    @property
    def active_proxy(self) -> Optional[str]:
        return self.proxies.active[0] if self.proxies.active else None

    # --- events -------------------------------------------------------------------------------
    def switch_connected(self, name: str) -> bool:
        """True when it is a proxy come before the first election settled: the election is then
        to be settled after a while (controller/proxies.py)."""
        self.connected.add(name)
        if name not in self.description.proxies:
            return False
        self.proxies.connected(name)
        return not self.proxies.settled

    def switch_disconnected(self, name: str) -> None:
        self.connected.discard(name)
        self.ready.discard(name)
        for end in [k for k in self.ports if k[0] == name]:
            self._set_port(end, None)
        if name in self.description.proxies:
            self.proxies.disconnected(name)

    def copy_account(self, switch: str, meter: int) -> CopyAccount:
        return self.copies[(switch, meter)]

    def probe_reply(self, proxy: str, side: str, sent_at: float) -> None:
        self.probe_count += 1
        self.proxies.probe_reply(proxy, side, sent_at)

    def reference_reply(self, side: str, sent_at: float) -> None:
        self.proxies.reference_reply(side, sent_at)

    def elect(self) -> Optional[Dict[str, Any]]:
        """Re-run the proxy election; the failover record when the active set changed."""
        return self.proxies.elect(self.connected, self.ports)

    def flows_installed(self, name: str) -> None:
        if name in self.connected:
            self.ready.add(name)

    def port_status(self, switch: str, port: int, up: bool, live: Optional[bool] = None) -> Optional[str]:
        """Record a port's state: its link `up`, and `live` (see PortState; as the link if not
        given); the real server behind it if its health changed, else None."""
        live = up if live is None else live
        before = self.ports.get((switch, port))
        self._set_port((switch, port), PortState(up, live, live or bool(up and before and before.heard)))
        server = self._service_ports.get((switch, port))
        if server and not up and self.health[server].link_down():
            return server
        return None

    def port_changed(self, switch: str, port: int, up: bool, live: bool) -> Optional[PortChange]:
        """A port status the switch reported: the PortChange it makes (controller/events.py), or
        None when it changes neither the link nor the liveness known."""
        before = self.ports.get((switch, port))
        if before is not None and (before.link, before.live) == (up, live):
            return None
        server = self.port_status(switch, port, up, live)
        return PortChange(switch, port, before, up, live, self.description.trunk_ports(switch).get(port), server)

    def _set_port(self, key: End, port_state: Optional[PortState]) -> None:
        """A port's new PortState (None: no longer known), told to the proxies' BFD judge if it
        is a proxy's cable end."""
        self.ports.pop(key, None)
        if port_state is not None:
            self.ports[key] = port_state
        if key in self._proxy_cable_ends:
            self.proxies.bfd_changed(key, port_state)

    def probe_result(self, server: str, result: str) -> bool:
        """A health check's result; True when the server's health changed."""
        return self.health[server].probe_result(result)

    def check_result(self, key: CheckKey, result: str) -> bool:
        """The result of any check (controller/checks.py); True when its health changed."""
        return self.check_health(key).probe_result(result)

    def check_health(self, key: CheckKey) -> ServerHealth:
        """The health a check keeps (a web host's HTTP port check is its own); a check of a port
        the services gave since the last sync_checks starts here."""
        if key == host_check(key.web, self.description.http_port):
            return self.health[key.web]
        if key not in self.service_checks:
            self.sync_checks()
        return self.service_checks[key]

    def sync_checks(self) -> None:
        """The checks for the services as they are now: a new port's check starts unknown, a
        port no service names any more is no longer checked."""
        d = self.description
        self.checks = checks([w.name for w in d.real_servers], self.book.services.values(), self.book.web_names,
                             d.http_port)
        for key in self.checks:
            if key != host_check(key.web, d.http_port) and key not in self.service_checks:
                self.service_checks[key] = ServerHealth(self.health_settings)
        for gone in set(self.service_checks) - set(self.checks):
            del self.service_checks[gone]

    def services_changed(self) -> None:
        """After a change of the services: their checks, and no counters of what is gone."""
        self.prune_counters()
        self.sync_checks()

    def passive_signal(self, server: str, signal: str, key: Optional[CheckKey] = None) -> Optional[float]:
        """A RST or ICMP error from a real server (about the port of check `key`, if known), seen
        by its switch: in how many seconds to make an extra active check, or None (see
        ServerHealth.passive_signal)."""
        delay = self._signalled(server, key).passive_signal(self.clock())
        self.passive_signals[server] = {"at": ecs_timestamp(), "signal": signal, "checked": delay is not None}
        return delay

    def passive_check_result(self, server: str, signal: str, result: str,
                             key: Optional[CheckKey] = None) -> Optional[str]:
        """An extra check's result: DOWN when it took the server out, CONFIRM when another check
        is due at once, None otherwise (see ServerHealth.extra_check_result)."""
        return self._signalled(server, key).extra_check_result(result, signal)

    def _signalled(self, server: str, key: Optional[CheckKey]) -> ServerHealth:
        """The health a passive signal is about: its check's, else the server's HTTP port's."""
        return self.check_health(key) if key in self.checks else self.health[server]

    def settle_election(self) -> Optional[Dict[str, Any]]:
        """End the start-up hold (see controller/proxies.py); the election's record, if any."""
        self.proxies.settle()
        return self.elect()

    def packet_in(self) -> None:
        self.packet_in_count += 1

    def update_counters(self, proxy: str, destination: int, **values: int) -> None:
        """Latest counters of one destination (a real server of a service) on one proxy:
        connections opened (SYNs given to it) and closed (clients' FINs), packets, bytes."""
        self.counters.setdefault(proxy, {}).setdefault(destination, {}).update(values)

    def steer(self) -> bool:
        """Re-weight the least-connection services from the counters just polled (the SYNs given
        to each real server and their clients' FINs); True if a table changed."""
        changed = False
        for service in self.book.services.values():
            if service.scheduler not in LEAST_CONNECTION:
                continue
            index = self.book.indexes[service.key]
            hosts = self.book.hosts(service)
            active, opened = counted(self.counters, {name: destination(index, self.server_ids[name])
                                                     for name, _ in hosts})
            before = self._opened.get(service.key, opened)
            self._opened[service.key] = opened
            given = {name: max(0, count - before.get(name, count)) for name, count in opened.items()}
            healthy = self.service_healthy(service)
            weights = scheduling_weights(service.scheduler, {name: e.weight for name, e in hosts if name in healthy})
            steered = tuple(sorted(least_connection_weights(weights, active, given).items()))
            changed |= self.steering.get(service.key) != steered
            self.steering[service.key] = steered
        return changed

    def prune_counters(self) -> None:
        """Forget the counters of destinations that are gone (a service or real server removed:
        its index may be another service's next)."""
        alive = set(self.book.destinations())
        for counters in self.counters.values():
            for gone in set(counters) - alive:
                del counters[gone]

    def block(self, ip: object, seconds: object = DEFAULT_BAN_SECONDS, reason: object = "blocked by request") -> str:
        """Drop a source at the public edge for `seconds` (fail2ban style)."""
        try:
            if not isinstance(ip, str):        # IPv4Address(10) would be 0.0.0.10
                raise TypeError(ip)
            address = ipaddress.IPv4Address(ip)
        except (ipaddress.AddressValueError, TypeError):
            raise InvalidRequest("ip must be an IPv4 address like 10.0.0.11, got %s" % json.dumps(ip)) from None
        own = dict({s.key.vip: "a VIP" for s in self.book.services.values()}, **self.own_addresses)
        if str(address) in own:
            raise InvalidRequest("%s is %s, one of the cluster's own addresses: it cannot be blocked"
                                 % (address, own[str(address)]))
        if address.is_loopback or address.is_multicast or address.is_unspecified or str(address).endswith(".255"):
            raise InvalidRequest("%s is not a host address a client could send from" % address)
        if not is_integer(seconds, 1, MAX_BAN_SECONDS):
            raise InvalidRequest("seconds must be an integer from 1 to %d, got %s"
                                 % (MAX_BAN_SECONDS, json.dumps(seconds)))
        if not isinstance(reason, str) or len(reason) > 500:
            raise InvalidRequest("reason must be a string of at most 500 characters")
        self.blocks[str(address)] = {"until": self.clock() + seconds, "reason": reason}
        return str(address)

    def unblock(self, ip: str) -> None:
        if ip not in self.blocks:
            raise NotBlocked("%s is not blocked; blocked: %s" % (ip, ", ".join(sorted(self.blocks)) or "none"))
        del self.blocks[ip]

    def expire_blocks(self) -> List[str]:
        """Lift the bans whose time is up; the addresses lifted."""
        now = self.clock()
        expired = [ip for ip, block in self.blocks.items() if block["until"] <= now]
        for ip in expired:
            del self.blocks[ip]
        return expired

    def requests_served(self, server: str, header: Optional[str]) -> None:
        """A real server's own count of the requests it answered, from its health check's
        X-Requests-Served (None when it does not say: nginx)."""
        self.requests[server] = int(header) if header and header.isdigit() else None

    # --- nodes failed through the API ---------------------------------------------------------
    def node_ports(self, name: str) -> List[End]:
        """The (switch, port) of every cable end of a node the API can fail: a proxy's, both
        ends; a host's, its edge switches' ends. UnknownNode for anything else."""
        d = self.description
        if name in self._proxy_switches():
            return [(switch, port) for switch, port, _ in d.proxy_cable_ends(name)]
        host = next((h for h in d.hosts if h.name == name and h.role in FAILABLE_ROLES), None)
        if host is None:
            raise UnknownNode("no node %r to fail: the API fails proxies, web hosts, DB hosts and clients (%s)"
                              % (name, ", ".join(self._failable())))
        return [(i.switch, i.port) for i in host.interfaces]

    def _proxy_switches(self) -> List[str]:
        return [s.name for s in self.description.switches if s.role == "proxy"]

    def _failable(self) -> List[str]:
        return self._proxy_switches() + [h.name for h in self.description.hosts if h.role in FAILABLE_ROLES]

    def node_failure(self, name: str, kind: object) -> List[End]:
        """The ports failing a node by `kind` takes down; InvalidRequest or UnknownNode if it
        cannot be failed so. Changes nothing."""
        ports = self.node_ports(name)
        if kind not in NODE_FAILURE_KINDS:
            raise InvalidRequest("kind must be one of %s, got %s" % (", ".join(NODE_FAILURE_KINDS), json.dumps(kind)))
        if name in self.failed_nodes:
            raise InvalidRequest("%s has already been failed (%s): recover it first" % (name, self.failed_nodes[name]))
        return ports

    def fail_node(self, name: str, kind: str) -> List[End]:
        ports = self.node_failure(name, kind)
        self.failed_nodes[name] = kind
        return ports

    def node_recovery(self, name: str) -> List[End]:
        """The ports recovering a node brings back up; InvalidRequest if the API did not fail it."""
        ports = self.node_ports(name)
        if name not in self.failed_nodes:
            raise InvalidRequest("%s has not been failed through the API" % name)
        return ports

    def recover_node(self, name: str) -> List[End]:
        ports = self.node_recovery(name)
        del self.failed_nodes[name]
        return ports

    def nodes(self) -> List[Dict[str, Any]]:
        """Every node the API can fail, with its cable ends' links and how the API failed it."""
        d = self.description
        return [{"name": name, "role": "proxy" if name in self._proxy_switches() else d.host(name).role,
                 "failed": self.failed_nodes.get(name),
                 "links": [{"switch": s, "port": p, "up": bool(self.ports.get((s, p)) and self.ports[(s, p)].link)}
                           for s, p in self.node_ports(name)]} for name in self._failable()]

    def blocks_view(self) -> List[Dict[str, Any]]:
        now = self.clock()
        return [{"ip": ip, "seconds_left": round(block["until"] - now, 1), "reason": block["reason"]}
                for ip, block in sorted(self.blocks.items())]

    # --- what survives a restart ---------------------------------------------------------------
    def snapshot(self, wall_now: float) -> Dict[str, Any]:
        """What a restarted controller must not lose, as JSON-ready data: the services (with
        their indexes, which their connections' marks carry) and the real servers taken out of
        the first one, blocks (with their end as wall-clock time), the proxies carrying the VIPs,
        each real server's last known health, and the nodes the API failed (their ports stay
        down)."""
        now = self.clock()
        return {"version": SNAPSHOT_VERSION, "cluster": self.cluster_id,
                **self.book.snapshot(),
                "blocks": {ip: {"until": round(wall_now + b["until"] - now), "reason": b["reason"]}
                           for ip, b in self.blocks.items()},
                "active_proxies": list(self.proxies.active),
                "health": {name: h.state for name, h in self.health.items()},
                "service_checks": [[key.web, key.protocol, key.port, health.state]
                                   for key, health in sorted(self.service_checks.items())],
                "failed_nodes": dict(self.failed_nodes)}

    def restore(self, snapshot: object, wall_now: float) -> None:
        """Take back a snapshot (see `snapshot`); what no longer fits the cluster (a real server
        or proxy it does not have, a ban already over) is left out. ValueError if it is not a
        snapshot at all: then nothing changes."""
        if not isinstance(snapshot, dict) or snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError("not a version-%d controller state" % SNAPSHOT_VERSION)
        if snapshot.get("cluster") != self.cluster_id:
            raise ValueError("saved for another cluster (description %s, this one %s)"
                             % (snapshot.get("cluster"), self.cluster_id))
        try:
            book = self.book.restored(snapshot)
            now = self.clock()
            blocks = {ip: {"until": now + float(b["until"]) - wall_now, "reason": str(b["reason"])}
                      for ip, b in snapshot["blocks"].items() if float(b["until"]) > wall_now}
            active = tuple(p for p in snapshot["active_proxies"] if p in self.proxies.names)
            health = {n: h for n, h in snapshot["health"].items() if n in self.health}
            checked = {CheckKey(web, protocol, port): h for web, protocol, port, h in snapshot["service_checks"]}
            failed_nodes = {n: k for n, k in snapshot.get("failed_nodes", {}).items()
                            if n in self._failable() and k in NODE_FAILURE_KINDS}
            if not set(health.values()) | set(checked.values()) <= HEALTH_STATES:
                raise ValueError("health states must be some of %s" % ", ".join(sorted(HEALTH_STATES)))
        except (KeyError, TypeError, AttributeError, ValueError, InvalidRequest) as e:
            raise ValueError("a damaged controller state (%s: %s)" % (type(e).__name__, e)) from None
        self.book = book
        self.blocks = blocks
        self.proxies.active = active
        self.failed_nodes = failed_nodes
        for name, state in health.items():
            self.health[name].resume(state)
        self.services_changed()
        for key, state in checked.items():
            if key in self.service_checks:
                self.service_checks[key].resume(state)
        self._in_table = self.healthy()

    # --- decisions ----------------------------------------------------------------------------
    def real_server_state(self, web: Host, key: Optional[CheckKey] = None) -> str:
        """down while the real server's switch port is down, else the health of its check `key`
        (of its HTTP port if none): up, degraded, down, or unknown before the first verdict."""
        if not self._link_up(web):
            return "down"
        return (self.health[web.name] if key is None else self.check_health(key)).state

    def service_healthy(self, service: VirtualService) -> Set[str]:
        """Web hosts of a service that get new connections, each by the check of its port there:
        see controller.health.usable."""
        return usable({name: self.real_server_state(self.description.host(name), check_key(name, service, entry))
                       for name, entry in self.book.hosts(service)})

    def healthy(self) -> Set[str]:
        """Web hosts that get new connections of some service."""
        return set().union(*(self.service_healthy(s) for s in self.book.services.values()))

    def table_changes(self) -> Tuple[List[str], List[str]]:
        """Real servers that left every service's table and that joined one since the last
        call: (left, joined), each sorted."""
        healthy = self.healthy()
        left, joined = self._in_table - healthy, healthy - self._in_table
        self._in_table = healthy
        return sorted(left), sorted(joined)

    def service_view(self, service: VirtualService) -> ServiceView:
        """A service as the pipeline carries it: its Maglev table over the real servers up, or,
        while none is, every slot to its sorry server (if it has one)."""
        healthy = self.service_healthy(service)
        hosts, sorry = self.book.hosts(service), self.book.sorry(service)
        table = self._scheduled_table(service, hosts, healthy)
        if sorry and not any(table):
            table, healthy = (sorry[0],) * len(table), {sorry[0]}
        return ServiceView(index=self.book.indexes[service.key], service=service,
                           hosts=hosts + ((sorry,) if sorry else ()), table=table, healthy=tuple(sorted(healthy)),
                           inhibited=self._inhibited(service, hosts, healthy))

    def _inhibited(self, service: VirtualService, hosts: Tuple[Tuple[str, Any], ...],
                   healthy: Set[str]) -> Tuple[str, ...]:
        """The service's real servers out by their check alone (their port is up) that it keeps
        quiescent instead (keepalived's inhibit_on_failure), as LVS keeps a weight-0 server's."""
        return tuple(sorted(name for name, entry in hosts if entry.address in service.inhibit_on_failure
                            and name not in healthy and self._link_up(self.description.host(name))))

    def _link_up(self, web: Host) -> bool:
        intf = web.service_interface
        port = self.ports.get((intf.switch, intf.port))
        return port is None or port.link

    def _scheduled_table(self, service: VirtualService, hosts: Tuple[Tuple[str, Any], ...],
                         healthy: Set[str]) -> Tuple[Optional[str], ...]:
        """The service's lookup table as its scheduler fills it (controller/schedulers.py)."""
        weights = scheduling_weights(service.scheduler, {name: e.weight for name, e in hosts})
        if service.scheduler == "fo":
            return (failover_choice(weights, [name for name, _ in hosts if name in healthy]),) * TABLE_SIZE
        if service.scheduler in LEAST_CONNECTION:
            # the last poll's shares, among the servers still up and of positive weight (a drain
            # or a failure counts at once, not at the next poll)
            kept = {name: share for name, share in self.steering.get(service.key, ())
                    if name in healthy and weights.get(name, 0) > 0}
            weights = kept if any(kept.values()) else weights
        return _table(tuple(sorted(weights.items())), frozenset(healthy))

    def view(self) -> BalancerView:
        return BalancerView(active_proxies=self.proxies.active, bfd_held=self.proxies.bfd_held(),
                            blocked=tuple(sorted(self.blocks)),
                            passive_checks=self.passive_checks, segmentation=self.segmentation,
                            services=tuple(self.service_view(s) for s in self.book.ordered()),
                            server_ids=tuple(sorted(self.server_ids.items())))

    # --- views (controller/views.py) ---------------------------------------------------------
    def status(self) -> Dict[str, Any]:
        return views.status(self)

    def backends(self) -> Dict[str, Any]:
        return views.backends(self)

    def services_view(self) -> List[Dict[str, Any]]:
        return views.services(self)

    def persistence_view(self) -> List[Dict[str, Any]]:
        return views.persistence(self)
