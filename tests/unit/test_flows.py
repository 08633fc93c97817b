import dataclasses

import pytest

from controller.flows import switch_flows, switch_groups
from controller.pipeline import (BROADCAST, CONTROLLER, COOKIE_BLOCK, COOKIE_DENY, COOKIE_LOG, COOKIE_PASSIVE,
                                 COOKIE_PROBE, COOKIE_SPOOF, COPY_METERS, DENY_METER, ETH_PROBE, GROUP_FAILOVER,
                                 GROUP_SPREAD, IN_PORT, LOCAL, LOG_METER, PASSIVE_METER, SPOOF_METER,
                                 SYNC_MAC, T_CLASSIFY, T_CONNECTIONS, T_FORWARD, T_INGRESS, T_LOG, T_LOG_NEW, T_SEEN,
                                 T_SEGMENT, T_SELECTED, T_SWITCH, service_group)
from controller.proxy import sync_source
from controller.specs import (FAST_FAILOVER, SELECT, Conntrack, Group, GroupSpec, LearnSeen, Meter, Output, Resubmit,
                              SetField)
from controller.maglev import TABLE_SIZE
from controller.state import ClusterState
from core.addressing import tunnel_mac
from core.builder import describe

D = describe(clients=4, webs=3)


def view(description=D, active="lb1"):
    state = ClusterState(description)
    state.proxies.active = tuple(active) if isinstance(active, (list, tuple)) else ((active,) if active else ())
    return state.view()


def outputs(flow):
    return {a.port for a in flow.actions if isinstance(a, Output)}


def l2(switch, description=D):
    return [f for f in switch_flows(description, switch, view(description)) if f.priority < 200
            and f.table_id == T_SWITCH]


def test_every_host_mac_is_forwarded_to_its_own_port():
    for switch in ("s_pub", "s_lan", "s_db"):
        unicast = {f.match_dict["eth_dst"]: outputs(f) for f in l2(switch) if f.match_dict["eth_dst"] != BROADCAST}
        assert unicast == {intf.mac: {port} for port, intf in D.host_ports(switch).items()}


def test_broadcast_floods_to_the_other_hosts_and_never_to_a_proxy():
    for switch in ("s_pub", "s_lan", "s_db"):
        hosts = set(D.host_ports(switch))
        floods = [f for f in l2(switch) if f.match_dict["eth_dst"] == BROADCAST
                  and f.match_dict["in_port"] in hosts]
        assert {f.match_dict["in_port"] for f in floods} == hosts
        for flow in floods:
            assert outputs(flow) == hosts - {flow.match_dict["in_port"]}
            assert not outputs(flow) & set(D.trunk_ports(switch))


@pytest.mark.parametrize("mode", ["nat", "tun", "dr"])
def test_only_probes_and_metered_copies_are_sent_to_the_controller(mode):
    d = describe(mode=mode)
    for switch in d.switches:
        for flow in switch_flows(d, switch.name, view(d)):
            if CONTROLLER in outputs(flow):
                if flow.cookie == COOKIE_LOG:
                    assert flow.table_id in (T_LOG, T_LOG_NEW) and Meter(LOG_METER) in flow.actions
                elif flow.cookie == COOKIE_PASSIVE:
                    assert flow.table_id == T_LOG and Meter(PASSIVE_METER) in flow.actions
                    assert switch.name in ("s_lan", "s_far")
                elif flow.cookie == COOKIE_DENY:
                    assert flow.table_id == T_SEGMENT and flow.actions == (Meter(DENY_METER), Output(CONTROLLER))
                elif flow.cookie == COOKIE_SPOOF:
                    assert flow.table_id == T_INGRESS and flow.actions == (Meter(SPOOF_METER), Output(CONTROLLER))
                else:
                    assert flow.match_dict["eth_type"] == ETH_PROBE and flow.cookie == COOKIE_PROBE


@pytest.mark.parametrize("mode", ["nat", "tun", "dr"])
def test_a_copy_meter_counts_copies_of_its_own_kind_and_nothing_else(mode):
    """What enters a meter is what its copy flows sent on: controller/accounting.py counts on it."""
    d = describe(mode=mode)
    for switch in d.switches:
        for flow in switch_flows(d, switch.name, view(d)):
            meters = [a for a in flow.actions if isinstance(a, Meter)]
            if meters:
                assert meters == [Meter(COPY_METERS[flow.cookie])] and flow.actions[-1] == Output(CONTROLLER), flow


def test_every_forwarding_flow_of_an_edge_ends_in_the_connection_log():
    for switch in ("s_pub", "s_lan", "s_db"):
        for flow in switch_flows(D, switch, view()):
            if flow.table_id == T_SWITCH and flow.match_dict.get("eth_type") not in (ETH_PROBE, 0x0806) \
                    and flow.match_dict.get("eth_dst") not in (BROADCAST, SYNC_MAC):
                assert flow.actions[-1] == Resubmit(T_LOG), flow


def test_the_log_copies_syns_and_the_first_packet_of_other_flows():
    log = [f for f in switch_flows(D, "s_pub", view()) if f.table_id == T_LOG]
    syn = next(f for f in log if f.match_dict.get("ip_proto") == 6)
    assert syn.match_dict["tcp_flags"] == (0x002, 0x012) and syn.actions == (Meter(LOG_METER), Output(CONTROLLER))
    assert {f.match_dict["ip_proto"] for f in log if f is not syn} == {1, 17}
    new = [f for f in switch_flows(D, "s_pub", view()) if f.table_id == T_LOG_NEW]
    seen = next(f for f in new if f.match_dict.get("reg3") == 1)
    first = next(f for f in new if f is not seen)
    assert seen.actions == () and first.actions == (LearnSeen(T_SEEN), Meter(LOG_METER), Output(CONTROLLER))
    assert not [f for f in switch_flows(D, "lb1", view()) if f.table_id in (T_LOG, T_LOG_NEW)]


def test_proxies_bounce_probes_and_edges_return_them_to_the_controller():
    for proxy in ("lb1", "lb2"):
        bounce = [f for f in switch_flows(D, proxy, view()) if f.match_dict.get("eth_type") == ETH_PROBE]
        assert {f.match_dict["in_port"] for f in bounce} == {1, 2}
        assert all(f.actions == (Output(IN_PORT),) for f in bounce)
    for edge in ("s_pub", "s_lan"):
        back = [f for f in switch_flows(D, edge, view()) if f.match_dict.get("eth_type") == ETH_PROBE]
        assert {f.match_dict["in_port"] for f in back} == set(D.trunk_ports(edge))


def test_a_new_connection_is_copied_to_the_other_proxy_naming_its_real_server():
    flows = switch_flows(D, "lb1", view())
    syns = {f.match_dict["reg1"]: f for f in flows if f.table_id == T_SELECTED and "tcp_flags" in f.match_dict}
    assert set(syns) == {0x101, 0x102, 0x103}      # web1..3 in service 1
    for sid, syn in syns.items():
        assert syn.match_dict["tcp_flags"] == (0x002, 0x012)
        assert syn.actions == (SetField("eth_dst", SYNC_MAC), SetField("eth_src", sync_source(sid)), Output(IN_PORT),
                               Resubmit(T_FORWARD))
    receivers = {f.match_dict["eth_src"]: f.actions for f in switch_flows(D, "lb2", view())
                 if f.match_dict.get("eth_dst") == SYNC_MAC}
    assert set(receivers) == {"02:5c:00:00:01:01", "02:5c:00:00:01:02", "02:5c:00:00:01:03"}
    for sid in (0x101, 0x102, 0x103):     # committed in lb2's own zone with the server it names; forwarded nowhere
        assert receivers[sync_source(sid)] == (Conntrack(2, commit=True, mark=sid),)
    relay = [f for f in switch_flows(D, "s_pub", view()) if f.match_dict.get("eth_dst") == SYNC_MAC]
    assert {(f.match_dict["in_port"], outputs(f).pop()) for f in relay} == {(1, 2), (2, 1)}


def test_active_active_spreads_the_vip_over_both_proxies_by_hash():
    both = view(active=("lb1", "lb2"))
    vip = next(f for f in switch_flows(D, "s_pub", both) if f.match_dict.get("eth_dst") == D.vip_mac)
    assert vip.actions == (Group(GROUP_SPREAD), Resubmit(T_LOG))
    assert switch_groups(D, "s_pub", both) == [
        GroupSpec(GROUP_FAILOVER, ((Output(1),), (Output(2),), (Output(1),)), FAST_FAILOVER, (1, 2, CONTROLLER)),
        GroupSpec(GROUP_SPREAD, ((Output(1),), (Output(2),)), SELECT, (1, 2))]
    assert [g.group_id for g in switch_groups(D, "s_pub", view())] == [GROUP_FAILOVER]


def test_the_failover_group_lists_the_active_proxy_first_each_bucket_watching_its_port():
    """Last, the active proxy again, while the switch has its controller (see failover_group)."""
    for active, order in (("lb1", (1, 2)), ("lb2", (2, 1))):
        (group,) = switch_groups(D, "s_pub", view(active=active))
        assert group.kind == FAST_FAILOVER and group.watch_ports == order + (CONTROLLER,)
        assert group.buckets == tuple((Output(port),) for port in order + order[:1])
    assert switch_groups(D, "s_pub", view(active=None)) == []        # both proxies down: the VIP is down


def test_a_stall_pins_the_failover_group_to_the_active_proxy_while_the_switch_has_its_controller():
    """Sessions coming back one by one after a switch stall must not take the VIP with them."""
    held = dataclasses.replace(view(active="lb2"), bfd_held=True)
    (group,) = switch_groups(D, "s_lan", held)
    lb2 = D.proxy_port("s_lan", "lb2")
    assert group.buckets[0] == (Output(lb2),) and group.watch_ports[0] == CONTROLLER
    assert group.buckets[1:] == switch_groups(D, "s_lan", view(active="lb2"))[0].buckets


def test_proxies_gratuitous_arp_floods_to_hosts_only():
    floods = [f for f in switch_flows(D, "s_pub", view())
              if f.match_dict.get("eth_dst") == BROADCAST and f.match_dict["in_port"] in (1, 2)]
    assert {f.match_dict["in_port"] for f in floods} == {1, 2}
    assert all(outputs(f) == set(D.host_ports("s_pub")) for f in floods)


def test_the_vip_is_steered_through_the_failover_group():
    for active in ("lb1", "lb2"):
        steer = [f for f in switch_flows(D, "s_pub", view(active=active)) if f.priority == 200 and f.cookie == 0x2]
        assert {f.match_dict.get("arp_tpa") or f.match_dict.get("eth_dst") for f in steer} == {D.vip, D.vip_mac}
        assert all(Group(GROUP_FAILOVER) in f.actions for f in steer)
    assert not [f for f in switch_flows(D, "s_pub", view(active=None)) if f.priority == 200 and f.cookie == 0x2]


def test_nat_gateway_is_steered_on_the_lan_only_in_nat():
    nat, dr = describe(mode="nat"), describe(mode="dr")
    assert any(f.match_dict.get("arp_tpa") == nat.nat_gateway for f in switch_flows(nat, "s_lan", view(nat)))
    assert not any(f.match_dict.get("arp_tpa") == dr.nat_gateway for f in switch_flows(dr, "s_lan", view(dr)))


def test_vip_arp_is_answered_in_the_data_plane():
    responder = next(f for f in switch_flows(D, "lb1", view()) if f.match_dict.get("arp_tpa") == D.vip)
    assert SetField("arp_spa", D.vip) in responder.actions and SetField("eth_src", D.vip_mac) in responder.actions
    assert responder.actions[-1] == Output(IN_PORT)


def test_virtual_service_traffic_goes_through_the_proxys_own_conntrack_zone():
    for proxy, zone in (("lb1", 1), ("lb2", 2)):
        classify = [f for f in switch_flows(D, proxy, view())
                    if f.table_id == T_CLASSIFY and f.match_dict.get("ipv4_dst") == D.vip and f.priority == 200]
        assert {f.match_dict.get("ip_proto") for f in classify} == {1, 6}
        assert all(f.actions == (SetField("reg2", 1), Conntrack(zone, table=T_CONNECTIONS)) for f in classify)


def connections(state):
    return {f.match_dict.get("ct_mark", f.match_dict.get("tcp_flags")): f.actions
            for f in switch_flows(D, "lb1", state.view()) if f.table_id == T_CONNECTIONS}


def test_a_connection_keeps_its_real_server_while_the_server_is_healthy():
    state = ClusterState(D)
    state.book.set_weight("web2", 0)            # drained: its connections stay
    table = connections(state)
    assert {k: v for k, v in table.items() if isinstance(k, int)} == {
        d: (SetField("reg1", d), Resubmit(T_FORWARD)) for d in (0x101, 0x102, 0x103)}   # service 1, web1..3
    assert table[(0x002, 0x012)] == table[None] == (Group(service_group(1)),)   # a SYN, or untracked
    state.port_status("s_lan", D.host("web3").service_interface.port, False)
    assert 0x103 not in connections(state)     # a dead server's connections choose again


def test_every_maglev_slot_is_a_bucket_committing_its_real_server():
    state = ClusterState(D)
    state.book.set_weight("web1", 0)
    v = state.view()
    (group,) = switch_groups(D, "lb2", v)
    (service,) = v.services
    assert group.group_id == service_group(1) and len(group.buckets) == TABLE_SIZE
    for server, bucket in zip(service.table, group.buckets):
        d = v.destination(service, server)
        assert bucket == (SetField("reg1", d), Conntrack(2, commit=True, table=T_SELECTED, mark=d))
    assert {server for server in service.table} == {"web2", "web3"}


def test_both_proxies_hold_the_same_table():
    def marks(proxy):
        (group,) = switch_groups(D, proxy, view())
        return [bucket[-1].mark for bucket in group.buckets]
    assert marks("lb1") == marks("lb2")


def test_no_healthy_server_leaves_every_bucket_empty():
    state = ClusterState(D)
    for web in D.real_servers:
        state.port_status("s_lan", web.service_interface.port, False)
    (group,) = switch_groups(D, "lb1", state.view())
    assert set(group.buckets) == {()}


@pytest.mark.parametrize("mode,expect", [
    ("nat", lambda d, web: [SetField("eth_src", d.gateway_mac), SetField("eth_dst", web.interfaces[0].mac),
                            SetField("ipv4_dst", web.ip), Output(2)]),
    ("dr", lambda d, web: [SetField("eth_src", d.vip_mac), SetField("eth_dst", web.interfaces[0].mac), Output(2)]),
    ("tun", lambda d, web: [SetField("tun_ipv4_dst", web.ip), SetField("eth_dst", tunnel_mac(web.ip)),
                            SetField("pkt_mark", 1), Output(d.tunnel("lb1").port)]),
])
def test_forwarding_method_per_mode(mode, expect):
    d = describe(mode=mode)
    forward = [f for f in switch_flows(d, "lb1", view(d)) if f.table_id == T_FORWARD]
    methods = {f.match_dict["reg1"]: list(f.actions) for f in forward if "tcp_flags" not in f.match_dict}
    assert methods == {0x100 + i: expect(d, web) for i, web in enumerate(d.real_servers, 1)}
    fins = {f.match_dict["reg1"]: list(f.actions) for f in forward if f.match_dict.get("tcp_flags") == (1, 1)}
    assert fins == methods      # clients' FINs go the same way, counted apart


def test_nat_replies_are_rewritten_back_to_the_vip():
    reverse = [f for f in switch_flows(D, "lb1", view()) if f.match_dict.get("eth_dst") == D.gateway_mac]
    assert {f.match_dict["ipv4_src"] for f in reverse} == {w.ip for w in D.real_servers}
    assert all(SetField("ipv4_src", D.vip) in f.actions for f in reverse)


def test_tun_tunnel_endpoints_reach_their_local_port():
    d = describe(mode="tun")
    flows = switch_flows(d, "lb2", view(d))
    assert any(f.match_dict.get("in_port") == LOCAL and outputs(f) == {2} for f in flows)
    assert any(f.match_dict.get("arp_tpa") == d.tunnel("lb2").local_ip and outputs(f) == {LOCAL} for f in flows)


def test_flows_are_computed_identically_twice():
    assert switch_flows(D, "lb1", view()) == switch_flows(describe(clients=4, webs=3), "lb1", view())


def test_blocked_sources_are_dropped_first_at_the_public_edge():
    state = ClusterState(D)
    state.block("10.0.0.13", 60)
    flows = switch_flows(D, "s_pub", state.view())
    drop = [f for f in flows if f.cookie == COOKIE_BLOCK]
    assert len(drop) == 1 and drop[0].actions == (Resubmit(T_LOG),)     # dropped, but logged
    assert drop[0].match_dict["ipv4_src"] == "10.0.0.13"
    assert drop[0].table_id == T_INGRESS
    assert drop[0].priority > max(f.priority for f in flows if f is not drop[0] and f.table_id == T_INGRESS)
    assert not [f for f in switch_flows(D, "s_lan", state.view()) if f.cookie == COOKIE_BLOCK]


def test_real_servers_rsts_and_icmp_errors_are_copied_after_forwarding_on_their_edge_only():
    d = describe(mode="tun", webs=2, remote_webs=1)
    for switch, servers in (("s_lan", {"web1", "web2"}), ("s_far", {"web3"}), ("s_pub", set())):
        passive = [f for f in switch_flows(d, switch, view(d)) if f.cookie == COOKIE_PASSIVE]
        rsts = [f for f in passive if "eth_src" in f.match_dict]      # by MAC: DR and TUN answer from the VIP
        assert {f.match_dict["eth_src"] for f in rsts} == {d.host(w).service_interface.mac for w in servers}
        assert all(f.match_dict["tcp_src"] == 80 and f.match_dict["tcp_flags"] == (4, 4) for f in rsts)
        # and one for ICMP unreachables, one keeping the controller's own checks' RSTs to itself
        assert len(passive) == len(servers) + (2 if servers else 0)
        own = [f for f in passive if f.match_dict.get("ipv4_dst") == d.management_ip]
        assert all(f.actions == () and f.priority > p.priority for f in own for p in passive if p not in own)
    off = view(d)
    off = type(off)(**dict(off.__dict__, passive_checks=False))
    assert not [f for f in switch_flows(d, "s_lan", off) if f.cookie == COOKIE_PASSIVE]
