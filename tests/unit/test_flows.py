from controller.flows import BROADCAST, Output, switch_flows
from topologies.description import describe

D = describe(clients=4, webs=3)


def outputs(flow):
    return {a.port for a in flow.actions if isinstance(a, Output)}


def test_every_host_mac_is_forwarded_to_its_own_port():
    for switch in ("s_pub", "s_lan", "s_db"):
        unicast = {f.match_dict["eth_dst"]: outputs(f) for f in switch_flows(D, switch)
                   if f.match_dict["eth_dst"] != BROADCAST}
        assert unicast == {intf.mac: {port} for port, intf in D.host_ports(switch).items()}


def test_broadcast_floods_to_the_other_hosts_and_never_to_a_proxy():
    for switch in ("s_pub", "s_lan", "s_db"):
        hosts = set(D.host_ports(switch))
        floods = [f for f in switch_flows(D, switch) if f.match_dict["eth_dst"] == BROADCAST]
        assert {f.match_dict["in_port"] for f in floods} == hosts
        for flow in floods:
            assert outputs(flow) == hosts - {flow.match_dict["in_port"]}
            assert not outputs(flow) & set(D.trunk_ports(switch))


def test_nothing_is_sent_to_the_controller():
    for switch in D.switches:
        for flow in switch_flows(D, switch.name):
            assert all(isinstance(a, Output) and a.port < 0xfffffff0 for a in flow.actions)


def test_proxies_hold_no_flows_yet():
    assert switch_flows(D, "lb1") == [] and switch_flows(D, "lb2") == []


def test_flows_are_computed_identically_twice():
    assert switch_flows(D, "s_lan") == switch_flows(describe(clients=4, webs=3), "s_lan")
