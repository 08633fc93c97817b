"""What each switch should hold, given the cluster's description and the balancer's state: its
flows, groups and meters, from the feature modules (controller/edge.py, guard.py, proxy.py).
No flow needs the controller per connection."""
from typing import Dict, List, Tuple

from controller.edge import (connection_log_flows, edge_l2_flows, failover_group, passive_check_flows, spread_group,
                             steering_flows)
from controller.guard import block_flows, ingress_flows, segmentation_flows
from controller.pipeline import (DENY_METER, LOG_BURST, LOG_METER, LOG_RATE, PASSIVE_BURST, PASSIVE_METER, PASSIVE_RATE,
                                 SPOOF_BURST, SPOOF_METER, SPOOF_RATE)
from controller.proxy import proxy_flows, select_groups
from controller.specs import BalancerView, FlowSpec, GroupSpec
from core.description import ClusterDescription


def switch_flows(description: ClusterDescription, switch: str, view: BalancerView) -> List[FlowSpec]:
    """Every flow a switch should hold, given the balancer's state."""
    if description.switch(switch).role == "proxy":
        return proxy_flows(description, switch, view)
    flows = ingress_flows(description, switch, view) + segmentation_flows(description, switch, view)
    if switch == description.public_edge:
        flows += block_flows(view)
    flows += edge_l2_flows(description, switch) + steering_flows(description, switch, view) + connection_log_flows()
    return flows + (passive_check_flows(description, switch, view) if view.passive_checks else [])


def switch_groups(description: ClusterDescription, switch: str, view: BalancerView) -> List[GroupSpec]:
    """Every group a switch should hold: the proxies' Maglev slots, per service; on the edges
    that steer to a proxy, the failover order of the proxies, and on s_pub the spread of the VIPs
    over them when more than one is active."""
    d = description
    if d.switch(switch).role == "proxy":
        return select_groups(d, switch, view)
    groups = []
    if view.active_proxies and (switch == d.public_edge or (switch == d.lan_edge and "nat" in view.methods)):
        groups.append(failover_group(d, switch, view))
    if switch == d.public_edge and len(view.active_proxies) > 1:
        groups.append(spread_group(d, view))
    return groups


def switch_meters(description: ClusterDescription, switch: str) -> Dict[int, Tuple[int, int]]:
    """The meters a switch holds, id -> (rate, burst): on an edge, the connection log's (one for
    what was forwarded, one for what segmentation refused), the forged packets', and where real
    servers are, the passive checks' copies'."""
    if description.switch(switch).role == "proxy":
        return {}
    meters = {LOG_METER: (LOG_RATE, LOG_BURST), DENY_METER: (LOG_RATE, LOG_BURST),
              SPOOF_METER: (SPOOF_RATE, SPOOF_BURST)}
    if description.real_servers_on(switch):
        meters[PASSIVE_METER] = (PASSIVE_RATE, PASSIVE_BURST)
    return meters
