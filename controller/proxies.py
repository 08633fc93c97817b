"""Which proxy carries the VIP: liveness of each proxy and the election, as pure logic.

A proxy is alive while all three hold:
  channel  its OpenFlow channel is up;
  links    its cables to s_pub and s_lan are up (port status on both ends);
  probes   the controller's liveness probes, sent into it from s_pub and s_lan, keep coming back
           (a hung datapath keeps its channel but forwards nothing, so only this catches it).
Election:
  active-standby  exactly one alive proxy carries the VIP; non-preemptive by default (a recovered
                  proxy becomes standby), preemptive as an option (the first in order takes it
                  back); none alive: the VIP is down until one returns.
  active-active   every alive proxy carries the VIP; s_pub spreads connections over them.
The first election waits until both proxies have connected or the adapter settles it, so that
the preferred proxy wins rather than whichever connected first.
"""
import time

from core.eventlog import ecs_timestamp
from core.settings import ACTIVE_ACTIVE, ProxyPolicy


class ProxyGroup:
    def __init__(self, description, policy=ProxyPolicy(), clock=time.monotonic):
        self.description = description
        self.policy = policy
        self.clock = clock
        self.names = description.proxies
        self.active = ()              # proxies carrying the VIP, in order
        self.settled = False
        self.connected_at = {}
        self.probe_seen = {}          # (proxy, side) -> clock time of the last probe back
        self.last_failover = None

    # --- liveness -----------------------------------------------------------------------------
    def connected(self, proxy):
        self.connected_at[proxy] = self.clock()

    def disconnected(self, proxy):
        self.connected_at.pop(proxy, None)

    def probe_reply(self, proxy, side):
        self.probe_seen[(proxy, side)] = self.clock()

    def health(self, proxy, connected_switches, link_up):
        """{"channel", "links", "probes"}: each True or False."""
        channel = proxy in self.connected_at and proxy in connected_switches
        links = not self._cable_down(proxy, link_up)
        now = self.clock()
        probes = channel and all(
            now - max(self.probe_seen.get((proxy, side), 0), self.connected_at[proxy]) <= self.policy.probe_timeout
            for side in self.description.proxy_edges if side in connected_switches)
        return {"channel": channel, "links": links, "probes": bool(probes)}

    def _cable_down(self, proxy, link_up):
        return any(link_up.get(cable) is False for cable in self._cables(proxy))

    def _cables(self, proxy):
        """(switch, port) of both ends of the proxy's cables to the edge switches."""
        return ([(proxy, port) for port in self.description.trunk_ports(proxy)]
                + [(edge, self.description.proxy_port(edge, proxy)) for edge in self.description.proxy_edges])

    def alive(self, proxy, connected_switches, link_up):
        return all(self.health(proxy, connected_switches, link_up).values())

    # --- election -----------------------------------------------------------------------------
    def settle(self):
        self.settled = True

    def elect(self, connected_switches, link_up):
        """Re-run the election; the failover record if the active set changed, else None.

        The first election waits for both proxies (or the settle time), unless a restarted
        controller's saved active proxy is known dead (a cable of it down) while another is
        alive: then it fails over at once."""
        alive = [p for p in self.names if self.alive(p, connected_switches, link_up)]
        if not self.settled and not set(self.names) <= connected_switches:
            if not (alive and self.active and self._cable_down(self.active[0], link_up)):
                return None
        self.settled = True
        if self.policy.mode == ACTIVE_ACTIVE:
            chosen = tuple(alive)
        elif self.active and self.active[0] in alive and not (self.policy.preempt and alive[0] != self.active[0]):
            chosen = self.active
        else:
            chosen = tuple(alive[:1])
        if chosen == self.active:
            return None
        record = {"at": ecs_timestamp(), "from": list(self.active), "to": list(chosen),
                  "cause": self._cause(chosen, connected_switches, link_up)}
        self.active = chosen
        if record["from"]:                 # the first election is not a failover
            self.last_failover = record
        return record

    def _cause(self, chosen, connected_switches, link_up):
        reasons = []
        for proxy in self.active:
            if proxy in chosen:
                continue
            health = self.health(proxy, connected_switches, link_up)
            if not health["channel"]:
                reasons.append("%s lost its OpenFlow channel" % proxy)
            elif not health["links"]:
                reasons.append("%s's links are down" % proxy)
            elif not health["probes"]:
                reasons.append("%s stopped answering liveness probes (data plane hung)" % proxy)
            else:
                reasons.append("%s handed over to %s (preemption)" % (proxy, chosen[0]))
        for proxy in chosen:
            if proxy not in self.active:
                reasons.append("%s is alive" % proxy)
        return "; ".join(reasons) or "no proxy is alive"
