import dataclasses
import json

import pytest

from controller.health import CONFIRM, DEGRADED, DOWN, FAIL, OK
from controller.state import ClusterState
from core.builder import describe, with_services


def state():
    return ClusterState(describe())


def test_real_server_state_combines_its_port_and_its_health_checks():
    s = state()
    web1 = s.description.host("web1")
    port = web1.service_interface.port
    assert s.real_server_state(web1) == "unknown"
    s.probe_result("web1", OK)
    assert s.real_server_state(web1) == "up"
    assert s.port_status("s_lan", port, False) == "web1"
    assert s.real_server_state(web1) == "down" and "web1" not in s.healthy()
    assert s.port_status("s_lan", port, True) is None
    assert s.real_server_state(web1) == "down"          # back only after `rise` good checks
    s.probe_result("web1", OK)
    s.probe_result("web1", OK)
    assert s.real_server_state(web1) == "up" and "web1" in s.healthy()


def test_degraded_servers_take_traffic_only_when_none_is_up():
    s = state()
    for web in ("web1", "web2"):
        s.probe_result(web, OK)
    for _ in range(2):
        s.probe_result("web1", DEGRADED)
    assert s.healthy() == {"web2"}
    for _ in range(2):
        s.probe_result("web2", FAIL)
    assert s.healthy() == {"web1"}
    assert set(s.view().services[0].table) == {"web1"}


def test_ready_needs_a_live_channel():
    s = state()
    s.flows_installed("s_pub")
    assert "s_pub" not in s.ready
    s.switch_connected("s_pub")
    s.flows_installed("s_pub")
    assert s.status()["switches"][0] == {"name": "s_pub", "dpid": "0x1", "role": "public",
                                         "connected": True, "ready": True}


def test_status_has_the_fields_the_api_promises():
    status = state().status()
    assert {"mode", "vip", "active_proxy", "proxies", "backends"} <= set(status)
    assert status["backends"][0] == {"name": "web1", "rip": "10.0.1.11", "weight": 1, "state": "unknown"}
    assert {"slots", "active_connections", "last_change", "in_service"} <= set(state().backends()["backends"][0])


def test_bans_end_by_themselves():
    now = [100.0]
    s = ClusterState(describe(), clock=lambda: now[0])
    s.block("10.0.0.50", 10)
    now[0] += 9
    assert s.expire_blocks() == [] and s.blocks_view()[0]["seconds_left"] == 1.0
    now[0] += 1
    assert s.expire_blocks() == ["10.0.0.50"] and s.blocks_view() == []


def test_table_changes_name_who_left_and_joined_once():
    s = state()
    port = s.description.host("web2").service_interface.port
    assert s.table_changes() == ([], [])
    s.port_status("s_lan", port, False)
    assert s.table_changes() == (["web2"], []) and s.table_changes() == ([], [])
    s.port_status("s_lan", port, True)
    assert s.table_changes() == ([], [])             # back once its health checks pass again
    s.probe_result("web2", OK)
    s.probe_result("web2", OK)
    assert s.table_changes() == ([], ["web2"])


class Clock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def test_a_snapshot_brings_back_what_requests_and_failovers_changed():
    before = ClusterState(describe(webs=3), clock=Clock(100.0))
    before.book.set_weight("web1", 3)
    before.book.remove_member("web3")
    before.block("10.0.0.13", 60, "port scan")
    before.proxies.active = ("lb2",)
    before.port_status("s_lan", before.description.host("web2").service_interface.port, False)
    before.fail_node("lb1", "link")
    snapshot = json.loads(json.dumps(before.snapshot(wall_now=5000.0)))     # through a file

    after = ClusterState(describe(webs=3), clock=Clock(7.0))      # a new process: another monotonic clock
    after.restore(snapshot, wall_now=5010.0)                    # restarted 10 s later
    assert after.book.weights == {"web1": 3, "web2": 1, "web3": 1} and after.book.members == {"web1", "web2"}
    assert after.blocks_view() == [{"ip": "10.0.0.13", "seconds_left": 50.0, "reason": "port scan"}]
    assert after.proxies.active == ("lb2",)
    assert after.health["web2"].state == "down" and after.health["web1"].state == "unknown"
    assert after.view().services[0].table == before.view().services[0].table      # the same Maglev table, at once
    assert after.failed_nodes == {"lb1": "link"}                  # its ports are still down: recover works
    assert after.recover_node("lb1") == [("lb1", 1), ("lb1", 2), ("s_pub", 1), ("s_lan", 1)]
    assert after.book.add_member("web3") and after.book.weights["web3"] == 1        # as it was when it left


def test_a_ban_over_during_the_restart_is_not_brought_back():
    before = ClusterState(describe(), clock=Clock(0.0))
    before.block("10.0.0.13", 5)
    after = ClusterState(describe(), clock=Clock(0.0))
    after.restore(before.snapshot(wall_now=1000.0), wall_now=1006.0)
    assert after.blocks == {}


CLUSTER_ID = ClusterState(describe()).cluster_id


def damaged_snapshot(**change):
    good = ClusterState(describe()).snapshot(wall_now=0.0)
    return json.loads(json.dumps(dict(good, **change)))


WEB1 = {"address": "10.0.1.11", "port": 80, "method": "nat", "weight": 1}
SERVICE = {"key": {"protocol": "tcp", "vip": "10.0.0.100", "port": 80}, "scheduler": "mh", "persistence": None,
           "netmask": "255.255.255.255", "real_servers": [WEB1]}


@pytest.mark.parametrize("damaged", [
    None, [], {"version": 1}, {"version": 2, "cluster": CLUSTER_ID, "services": []},
    damaged_snapshot(services=[{"index": 1, "service": dict(SERVICE, real_servers=[dict(WEB1, weight=-1)])}]),
    damaged_snapshot(services=[{"index": 1, "service": dict(SERVICE, scheduler="nq")}]),
    damaged_snapshot(services=[{"index": 0, "service": SERVICE}]),
    damaged_snapshot(services=[{"index": 1, "service": SERVICE}, {"index": 1, "service": dict(
        SERVICE, key={"protocol": "udp", "vip": "10.0.0.100", "port": 53}, real_servers=[])}]),
    damaged_snapshot(services=[{"index": 1, "service": dict(SERVICE, color="red")}]),
    damaged_snapshot(blocks={"1.2.3.4": "x"}),
    damaged_snapshot(health={"web1": "sleepy"}),
])
def test_a_damaged_snapshot_changes_nothing(damaged):
    s = state()
    with pytest.raises(ValueError):
        s.restore(damaged, wall_now=0.0)
    assert s.book.weights == {"web1": 1, "web2": 1} and s.book.members == {"web1", "web2"} and s.blocks == {}


def test_a_snapshot_of_another_cluster_is_refused():
    other = ClusterState(describe(webs=3)).snapshot(wall_now=0.0)
    s = state()
    with pytest.raises(ValueError, match="saved for another cluster"):
        s.restore(other, wall_now=0.0)


def test_a_passive_signal_checks_at_once_and_failed_checks_take_the_server_out():
    clock = Clock(10.0)
    s = ClusterState(describe(), clock=clock)
    assert s.passive_signal("web1", "a RST from 10.0.1.11:80") == 0
    assert s.passive_signal("web1", "a RST from 10.0.1.11:80") == pytest.approx(0.2)    # at the interval's end
    assert s.passive_check_result("web1", "a RST from 10.0.1.11:80", FAIL) == CONFIRM
    assert "web1" in s.view().services[0].table                                     # one failed check is not enough
    assert s.passive_check_result("web1", "a RST from 10.0.1.11:80", FAIL) == DOWN
    assert s.health["web1"].state == "down" and "web1" not in s.view().services[0].table
    assert s.health["web1"].last_change_cause == "a RST from 10.0.1.11:80, then 2 failed checks"
    assert s.backends()["backends"][0]["last_passive_signal"]["signal"] == "a RST from 10.0.1.11:80"


def test_a_passive_signal_from_a_healthy_server_changes_nothing():
    clock = Clock(10.0)
    s = ClusterState(describe(), clock=clock)
    s.probe_result("web2", OK)
    table = s.view().services[0].table
    for i in range(50):                  # provoked RSTs (bare ACKs), 100 per second
        if s.passive_signal("web2", "a RST") is not None:
            assert s.passive_check_result("web2", "a RST", OK) is None
            assert s.passive_check_result("web2", "a RST", DEGRADED) is None
        clock.now += 0.01
    assert s.view().services[0].table == table and s.health["web2"].state == "up"


def test_extra_checks_are_rate_limited_to_one_per_interval():
    clock = Clock(0.0)
    s = ClusterState(describe(), clock=clock)
    due = 0
    for _ in range(100):                 # 1 s of signals every 10 ms
        due += s.passive_signal("web1", "a RST") is not None
        clock.now += 0.01
    assert due == 6                      # interval 0.2 s: at 0, 0.2 .. 0.8, and one waiting for 1.0


def test_inhibit_on_failure_keeps_a_failed_server_s_connections_until_its_port_goes_down():
    d = describe()
    service = dataclasses.replace(d.services[0], inhibit_on_failure=("10.0.1.11",))
    s = ClusterState(with_services(d, [service]))
    for web in ("web1", "web2"):
        s.probe_result(web, OK)
    for _ in range(2):
        s.probe_result("web1", FAIL)
    (view,) = s.view().services
    assert "web1" not in view.table and view.inhibited == ("web1",) and view.kept == ("web2", "web1")
    s.port_status("s_lan", d.host("web1").service_interface.port, False)
    assert s.view().services[0].inhibited == ()                # a dead host keeps nothing
