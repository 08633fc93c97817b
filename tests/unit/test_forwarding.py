from topologies import forwarding
from core.addressing import tunnel_mac
from core.builder import describe


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


def test_a_real_server_is_set_up_for_every_method_and_vip_it_serves():
    from core.builder import with_services
    from core.services import load_rules
    rules = ("-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.11 -m\n"
             "-A -u 10.0.0.100:53 -s mh\n-a -u 10.0.0.100:53 -r 10.0.1.11 -m\n"
             "-A -t 10.0.0.101:8080 -s mh\n-a -t 10.0.0.101:8080 -r 10.0.1.11 -g\n"
             "-A -t 10.0.0.102:443 -s mh\n-a -t 10.0.0.102:443 -r 10.0.1.11 -i\n")
    base = describe(mode="nat")
    d = with_services(base, load_rules(rules, "r", base))
    web = d.host("web1")
    setup = forwarding.real_server_setup(d, web)
    assert web.gateway == "10.0.1.1"                     # r0: it answers DR and TUN clients itself
    assert [c for c in setup if "dev lo" in c] == ["ip addr add 10.0.0.101/32 dev lo",
                                                   "ip addr add 10.0.0.102/32 dev lo"]
    assert any("vxlan" in c for c in setup) and forwarding.proxy_setup(d, "lb1")     # TUN on both ends
    assert setup[-4:] == ["ip route replace default via 10.0.1.254 dev web1-eth0 table 100",
                          "ip rule add to 10.0.1.0/24 lookup main pref 100",
                          "ip rule add ipproto tcp sport 80 lookup 100 pref 101",
                          "ip rule add ipproto udp sport 53 lookup 100 pref 101"]
    assert forwarding.real_server_setup(d, d.host("web2")) == []      # it serves nothing


def test_the_peers_real_servers_answer_haproxy_directly():
    d = describe(director="haproxy")
    assert all(forwarding.real_server_setup(d, web) == [] for web in d.real_servers)
