"""What the controller knows of the cluster: switches, ports, the active proxy, real servers.

Pure logic driven by events (switch up/down, port status, flows installed); the Ryu adapter feeds
it and the REST API reads `status()`. Nothing here touches a socket.
"""
DEFAULT_WEIGHT = 1


class ClusterState:
    def __init__(self, description):
        self.description = description
        self.connected = set()        # switch names with a live OpenFlow channel
        self.ready = set()            # switch names whose flows are confirmed (barrier reply)
        self.link_up = {}             # (switch name, port) -> bool
        self.weights = {h.name: DEFAULT_WEIGHT for h in description.real_servers}
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
        self.link_up[(switch, port)] = up

    def settle_election(self):
        """End the start-up hold: the first election waits until every proxy has connected or
        the adapter calls this, so that the preferred proxy (lb1) wins rather than whichever
        connected first (keepalived's priority, without its seconds of waiting)."""
        self.election_settled = True
        self._elect_proxy()

    def packet_in(self):
        self.packet_in_count += 1

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
        """up/down from the real server's LAN port; unknown while s_lan is not connected."""
        intf = web.interface_on("s_lan")
        if "s_lan" not in self.connected or (intf.switch, intf.port) not in self.link_up:
            return "unknown"
        return "up" if self.link_up[(intf.switch, intf.port)] else "down"

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
