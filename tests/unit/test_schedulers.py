"""LVS's schedulers as the datapath carries them out (controller/schedulers.py): the tables they
fill, and, through the pipeline simulator, what a client's connections meet: sh keeps every
connection of a client on one real server, fo sends every new one to the highest weight, wlc
steers towards the least loaded from the counters."""
import pytest

from controller.maglev import TABLE_SIZE
from controller.pipeline import T_SLOTS, service_group
from controller.schedulers import counted, failover_choice, least_connection_weights, scheduling_weights
from controller.specs import destination
from core.ipvsadm import IpvsadmError
from tests.unit.test_service_pipeline import Cluster

WEB = "-t 10.0.0.100:80"


def cluster_with(scheduler, *extra):
    c = Cluster()
    c.state.book.ipvsadm("-E %s -s %s" % (WEB, scheduler))
    for line in extra:
        c.state.book.ipvsadm(line)
    return c


def web_view(c):
    return next(v for v in c.state.view().services if str(v.key) == WEB)


def test_rr_and_lc_count_every_positive_weight_as_one_and_keep_quiescence():
    weights = {"web1": 3, "web2": 0, "web3": 1}
    assert scheduling_weights("rr", weights) == scheduling_weights("lc", weights) == {"web1": 1, "web2": 0, "web3": 1}
    assert scheduling_weights("wrr", weights) == scheduling_weights("mh", weights) == weights


def test_failover_takes_the_highest_weight_available_and_the_first_listed_of_equals():
    assert failover_choice({"web1": 1, "web2": 5, "web3": 5}, ["web1", "web2", "web3"]) == "web2"
    assert failover_choice({"web1": 1, "web2": 5, "web3": 5}, ["web1", "web3"]) == "web3"
    assert failover_choice({"web1": 0, "web2": 0}, ["web1", "web2"]) is None


def test_least_connections_level_the_open_connections_per_weight():
    equal = {"web1": 1, "web2": 1}
    # web1 has 10 slow downloads and was given none since: web2, with none, takes nearly all
    assert least_connection_weights(equal, {"web1": 10, "web2": 0}, {}) == {"web1": 1, "web2": 255}
    # web2 answers 20 times slower: given 95 and 5 with 0.5 open each, web1 holds each 20 times
    # shorter, so it keeps 20 shares to web2's 1 (the open connections level at about 0.5 each)
    assert least_connection_weights(equal, {"web1": 0.5, "web2": 0.5}, {"web1": 95, "web2": 5}) == \
        {"web1": 243, "web2": 13}
    # weighted: web1 of weight 3 and web2 of weight 1, as quick as each other, keep 3 to 1
    assert least_connection_weights({"web1": 3, "web2": 1}, {"web1": 3, "web2": 1}, {"web1": 30, "web2": 10}) == \
        {"web1": 192, "web2": 64}
    assert least_connection_weights({"web1": 2, "web2": 1, "web3": 0}, {}, {}) == {"web1": 171, "web2": 85}


def test_active_connections_are_counted_from_every_proxy():
    counters = {"lb1": {0x101: {"opened": 12, "closed": 2}, 0x102: {"opened": 3, "closed": 3}},
                "lb2": {0x101: {"opened": 1, "closed": 0}}}
    assert counted(counters, {"web1": 0x101, "web2": 0x102}) == ({"web1": 11, "web2": 0}, {"web1": 13, "web2": 3})


def test_a_source_hashed_service_sends_every_connection_of_a_client_to_one_real_server():
    c = cluster_with("sh")
    view = web_view(c)
    assert service_group(view.index) not in {g.group_id for g in c.switch("lb1").groups.values()}
    assert sum(f.table_id == T_SLOTS for f in c.switch("lb1").flows) == TABLE_SIZE
    reached = set()
    for sport in range(40000, 40020):
        c.slot = sport % TABLE_SIZE          # the 5-tuple's hash, which sh does not use
        reached.add(c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=sport))[0])
    assert len(reached) == 1
    others = {c.to_server(c.packet("tcp", "10.0.0.100", 80, client=client))[0] for client in ("c1", "c2", "c3")}
    assert others <= {"web1", "web2"}


def test_a_source_hashed_service_moves_only_the_clients_of_a_server_that_fails():
    c = cluster_with("sh", "-a %s -r 10.0.1.13:80 -m" % WEB)
    before = web_view(c).table
    intf = c.d.host("web2").service_interface
    c.state.port_status(intf.switch, intf.port, False)
    after = web_view(c).table
    assert all(a == b for a, b in zip(before, after) if a != "web2") and "web2" not in after


def test_failover_sends_every_new_connection_to_the_highest_weight_then_the_next():
    c = cluster_with("fo", "-e %s -r 10.0.1.12:80 -m -w 5" % WEB)
    assert set(web_view(c).table) == {"web2"}
    for sport in range(40000, 40010):
        c.slot = sport * 7 % TABLE_SIZE
        assert c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=sport))[0] == "web2"
    intf = c.d.host("web2").service_interface
    c.state.port_status(intf.switch, intf.port, False)
    assert set(web_view(c).table) == {"web1"}


def test_least_connection_is_steered_by_the_polled_counters():
    c = cluster_with("wlc")
    index = web_view(c).index
    d = {name: destination(index, c.state.server_ids[name]) for name in ("web1", "web2")}
    assert c.state.steer() is True and set(web_view(c).table) == {"web1", "web2"}     # nothing open: by weight
    c.state.update_counters("lb1", d["web1"], opened=10, closed=0)      # 10 given to web1 in a poll, all open
    c.state.update_counters("lb1", d["web2"], opened=0, closed=0)
    assert c.state.steer() is False                                     # as quick as web2 for all it knows
    assert c.state.steer() is True and web_view(c).table.count("web2") > 250   # a poll on: none closed
    assert c.state.steer() is False                                     # the same counters: no change
    c.state.book.ipvsadm("-e %s -r 10.0.1.12:80 -m -w 0" % WEB)           # drained: at once, not at the next poll
    assert set(web_view(c).table) == {"web1"}


@pytest.mark.parametrize("scheduler", ["dh", "lblc", "sed", "nq", "ovf", "twos", "lblcr"])
def test_an_lvs_scheduler_not_carried_out_is_refused_naming_those_that_are(scheduler):
    refusal = "scheduler %s is not carried out here; use -s with one of mh .*, fo " % scheduler
    with pytest.raises(IpvsadmError, match=refusal):
        Cluster().state.book.ipvsadm("-E %s -s %s" % (WEB, scheduler))


def persistent_cluster(netmask="255.255.255.255"):
    c = cluster_with("mh", "-E %s -s mh -p 300 -M %s" % (WEB, netmask), "-a %s -r 10.0.1.13:80 -m" % WEB)
    assert "-A %s -s mh -p 300%s" % (WEB, "" if netmask.endswith("255") else " -M " + netmask) in c.state.book.rules()
    return c


def test_a_persistent_client_keeps_its_real_server_across_connections_weights_and_quiescence():
    c = persistent_cluster()
    first = c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=40000))[0]
    (entry,) = c.learned["lb1"].values()
    assert entry.match_dict["ipv4_src"] == ("10.0.0.11", "255.255.255.255")
    for sport in range(40001, 40020):
        c.slot = sport * 37 % TABLE_SIZE                # another slot each time: Maglev alone would move it
        assert c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=sport))[0] == first
    others = [w for w in ("web1", "web2", "web3") if w != first]
    c.state.book.ipvsadm("-e %s -r %s:80 -m -w 5" % (WEB, c.d.host(others[0]).ip))   # its slots move
    c.state.book.ipvsadm("-e %s -r %s:80 -m -w 0" % (WEB, c.d.host(first).ip))      # quiescent
    assert first not in web_view(c).table
    assert c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=40100))[0] == first
    assert c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=40101, client="c2"))[0] != first   # a new client


def test_a_persistent_client_moves_only_when_its_real_server_fails_and_the_move_is_learned():
    c = persistent_cluster()
    first = c.to_server(c.packet("tcp", "10.0.0.100", 80))[0]
    intf = c.d.host(first).service_interface
    c.state.port_status(intf.switch, intf.port, False)
    moved = c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=40001))[0]
    assert moved != first
    c.state.port_status(intf.switch, intf.port, True)          # back: the client stays where it went
    c.slot = 99
    assert c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=40002))[0] == moved


def test_persistence_groups_clients_by_the_netmask_and_the_other_proxy_learns_from_the_syn_copy():
    c = persistent_cluster("255.255.255.0")
    result = c.send(c.packet("tcp", "10.0.0.100", 80))
    (entry,) = c.learned["lb1"].values()
    assert entry.match_dict["ipv4_src"] == ("10.0.0.11", "255.255.255.0")
    first = entry.actions[0].value
    c.slot = 77
    web, _ = c.to_server(c.packet("tcp", "10.0.0.100", 80, sport=40001, client="c2"))   # same /24
    assert destination(web_view(c).index, c.state.server_ids[web]) == first
    (copy,) = [p for port, p in result.outputs if p["eth_dst"] == "02:5c:00:00:00:01"]
    c.send(dict(copy, in_port=c.d.proxy_uplink("lb2")), proxy="lb2")
    assert [f.actions for f in c.learned["lb2"].values()] == [entry.actions]


@pytest.mark.parametrize("line, words", [
    ("-E %s -s mh -p 300 -M 255.0.255.0" % WEB, "-M must be a netmask such as 255.255.255.0, got '255.0.255.0'"),
    ("-E %s -s mh -p 70000" % WEB, "a client's entry is kept at most 65535 s here"),
    ("-E %s -s mh -M 255.255.255.0" % WEB, "-M needs -p"),
])
def test_persistence_that_cannot_work_is_refused(line, words):
    with pytest.raises(IpvsadmError, match=words):
        Cluster().state.book.ipvsadm(line)
