"""What the controller knows of the cluster: switches, ports, the active proxy, real servers.

Pure logic driven by events (switch up/down, port status, flows installed, counters) and by
requests (weights, service membership); the Ryu adapter feeds it, turns `view()` into flows, and
the REST API reads `status()` and `backends()`. Nothing here touches a socket.
"""
import json
import time

from controller.flows import BalancerView, server_ids
from controller.health import HealthSettings, ServerHealth, usable
from controller.maglev import TABLE_SIZE, lookup_table
from controller.proxies import ProxyGroup, ProxyPolicy

DEFAULT_WEIGHT = 1
MAX_WEIGHT = 65535          # as ipvsadm


class InvalidRequest(ValueError):
    """A request that cannot be applied; nothing was changed."""


class UnknownBackend(LookupError):
    pass


class ClusterState:
    def __init__(self, description, health_settings=HealthSettings(), proxy_policy=ProxyPolicy(),
                 clock=time.monotonic):
        self.description = description
        self.connected = set()        # switch names with a live OpenFlow channel
        self.ready = set()            # switch names whose flows are confirmed (barrier reply)
        self.link_up = {}             # (switch name, port) -> bool
        self.weights = {h.name: DEFAULT_WEIGHT for h in description.real_servers}
        self.members = {h.name for h in description.real_servers}   # in the virtual service
        self.server_ids = dict(server_ids(description))
        self.counters = {}            # proxy -> {server: {"connections", "packets", "bytes"}}
        self.health = {h.name: ServerHealth(health_settings) for h in description.real_servers}
        self._service_ports = {(w.service_interface.switch, w.service_interface.port): w.name
                               for w in description.real_servers}
        self.proxies = ProxyGroup(description, proxy_policy, clock)
        self.packet_in_count = 0
        self.probe_count = 0

    @property
    def active_proxy(self):
        return self.proxies.active[0] if self.proxies.active else None

    # --- events -------------------------------------------------------------------------------
    def switch_connected(self, name):
        self.connected.add(name)
        if name in self.description.proxies:
            self.proxies.connected(name)

    def switch_disconnected(self, name):
        self.connected.discard(name)
        self.ready.discard(name)
        self.link_up = {k: v for k, v in self.link_up.items() if k[0] != name}
        if name in self.description.proxies:
            self.proxies.disconnected(name)

    def probe_reply(self, proxy, side):
        self.probe_count += 1
        self.proxies.probe_reply(proxy, side)

    def elect(self):
        """Re-run the proxy election; the failover record when the active set changed."""
        return self.proxies.elect(self.connected, self.link_up)

    def flows_installed(self, name):
        if name in self.connected:
            self.ready.add(name)

    def port_status(self, switch, port, up):
        """Record a port's state; the real server behind it if its health changed, else None."""
        self.link_up[(switch, port)] = up
        server = self._service_ports.get((switch, port))
        if server and not up and self.health[server].link_down():
            return server
        return None

    def probe_result(self, server, result):
        """A health check's result; True when the server's health changed."""
        return self.health[server].probe_result(result)

    def settle_election(self):
        """End the start-up hold (see controller/proxies.py); the election's record, if any."""
        self.proxies.settle()
        return self.elect()

    def packet_in(self):
        self.packet_in_count += 1

    def update_counters(self, proxy, server, **values):
        """Latest counters of one real server on one proxy: connections, packets, bytes."""
        self.counters.setdefault(proxy, {}).setdefault(server, {}).update(values)

    # --- requests -----------------------------------------------------------------------------
    def _real_server(self, name):
        if name not in self.weights:
            raise UnknownBackend("no real server named %r; real servers: %s"
                                 % (name, ", ".join(self.weights)))
        return name

    @staticmethod
    def _check_weight(weight):
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            raise InvalidRequest("weight must be an integer from 0 to %d, got %s"
                                 % (MAX_WEIGHT, json.dumps(weight)))
        return weight

    def set_weight(self, name, weight):
        """Weight 0 drains: no new connections, established ones continue."""
        self.weights[self._real_server(name)] = self._check_weight(weight)

    def add_member(self, name, weight=None):
        """Put a web host (back) into the virtual service, optionally with a new weight."""
        if not isinstance(name, str):
            raise InvalidRequest("name must be a string naming a web host, got %s" % json.dumps(name))
        self._real_server(name)
        if weight is not None:
            self._check_weight(weight)
        if name in self.members:
            raise InvalidRequest("%s is already in the virtual service" % name)
        self.members.add(name)
        if weight is not None:
            self.weights[name] = weight

    def remove_member(self, name):
        self._real_server(name)
        if name not in self.members:
            raise InvalidRequest("%s is not in the virtual service" % name)
        self.members.discard(name)

    # --- decisions ----------------------------------------------------------------------------
    def backend_state(self, web):
        """down while the real server's switch port is down, else its health: up, degraded,
        down, or unknown before the first verdict."""
        intf = web.service_interface
        if self.link_up.get((intf.switch, intf.port)) is False:
            return "down"
        return self.health[web.name].state

    def healthy(self):
        """Members that get new connections: see controller.health.usable."""
        return usable({w.name: self.backend_state(w) for w in self.description.real_servers
                       if w.name in self.members})

    def view(self):
        weights = {name: self.weights[name] for name in self.members}
        return BalancerView(active_proxies=self.proxies.active,
                            table=tuple(lookup_table(weights, self.healthy())),
                            server_ids=tuple(sorted(self.server_ids.items())))

    def proxy_status(self, name):
        health = self.proxies.health(name, self.connected, self.link_up)
        role = "active" if name in self.proxies.active else ("standby" if all(health.values()) else "down")
        return {"name": name, "dpid": "%#x" % self.description.switch(name).dpid, "role": role,
                "health": health,
                "packets": sum(c.get("packets", 0) for c in self.counters.get(name, {}).values())}

    # --- views --------------------------------------------------------------------------------
    def status(self):
        d = self.description
        return {
            "mode": d.mode,
            "vip": d.vip,
            "vip_mac": d.vip_mac,
            "active_proxy": self.active_proxy,
            "active_proxies": list(self.proxies.active),
            "vip_state": "up" if self.proxies.active else "down",
            "proxy_mode": self.proxies.policy.mode,
            "preempt": self.proxies.policy.preempt,
            "last_failover": self.proxies.last_failover,
            "proxies": [self.proxy_status(p) for p in d.proxies],
            "backends": [{"name": w.name, "rip": w.ip, "weight": self.weights[w.name],
                          "state": self.backend_state(w)} for w in d.real_servers],
            "switches": [{"name": s.name, "dpid": "%#x" % s.dpid, "role": s.role,
                          "connected": s.name in self.connected, "ready": s.name in self.ready}
                         for s in d.switches],
            "packet_in": self.packet_in_count,
            "probe_replies": self.probe_count,
        }

    def backends(self):
        """The virtual service, ipvsadm style: each real server with its weight, state, share of
        the Maglev table, connections (active proxy's table) and traffic (both proxies)."""
        table = self.view().table
        active = self.counters.get(self.active_proxy, {})
        rows = []
        for web in self.description.real_servers:
            traffic = [c.get(web.name, {}) for c in self.counters.values()]
            rows.append({
                "name": web.name, "rip": web.ip, "port": self.description.http_port,
                "in_service": web.name in self.members, "weight": self.weights[web.name],
                "state": self.backend_state(web), "slots": table.count(web.name),
                "last_change": self.health[web.name].last_change_cause,
                "active_connections": active.get(web.name, {}).get("connections", 0),
                "packets": sum(t.get("packets", 0) for t in traffic),
                "bytes": sum(t.get("bytes", 0) for t in traffic),
            })
        d = self.description
        return {"vip": d.vip, "port": d.http_port, "protocol": "tcp", "mode": d.mode,
                "scheduler": "maglev", "table_size": TABLE_SIZE, "active_proxy": self.active_proxy,
                "backends": rows}
