"""What the switches do with packets, through the pipeline simulator (tests/fakeswitch.py):
behaviour, not flow picking."""
import pytest

from controller.flows import switch_flows, switch_groups
from controller.pipeline import ETH_ARP, ETH_IP, ETH_PROBE, PROTO_TCP, PROTO_UDP, SYNC_MAC
from controller.proxy import sync_source
from controller.specs import destination
from controller.state import ClusterState
from controller.sync import install_order
from tests.fakeswitch import FakeSwitch, Tracker, matches
from core.addressing import tunnel_mac
from core.builder import describe
from core.settings import NetworkPolicy

MODES = ("nat", "dr", "tun")
SYN, ACK, FIN_ACK = 0x002, 0x010, 0x011


class Cluster:
    """One description and its state; switches built from the state's current view, all sharing
    one connection tracker (one ovs-vswitchd)."""
    def __init__(self, mode="nat", active=("lb1",), webs=3, segmentation=True):
        self.d = describe(mode=mode, clients=4, webs=webs)
        self.state = ClusterState(self.d, network_policy=NetworkPolicy(segmentation=segmentation))
        self.state.proxies.active = tuple(active)
        self.tracker = Tracker()
        self.slot = 0            # the datapath hash of the next packets

    def switch(self, name, dead_ports=(), controller=True):
        view = self.state.view()
        return FakeSwitch(switch_flows(self.d, name, view), switch_groups(self.d, name, view), self.tracker,
                          hash_of=lambda packet: self.slot, dead_ports=dead_ports, controller=controller)

    def server_of_slot(self, slot):
        return self.d.host(self.state.view().services[0].table[slot])

    def client(self, name="c1"):
        return self.d.host(name).interface_on("s_pub")

    def uplink(self, proxy):
        return self.d.proxy_uplink(proxy)

    def downlink(self, proxy):
        return self.d.proxy_downlink(proxy)

    def to_vip(self, proxy="lb1", flags=SYN, sport=40000, client="c1"):
        c = self.client(client)
        return dict(in_port=self.uplink(proxy), eth_src=c.mac, eth_dst=self.d.vip_mac, eth_type=ETH_IP,
                    ipv4_src=c.ip, ipv4_dst=self.d.vip, ip_proto=PROTO_TCP, tcp_src=sport,
                    tcp_dst=self.d.http_port, tcp_flags=flags)

    def fail(self, server):
        intf = self.d.host(server).service_interface
        self.state.port_status(intf.switch, intf.port, False)


def new_connection(cluster):
    """A SYN through lb1: its real server and the copy lb1 sent the other proxy."""
    result = cluster.switch("lb1").send(cluster.to_vip())
    web, _ = towards_server(cluster, result)
    (copy,) = [p for port, p in result.outputs if p.get("eth_dst") == SYNC_MAC]
    return web, copy


def towards_server(cluster, result, proxy="lb1"):
    """The one packet that left for a real server, and which server it was for."""
    d = cluster.d
    out = [(port, p) for port, p in result.outputs if p.get("eth_dst") != SYNC_MAC]
    assert len(out) == 1, result.outputs
    port, packet = out[0]
    if d.mode == "tun":
        assert port == d.tunnel(proxy).port
        return next(w for w in d.real_servers if w.ip == packet["tun_ipv4_dst"]), packet
    assert port == cluster.downlink(proxy)
    return next(w for w in d.real_servers if w.interfaces[0].mac == packet["eth_dst"]), packet


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("slot", [0, 1, 77, 255])
def test_a_syn_leaves_for_the_real_server_of_its_maglev_slot_rewritten_as_the_mode_says(mode, slot):
    c = Cluster(mode)
    c.slot = slot
    web, packet = towards_server(c, c.switch("lb1").send(c.to_vip()))
    assert web == c.server_of_slot(slot)
    if mode == "nat":
        assert (packet["ipv4_dst"], packet["eth_src"]) == (web.ip, c.d.gateway_mac)
    elif mode == "dr":
        assert (packet["ipv4_dst"], packet["eth_src"]) == (c.d.vip, c.d.vip_mac)
    else:
        assert (packet["ipv4_dst"], packet["eth_dst"]) == (c.d.vip, tunnel_mac(web.ip))
    if mode != "tun":
        assert packet["eth_dst"] == web.interfaces[0].mac


@pytest.mark.parametrize("mode", MODES)
def test_a_syn_is_copied_to_the_other_proxy_naming_its_server(mode):
    c = Cluster(mode)
    web, copy = new_connection(c)
    assert copy["eth_src"] == sync_source(destination(1, c.state.server_ids[web.name]))
    assert copy["in_port"] == c.uplink("lb1") and (copy["ipv4_src"], copy["tcp_src"]) == (c.client().ip, 40000)
    assert c.switch("s_pub").send(dict(copy, in_port=c.d.proxy_port("s_pub", "lb1"))).ports == \
        [c.d.proxy_port("s_pub", "lb2")]


@pytest.mark.parametrize("mode", MODES)
def test_a_connection_keeps_its_server_across_weight_drain_and_membership_changes(mode):
    c = Cluster(mode)
    c.slot = 9
    first, _ = towards_server(c, c.switch("lb1").send(c.to_vip()))
    c.state.book.set_weight(first.name, 0)                       # drained: no slot of its own any more
    assert first.name not in c.state.view().services[0].table
    assert towards_server(c, c.switch("lb1").send(c.to_vip(flags=ACK)))[0] == first
    assert towards_server(c, c.switch("lb1").send(c.to_vip(flags=FIN_ACK)))[0] == first


@pytest.mark.parametrize("mode", MODES)
def test_a_syn_always_chooses_anew_so_a_reused_port_leaves_a_drained_server(mode):
    c = Cluster(mode)
    first, _ = towards_server(c, c.switch("lb1").send(c.to_vip()))
    c.state.book.set_weight(first.name, 0)
    again, _ = towards_server(c, c.switch("lb1").send(c.to_vip()))
    assert again != first and again == c.server_of_slot(c.slot)


def test_only_a_failed_servers_connections_move():
    c = Cluster()
    servers = {}
    for slot in range(0, 256, 5):                           # one connection per slot, by port
        c.slot = slot
        servers[slot] = towards_server(c, c.switch("lb1").send(c.to_vip(sport=20000 + slot)))[0].name
    c.fail("web2")
    for slot, before in servers.items():
        c.slot = (slot + 128) % 256                         # a hash that would now choose differently
        after, _ = towards_server(c, c.switch("lb1").send(c.to_vip(flags=ACK, sport=20000 + slot)))
        if before == "web2":
            assert after.name != "web2"
        else:
            assert after.name == before


def test_after_a_server_fails_only_its_slots_lead_elsewhere():
    c = Cluster()
    before = [c.server_of_slot(s).name for s in range(256)]
    c.fail("web3")
    for slot, old in enumerate(before):
        c.slot = slot
        new, _ = towards_server(c, c.switch("lb1").send(c.to_vip(sport=30000 + slot)))
        assert new.name != "web3" and (old == "web3" or new.name == old)


@pytest.mark.parametrize("mode", MODES)
def test_the_standby_commits_the_syn_copy_and_carries_the_connection_after_a_failover(mode):
    c = Cluster(mode)
    web, copy = new_connection(c)
    copy["in_port"] = c.uplink("lb2")
    assert c.switch("lb2").send(copy).outputs == []        # committed, forwarded nowhere
    assert list(c.tracker.marks(2).values()) == [destination(1, c.state.server_ids[web.name])]
    c.state.proxies.active = ("lb2",)
    c.state.book.set_weight(web.name, 0)                         # and the table changed meanwhile
    c.slot = 200
    after, _ = towards_server(c, c.switch("lb2").send(c.to_vip("lb2", flags=ACK)), proxy="lb2")
    assert after == web


@pytest.mark.parametrize("mode", MODES)
def test_a_proxy_filled_in_install_order_never_takes_the_other_proxys_syn_copy_for_a_syn(mode):
    """A proxy re-created empty gets its flows one message at a time, with SYN copies arriving:
    a copy meets the flow that commits it, or no flow, never the VIP's own flow."""
    c = Cluster(mode)
    _, copy = new_connection(c)
    copy["in_port"] = c.uplink("lb2")
    flows = {f.key: f for f in switch_flows(c.d, "lb2", c.state.view())}
    order = install_order(list(flows))
    for sent in range(len(order) + 1):
        met = [flows[k] for k in order[:sent] if k[0] == 0 and matches(flows[k], copy)]
        assert not met or max(met, key=lambda f: f.priority).match_dict.get("eth_dst") == SYNC_MAC, \
            "with %d of %d flows in" % (sent, len(order))


def test_each_proxy_tracks_in_its_own_zone():
    c = Cluster()
    c.switch("lb1").send(c.to_vip())
    assert c.tracker.marks(1) and not c.tracker.marks(2)


def test_with_no_healthy_server_the_vip_drops_new_connections():
    c = Cluster()
    for web in c.d.real_servers:
        c.fail(web.name)
    assert c.switch("lb1").send(c.to_vip()).outputs == []


def test_a_nat_reply_leaves_with_the_vip_as_its_source_towards_the_client():
    c = Cluster("nat")
    web, client = c.d.host("web1"), c.client()
    reply = dict(in_port=c.downlink("lb1"), eth_src=web.interfaces[0].mac, eth_dst=c.d.gateway_mac,
                 eth_type=ETH_IP, ipv4_src=web.ip, ipv4_dst=client.ip, ip_proto=PROTO_TCP, tcp_src=80,
                 tcp_dst=40000, tcp_flags=SYN | ACK)
    port, packet = c.switch("lb1").send(reply).only_output()
    assert port == c.uplink("lb1")
    assert (packet["ipv4_src"], packet["eth_src"], packet["eth_dst"]) == (c.d.vip, c.d.vip_mac, client.mac)


def test_the_proxy_answers_arp_for_the_vip_itself():
    c = Cluster()
    client = c.client()
    request = dict(in_port=c.uplink("lb1"), eth_src=client.mac, eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ETH_ARP,
                   arp_op=1, arp_sha=client.mac, arp_spa=client.ip, arp_tha="00:00:00:00:00:00", arp_tpa=c.d.vip)
    port, answer = c.switch("lb1").send(request).only_output()
    assert port == c.uplink("lb1")
    assert (answer["arp_op"], answer["arp_sha"], answer["arp_spa"]) == (2, c.d.vip_mac, c.d.vip)
    assert (answer["arp_tha"], answer["arp_tpa"], answer["eth_dst"]) == (client.mac, client.ip, client.mac)


def test_a_liveness_probe_comes_back_where_it_came_from():
    c = Cluster()
    for port in (c.uplink("lb1"), c.downlink("lb1")):
        probe = dict(in_port=port, eth_src="02:00:00:00:00:fe", eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ETH_PROBE)
        assert c.switch("lb1").send(probe).ports == [port]
    back = dict(in_port=c.d.proxy_port("s_pub", "lb1"), eth_type=ETH_PROBE, eth_dst="ff:ff:ff:ff:ff:ff")
    assert len(c.switch("s_pub").send(back).to_controller) == 1


def public_syn(c, client="c1"):
    intf = c.client(client)
    return dict(c.to_vip(client=client), in_port=intf.port)


@pytest.mark.parametrize("active", ["lb1", "lb2"])
def test_s_pub_steers_the_vip_to_the_active_proxy_and_logs_the_syn(active):
    c = Cluster(active=(active,))
    result = c.switch("s_pub").send(public_syn(c))
    assert result.ports == [c.d.proxy_port("s_pub", active)]
    assert len(result.to_controller) == 1 and result.metered == [1]


@pytest.mark.parametrize("active", ["lb1", "lb2"])
def test_s_pub_steers_the_vip_to_the_standby_by_itself_when_the_active_proxys_port_dies(active):
    """The fast-failover group: no flow changes, the datapath alone moves the VIP (ARP too)."""
    c = Cluster(active=(active,))
    standby = next(p for p in c.d.proxies if p != active)
    s_pub = c.switch("s_pub", dead_ports=[c.d.proxy_port("s_pub", active)])
    assert s_pub.send(public_syn(c)).ports == [c.d.proxy_port("s_pub", standby)]
    arp = dict(in_port=c.client().port, eth_src=c.client().mac, eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ETH_ARP,
               arp_sha=c.client().mac, arp_spa=c.client().ip, arp_tpa=c.d.vip)
    assert s_pub.send(arp).ports == [c.d.proxy_port("s_pub", standby)]
    for controller in (True, False):
        s_pub = c.switch("s_pub", dead_ports=[c.d.proxy_port("s_pub", active)], controller=controller)
        assert s_pub.send(public_syn(c)).ports == [c.d.proxy_port("s_pub", standby)]


def test_with_bfd_silent_towards_both_proxies_s_pub_keeps_the_controllers_choice():
    """A stall of the switch's own main thread silences BFD towards every proxy at once."""
    c = Cluster(active=("lb2",))
    silent = [c.d.proxy_port("s_pub", p) for p in c.d.proxies]
    assert c.switch("s_pub", dead_ports=silent).send(public_syn(c)).ports == [c.d.proxy_port("s_pub", "lb2")]
    assert c.switch("s_pub", dead_ports=silent, controller=False).send(public_syn(c)).ports == []


def test_s_lan_steers_the_nat_gateway_to_the_standby_when_the_active_proxys_port_dies():
    c = Cluster("nat")
    web = c.d.real_servers[0].service_interface
    reply = dict(in_port=web.port, eth_src=web.mac, eth_dst=c.d.gateway_mac, eth_type=ETH_IP, ipv4_src=web.ip,
                 ipv4_dst=c.client().ip, ip_proto=PROTO_TCP, tcp_src=c.d.http_port, tcp_dst=40000, tcp_flags=ACK)
    assert c.switch("s_lan").send(reply).ports == [c.d.proxy_port("s_lan", "lb1")]
    s_lan = c.switch("s_lan", dead_ports=[c.d.proxy_port("s_lan", "lb1")])
    assert s_lan.send(reply).ports == [c.d.proxy_port("s_lan", "lb2")]


def test_active_active_sends_a_dead_proxys_connections_to_the_live_one():
    c = Cluster(active=("lb1", "lb2"))
    lb1 = c.d.proxy_port("s_pub", "lb1")
    for slot in (0, 1):
        c.slot = slot
        assert c.switch("s_pub", dead_ports=[lb1]).send(public_syn(c)).ports == [c.d.proxy_port("s_pub", "lb2")]


def test_active_active_spreads_connections_over_both_proxies_by_hash():
    c = Cluster(active=("lb1", "lb2"))
    chosen = set()
    for slot in (0, 1):
        c.slot = slot
        chosen.update(c.switch("s_pub").send(public_syn(c)).ports)
    assert chosen == {c.d.proxy_port("s_pub", "lb1"), c.d.proxy_port("s_pub", "lb2")}


def test_a_blocked_source_is_dropped_at_s_pub_and_still_logged():
    c = Cluster()
    c.state.block(c.client("c2").ip, 60)
    result = c.switch("s_pub").send(public_syn(c, "c2"))
    assert result.outputs == [] and len(result.to_controller) == 1
    assert c.switch("s_pub").send(public_syn(c, "c1")).ports == [c.d.proxy_port("s_pub", "lb1")]


def test_the_first_packet_of_a_udp_flow_is_logged_and_the_next_are_not():
    c = Cluster(segmentation=False)
    s_pub = c.switch("s_pub")
    c1, c2 = c.client("c1"), c.client("c2")
    datagram = dict(in_port=c1.port, eth_src=c1.mac, eth_dst=c2.mac, eth_type=ETH_IP, ipv4_src=c1.ip,
                    ipv4_dst=c2.ip, ip_proto=PROTO_UDP)
    first, second = s_pub.send(datagram), s_pub.send(datagram)
    assert first.ports == second.ports == [c2.port]
    assert len(first.to_controller) == 1 and len(first.learned) == 1 and second.to_controller == []
