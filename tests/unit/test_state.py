from controller.health import DEGRADED, FAIL, OK
from controller.state import ClusterState
from core.description import describe


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
    assert set(s.view().table) == {"web1"}


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
