from topologies import forwarding
from core.addressing import tunnel_mac
from core.builder import describe
from core.ipvsadm import parse_rules
from topologies.lbtable import format_lb_table, saved_rules


def test_nat_real_servers_need_only_their_gateway():
    d = describe(mode="nat")
    assert d.host("web1").gateway == d.nat_gateway
    assert forwarding.real_server_setup(d, d.host("web1")) == []
    assert forwarding.proxy_setup(d, "lb1") == []


def test_dr_puts_the_vip_on_lo_and_silences_arp():
    d = describe(mode="dr")
    web = d.host("web1")
    setup = forwarding.real_server_setup(d, web)
    assert "ip addr add %s/32 dev lo" % d.vip in setup
    assert any("net.ipv4.conf.all.arp_ignore=1" in c and "net.ipv4.conf.all.arp_announce=2" in c for c in setup)
    assert web.gateway == d.host("r0").interface_on("s_lan").ip


def test_tun_makes_one_vxlan_device_per_proxy_with_the_mac_the_proxy_writes():
    d = describe(mode="tun")
    web = d.host("web2")
    setup = " ; ".join(forwarding.real_server_setup(d, web))
    for t in d.tunnels:
        assert "ip link add vxlan%d type vxlan id %d dstport 4789 local %s nolearning" % (t.vni, t.vni, web.ip) in setup
    assert setup.count("address %s" % tunnel_mac(web.ip)) == 2
    assert "net.ipv4.conf.all.rp_filter=0" in setup
    assert d.lan_mtu == 1600


def test_tun_proxies_get_a_tunnel_port_an_address_and_a_marked_route():
    d = describe(mode="tun")
    setup = forwarding.proxy_setup(d, "lb2")
    assert "options:key=102" in setup[0] and "ofport_request=10" in setup[0]
    assert "ip addr replace 10.0.1.3/24 dev lb2" in setup
    assert "ovs-appctl ovs/route/add 10.0.1.0/24 lb2 pkt_mark=2" in setup
    assert forwarding.proxy_teardown(d, "lb2") == ["ovs-appctl ovs/route/del 10.0.1.0/24 pkt_mark=2"]


def test_lb_table_reads_like_ipvsadm():
    service = {"mode": "dr", "active_proxy": "lb1", "protocol": "tcp", "vip": "10.0.0.100", "port": 80,
               "table_size": 251, "backends": [
                   {"rip": "10.0.1.11", "port": 80, "weight": 3, "active_connections": 7, "state": "up",
                    "in_service": True, "slots": 188, "packets": 10, "bytes": 1000}]}
    proxies = [{"name": "lb1", "role": "active"}, {"name": "lb2", "role": "standby"}]
    table = format_lb_table(service, {"packet_in": 0, "vip_state": "up", "proxy_mode": "active-standby",
                                      "proxies": proxies})
    assert "proxies active-standby (lb1 active, lb2 standby)" in table
    assert "TCP  10.0.0.100:80 mh (Maglev, 251 slots)" in table
    assert "-> 10.0.1.11:80" in table and " Route " in table and " 188 " in table


def test_lb_s_prints_the_rules_as_ipvsadm_saves_them():
    service = {"mode": "nat", "protocol": "tcp", "vip": "10.0.0.100", "port": 80, "scheduler": "maglev",
               "backends": [{"rip": "10.0.1.12", "port": 80, "weight": 0, "in_service": True},
                            {"rip": "10.0.1.13", "port": 80, "weight": 1, "in_service": False},
                            {"rip": "10.0.1.11", "port": 80, "weight": 3, "in_service": True}]}
    rules = saved_rules(service)
    assert rules == ("-A -t 10.0.0.100:80 -s mh\n"
                     "-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 3\n"
                     "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 0\n")
    assert len(parse_rules(rules, "lb -S")) == 3          # ipvsadm's grammar reads it back
