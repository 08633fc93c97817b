"""The parts the Ryu app hands its events to, driven without Ryu or switches: a port's change and
its events, the health checker's extra checks, the operator's requests, the copy meters' polls
and the packet-ins by cookie kind."""
import json
from types import SimpleNamespace

import pytest
from ryu.lib.packet import ethernet, ipv4, packet, tcp

from controller import events
from controller.connlog import PacketIns
from controller.counters import Counters
from controller.health import FAIL, OK
from controller.healthcheck import HealthChecker
from controller.operations import Operations
from controller.pipeline import COOKIE_LOG, COOKIE_PASSIVE, LOG_METER
from controller.state import ClusterState, InvalidRequest
from core.builder import describe
from core.eventlog import EventLog
from core.settings import HealthSettings


class Recorder(EventLog):
    """An event log that keeps its records in memory."""

    def __init__(self):
        super().__init__(None)
        self.records = []
        self._file = self           # EventLog writes lines to its file: here, to the list

    def write(self, record):
        self.records.append(record)

    def actions(self):
        return [r["event.action"] for r in self.records]


@pytest.fixture
def cluster():
    d = describe(mode="nat", webs=2)
    return d, ClusterState(d), Recorder()


def test_a_port_status_that_changes_nothing_known_makes_no_change(cluster):
    d, state, _ = cluster
    first = state.port_changed("s_lan", 5, True, True)
    assert first.before is None and events.port_change(first)[0].action == "port-up"
    assert state.port_changed("s_lan", 5, True, True) is None


def test_bfd_lost_on_a_proxy_cable_is_a_bfd_event_that_waits_out_a_stall(cluster):
    d, state, _ = cluster
    edge, proxy = d.proxy_edges[0], d.proxies[0]
    port = d.proxy_port(edge, proxy)
    state.port_changed(edge, port, True, True)
    change = state.port_changed(edge, port, True, False)
    assert change.bfd_lost and change.cable_peer == proxy
    assert [e.action for e in events.port_change(change)] == ["bfd-down"]


def test_a_real_servers_port_down_names_the_server_to_take_out(cluster):
    d, state, _ = cluster
    web = d.host("web1").service_interface
    state.port_changed(web.switch, web.port, True, True)
    assert state.port_changed(web.switch, web.port, False, False).server == "web1"


def test_extra_checks_run_until_the_state_decides_and_a_server_taken_out_follows(cluster):
    d, state, log = cluster
    results, scheduled, changed = [FAIL, FAIL], [], []
    checker = HealthChecker(d, state, HealthSettings(), log, lambda delay, *call: scheduled.append(call),
                            lambda: changed.append(True), check=lambda *_: (results.pop(0), "refused", None))
    rst = frame("02:00:0a:00:01:0b", "10.0.1.11", "10.0.0.11", tcp.TCP_RST)
    checker.passive_signal("s_lan", rst)
    assert len(scheduled) == 1
    scheduled[0][0](*scheduled[0][1:])
    assert log.actions() == ["real-server-suspect", "real-server-suspect", "real-server-health"]
    assert state.health["web1"].state == "down" and changed == [True]


def test_a_passive_signal_from_a_healthy_server_leaves_it_in(cluster):
    d, state, log = cluster
    scheduled = []
    checker = HealthChecker(d, state, HealthSettings(), log, lambda delay, *call: scheduled.append(call),
                            lambda: None, check=lambda *_: (OK, None, None))
    checker.passive_signal("s_lan", frame("02:00:0a:00:01:0b", "10.0.1.11", "10.0.0.11", tcp.TCP_RST))
    scheduled[0][0](*scheduled[0][1:])
    assert log.actions() == ["real-server-suspect"] and state.health["web1"].state != "down"


class PortMods:
    def __init__(self, connected):
        self.connected, self.down = connected, []

    def require(self, ports):
        if not self.connected:
            raise InvalidRequest("not connected")

    def set_down(self, ports, down):
        self.down.append((sorted(ports), down))


def test_a_node_that_cannot_be_failed_now_is_refused_and_nothing_changes(cluster):
    d, state, log = cluster
    ops = Operations(d, state, log, lambda: None, PortMods(connected=False))
    with pytest.raises(InvalidRequest):
        ops.fail_node("web1", "link", "harness")
    assert state.failed_nodes == {} and log.records == []


def test_a_node_failed_and_recovered_sets_its_ports_and_says_so(cluster):
    d, state, log = cluster
    mods = PortMods(connected=True)
    ops = Operations(d, state, log, lambda: None, mods)
    ops.fail_node("web1", "link", "harness")
    ops.recover_node("web1", "harness")
    assert [down for _, down in mods.down] == [True, False]
    assert log.actions() == ["node-failed", "node-recovered"]
    assert log.records[0]["labels.door"] == "harness"


def test_a_meter_poll_reports_only_the_copies_dropped_since_the_last(cluster):
    _, state, _ = cluster
    counters = Counters(state)

    def stats(made, dropped):
        return [SimpleNamespace(packet_in_count=made, band_stats=[SimpleNamespace(packet_band_count=dropped)])]

    assert counters.metered("s_pub", LOG_METER, stats(0, 0)) == []
    assert [e.fields["labels_dropped"] for e in counters.metered("s_pub", LOG_METER, stats(4, 4))] == [4]
    assert counters.metered("s_pub", LOG_METER, stats(4, 4)) == []
    assert state.log_copies_dropped == 4


def test_packet_ins_go_where_their_cookie_says(cluster):
    d, state, log = cluster
    passive = []
    packet_ins = PacketIns(d, state, log, lambda switch, data: passive.append(switch))
    attempt = frame("02:00:0a:00:00:0b", "10.0.0.11", d.vip, tcp.TCP_SYN)
    packet_ins.received("s_pub", 1, COOKIE_LOG, attempt, from_itself=False)
    packet_ins.received("s_lan", 1, COOKIE_PASSIVE, attempt, from_itself=False)
    packet_ins.received("s_pub", 1, 0, attempt, from_itself=False)
    assert [r["event.action"] for r in log.records] == ["connection-attempt"] and passive == ["s_lan"]
    assert (state.log_copies, state.packet_in_count) == (1, 1)
    assert json.dumps(log.records[0])


def frame(mac, src, dst, bits):
    p = packet.Packet()
    p.add_protocol(ethernet.ethernet(dst="00:00:5e:00:01:01", src=mac, ethertype=0x0800))
    p.add_protocol(ipv4.ipv4(src=src, dst=dst, proto=6))
    p.add_protocol(tcp.tcp(src_port=80 if bits == tcp.TCP_RST else 40000, dst_port=40000, bits=bits))
    p.serialize()
    return bytes(p.data)
