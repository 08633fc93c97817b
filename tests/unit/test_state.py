from controller.state import ClusterState
from topologies.description import describe


def state():
    return ClusterState(describe())


def test_first_election_waits_for_both_proxies_and_prefers_lb1():
    s = state()
    s.switch_connected("lb2")
    assert s.active_proxy is None
    s.switch_connected("lb1")
    assert s.active_proxy == "lb1"


def test_settle_elects_the_only_connected_proxy():
    s = state()
    s.switch_connected("lb2")
    s.settle_election()
    assert s.active_proxy == "lb2"


def test_failover_is_not_preemptive():
    s = state()
    s.switch_connected("lb1")
    s.switch_connected("lb2")
    s.switch_disconnected("lb1")
    assert s.active_proxy == "lb2"
    s.switch_connected("lb1")
    assert s.active_proxy == "lb2"
    assert [p["role"] for p in s.status()["proxies"]] == ["standby", "active"]


def test_no_active_proxy_when_both_are_down():
    s = state()
    s.switch_connected("lb1")
    s.switch_connected("lb2")
    s.switch_disconnected("lb1")
    s.switch_disconnected("lb2")
    assert s.active_proxy is None
    assert [p["role"] for p in s.status()["proxies"]] == ["down", "down"]


def test_backend_state_follows_its_lan_port():
    s = state()
    web1 = s.description.host("web1")
    assert s.backend_state(web1) == "unknown"
    s.switch_connected("s_lan")
    s.port_status("s_lan", web1.interface_on("s_lan").port, True)
    assert s.backend_state(web1) == "up"
    s.port_status("s_lan", web1.interface_on("s_lan").port, False)
    assert s.backend_state(web1) == "down"
    s.switch_disconnected("s_lan")
    assert s.backend_state(web1) == "unknown"


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
