"""The forwarding pipeline as flow specifications: pure data that unit tests read without a switch.

The Ryu adapter (controller/openflow.py) turns each FlowSpec into an OFPFlowMod. Every flow is
installed ahead of time from the cluster description: ordinary connectivity needs no packet-in,
because the controller already knows every host's MAC and switch port.
"""
from dataclasses import dataclass
from typing import Tuple

BROADCAST = "ff:ff:ff:ff:ff:ff"

# Cookies tag each layer of the pipeline so that one layer can be replaced without the others.
COOKIE_L2 = 0x1


@dataclass(frozen=True)
class Output:
    port: int


@dataclass(frozen=True)
class FlowSpec:
    priority: int
    match: Tuple[Tuple[str, object], ...]   # OFPMatch field names and values, sorted
    actions: Tuple[object, ...] = ()        # empty: drop
    table_id: int = 0
    cookie: int = COOKIE_L2

    @classmethod
    def make(cls, priority, actions=(), **match):
        return cls(priority=priority, match=tuple(sorted(match.items())), actions=tuple(actions))

    @property
    def match_dict(self):
        return dict(self.match)


def edge_l2_flows(description, switch):
    """Static L2 forwarding among the hosts of one edge switch.

    Known unicast goes to its port; broadcast (ARP) floods to the other host ports only. Proxy
    ports are never flooded to: the proxies join s_pub and s_lan twice over, and flooding there
    would loop. Anything else misses the table and is dropped.
    """
    host_ports = description.host_ports(switch)
    flows = [FlowSpec.make(100, [Output(port)], eth_dst=intf.mac)
             for port, intf in sorted(host_ports.items())]
    for in_port in sorted(host_ports):
        others = [Output(p) for p in sorted(host_ports) if p != in_port]
        flows.append(FlowSpec.make(90, others, in_port=in_port, eth_dst=BROADCAST))
    return flows


def switch_flows(description, switch):
    """Every flow a switch should hold; proxies hold none until the VIP pipeline is installed."""
    if description.switch(switch).role == "proxy":
        return []
    return edge_l2_flows(description, switch)
