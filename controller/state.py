"""What the controller knows of the cluster: switches, ports, the active proxy, real servers.

Pure logic driven by events (switch up/down, port status, flows installed, counters) and by
requests (weights, service membership); the Ryu adapter feeds it, turns `view()` into flows, and
the REST API reads `status()` and `backends()`. Nothing here touches a socket.
"""
import json

from controller.flows import BalancerView, server_ids
from controller.health import HealthSettings, ServerHealth, usable
from controller.maglev import TABLE_SIZE, lookup_table

DEFAULT_WEIGHT = 1
MAX_WEIGHT = 65535          # as ipvsadm


class InvalidRequest(ValueError):
    """A request that cannot be applied; nothing was changed."""


class UnknownBackend(LookupError):
    pass


class ClusterState:
    def __init__(self, description, health_settings=HealthSettings()):
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
        self.active_proxy = None
        self.election_settled = False   # see settle_election()
        self.packet_in_count = 0

    # --- events -------------------------------------------------------------------------------
    def switch_connected(self, name):
        self.connected.add(name)
        self._elect_proxy()

    def switch_disconnected(self, name):
        self.connected.discard(name)
        self.ready.discard(name)
        self.link_up = {k: v for k, v in self.link_up.items() if k[0] != name}
        self._elect_proxy()

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
        """End the start-up hold: the first election waits until every proxy has connected or
        the adapter calls this, so that the preferred proxy (lb1) wins rather than whichever
        connected first (keepalived's priority, without its seconds of waiting)."""
        self.election_settled = True
        self._elect_proxy()

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
    def _elect_proxy(self):
        """Non-preemptive: the active proxy keeps the VIP while its channel lives; otherwise the
        first connected proxy in the description's order takes it (None when none is up)."""
        if self.active_proxy in self.connected:
            return
        if not self.election_settled and not set(self.description.proxies) <= self.connected:
            return
        self.election_settled = True
        self.active_proxy = next((p for p in self.description.proxies if p in self.connected), None)

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
        return BalancerView(active_proxy=self.active_proxy,
                            table=tuple(lookup_table(weights, self.healthy())),
                            server_ids=tuple(sorted(self.server_ids.items())))

    def proxy_role(self, name):
        if name not in self.connected:
            return "down"
        return "active" if name == self.active_proxy else "standby"

    # --- views --------------------------------------------------------------------------------
    def status(self):
        d = self.description
        return {
            "mode": d.mode,
            "vip": d.vip,
            "vip_mac": d.vip_mac,
            "active_proxy": self.active_proxy,
            "proxies": [{"name": p, "dpid": "%#x" % d.switch(p).dpid, "role": self.proxy_role(p)}
                        for p in d.proxies],
            "backends": [{"name": w.name, "rip": w.ip, "weight": self.weights[w.name],
                          "state": self.backend_state(w)} for w in d.real_servers],
            "switches": [{"name": s.name, "dpid": "%#x" % s.dpid, "role": s.role,
                          "connected": s.name in self.connected, "ready": s.name in self.ready}
                         for s in d.switches],
            "packet_in": self.packet_in_count,
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
