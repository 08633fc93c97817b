import ipaddress
import json
from collections import Counter

import pytest

from core.addressing import mac_for, MAX_WEBS, vrrp_mac
from core.builder import describe
from core.description import ClusterDescription
from core.rules import ConfigError


def all_interfaces(d):
    return [i for h in d.hosts for i in h.interfaces]


def test_default_cluster_has_the_designed_nodes():
    d = describe()
    assert {h.name for h in d.hosts} == {"r0", "c1", "c2", "c3", "c4", "web1", "web2", "db1", "db2", "db3",
                                         "mgmt"}
    assert d.host("mgmt").interfaces[0].prefixlen == 32
    assert {s.name for s in d.switches} == {"s_pub", "s_lan", "s_db", "lb1", "lb2"}
    assert d.proxies == ("lb1", "lb2")
    assert d.vip_mac == vrrp_mac(1) == "00:00:5e:00:01:01"


@pytest.mark.parametrize("clients,webs", [(1, 1), (4, 2), (64, MAX_WEBS)])
def test_addresses_macs_ports_and_dpids_are_unique(clients, webs):
    d = describe(clients=clients, webs=webs)
    interfaces = all_interfaces(d)
    for key in ("ip", "mac", "name"):
        dupes = [v for v, n in Counter(getattr(i, key) for i in interfaces).items() if n > 1]
        assert not dupes, key
    switch_ports = [(i.switch, i.port) for i in interfaces]
    switch_ports += [(t.switch_a, t.port_a) for t in d.trunks] + [(t.switch_b, t.port_b) for t in d.trunks]
    assert len(switch_ports) == len(set(switch_ports))
    assert len({s.dpid for s in d.switches}) == len(d.switches)
    assert d.vip not in {i.ip for i in interfaces}
    assert d.nat_gateway not in {i.ip for i in interfaces}


def test_every_interface_is_inside_its_switch_subnet():
    d = describe()
    subnets = {}
    for intf in all_interfaces(d):
        if intf.prefixlen == 32:       # the management interface: checked below
            continue
        net = ipaddress.ip_interface("%s/%d" % (intf.ip, intf.prefixlen)).network
        assert subnets.setdefault(intf.switch, net) == net
    assert ipaddress.ip_address(d.host("mgmt").ip) in subnets["s_lan"]
    assert ipaddress.ip_address(d.vip) in subnets["s_pub"]
    assert ipaddress.ip_address(d.nat_gateway) in subnets["s_lan"]


def test_mac_spells_the_address():
    assert mac_for("10.0.1.11") == "02:00:0a:00:01:0b"


def test_web_hosts_reach_lan_and_db_switches():
    for web in describe(webs=3).real_servers:
        assert [i.switch for i in web.interfaces] == ["s_lan", "s_db"]


def test_json_round_trip_is_lossless():
    d = describe(mode="dr", clients=3, webs=5)
    assert ClusterDescription.from_dict(json.loads(d.to_json())) == d


@pytest.mark.parametrize("kwargs,message", [
    ({"mode": "foo"}, "unknown forwarding mode 'foo'"),
    ({"webs": 0}, "--webs must be an integer from 1 to 32, got 0"),
    ({"clients": 65}, "--clients must be an integer from 1 to 64"),
    ({"clients": "4"}, "--clients must be an integer"),
    ({"webs": True}, "--webs must be an integer"),
])
def test_bad_configuration_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        describe(**kwargs)


def test_lookups_name_what_is_missing():
    d = describe()
    with pytest.raises(KeyError, match="no host named 'web9'"):
        d.host("web9")
    assert d.switch_by_dpid(0x999) is None
    assert d.trunk_ports("s_pub") == {1: "lb1", 2: "lb2"}
    assert d.trunk_ports("lb1") == {1: "s_pub", 2: "s_lan"}


def test_remote_real_servers_sit_behind_r0_and_only_tun_reaches_them():
    d = describe(mode="tun", webs=2, remote_webs=2)
    remote = [w for w in d.real_servers if w.service_interface.switch == "s_far"]
    assert [w.name for w in remote] == ["web3", "web4"]
    assert all(w.gateway == "10.0.3.1" and w.ip.startswith("10.0.3.") for w in remote)
    assert d.host("r0").interface_on("s_far").ip == "10.0.3.1"
    with pytest.raises(ConfigError, match="DR cannot reach remote real servers"):
        describe(mode="dr", remote_webs=1)
    with pytest.raises(ConfigError, match="NAT cannot reach remote real servers"):
        describe(mode="nat", remote_webs=1)


def test_a_proxys_cable_ends_are_its_own_ports_then_the_edges_ports_to_it():
    d = describe()
    assert d.proxy_cable_ends("lb2") == [("lb2", 1, "s_pub"), ("lb2", 2, "s_lan"), ("s_pub", 2, "lb2"),
                                         ("s_lan", 2, "lb2")]
    from topologies.topo import bfd_ports          # BFD runs on exactly those ends
    assert [bfd_ports(d, s) for s in ("lb1", "s_pub", "s_lan", "s_db")] == [(1, 2), (1, 2), (1, 2), ()]
