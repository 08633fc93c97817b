"""The log reviewer's criteria on synthetic records."""
import ipaddress

import pytest

from apps.detect import Detector
from core.settings import Thresholds
from core.eventlog import ecs_timestamp

PUBLIC = ipaddress.ip_network("10.0.0.0/24")
PROTECTED = {"10.0.1.11": "web1", "10.0.2.11": "db1"}
T0 = 1_800_000_000.0


def attempt(at, source, destination, port=80, transport="tcp"):
    return {"@timestamp": ecs_timestamp(T0 + at), "event.action": "connection-attempt", "source.ip": source,
            "destination.ip": destination, "destination.port": port, "source.port": 40000 + int(at * 1000) % 20000,
            "network.transport": transport, "observer.name": "s_pub"}


def request(at, source, login_failed=False):
    record = {"@timestamp": ecs_timestamp(T0 + at), "event.action": "http-request", "source.ip": source,
              "source.port": 40000, "url.path": "/login" if login_failed else "/"}
    if login_failed:
        record.update({"event.category": "authentication", "event.outcome": "failure", "user.name": "alice"})
    return record


def run(records, **thresholds):
    detector = Detector(PUBLIC, PROTECTED, Thresholds(**thresholds), ignore={"10.0.1.250"})
    return [alert for record in records for alert in detector.observe(record)]


def test_fifteen_ports_of_one_host_are_a_port_scan():
    alerts = run(attempt(i * 0.1, "10.0.0.11", "10.0.0.100", port=1000 + i) for i in range(20))
    assert [(a["rule.name"], a["source.ip"]) for a in alerts] == [("port-scan", "10.0.0.11")]
    assert len(alerts[0]["evidence"]["ports"]) == 15


def test_ports_spread_beyond_the_window_are_not_a_scan():
    assert run(attempt(i * 30, "10.0.0.11", "10.0.0.100", port=1000 + i) for i in range(20)) == []


def test_twenty_five_hosts_are_a_sweep():
    alerts = run(attempt(i, "10.0.0.12", "10.0.0.%d" % (50 + i)) for i in range(30))
    assert [a["rule.name"] for a in alerts] == ["host-sweep"]


def test_syns_that_never_complete_are_a_flood_but_busy_clients_are_not():
    flood = run(attempt(i * 0.005, "10.0.0.13", "10.0.0.100") for i in range(300))
    assert [a["rule.name"] for a in flood] == ["syn-flood"]
    busy = []
    for i in range(300):
        busy += [attempt(i * 0.005, "10.0.0.14", "10.0.0.100"), request(i * 0.005, "10.0.0.14")]
    assert run(busy) == []


def test_five_failed_logins_are_brute_force():
    alerts = run(request(i * 10, "10.0.0.15", login_failed=True) for i in range(6))
    assert [(a["rule.name"], a["evidence"]["failures"]) for a in alerts] == [("brute-force-login", 5)]
    assert run(request(i * 200, "10.0.0.15", login_failed=True) for i in range(6)) == []


def test_the_public_side_reaching_a_real_server_or_a_db_port_is_forbidden():
    alerts = run([attempt(0, "10.0.0.16", "10.0.1.11"), attempt(1, "10.0.0.16", "10.0.0.100"),
                  attempt(2, "10.0.1.250", "10.0.1.11"), attempt(3, "10.0.1.1", "10.0.2.11", port=2379)])
    assert [(a["rule.name"], a["evidence"]["what"]) for a in alerts] == [("forbidden-service", "web1")]


def served(record, service):
    return dict(record, **{"labels.service": service})


def test_a_port_of_a_vip_that_no_service_serves_is_forbidden_and_service_ports_are_not():
    detector = Detector(PUBLIC, PROTECTED, vips=["10.0.0.100"])
    ping = dict(attempt(2, "10.0.0.16", "10.0.0.100"), **{"network.transport": "icmp"})
    del ping["destination.port"]
    records = [served(attempt(0, "10.0.0.16", "10.0.0.100"), "TCP 10.0.0.100:80"), ping,
               served(attempt(1, "10.0.0.16", "10.0.0.101", port=53, transport="udp"), "UDP 10.0.0.101:53"),
               attempt(3, "10.0.0.16", "10.0.0.100", port=22),
               attempt(4, "10.0.0.18", "10.0.0.101", port=80, transport="udp")]
    alerts = [a for record in records for a in detector.observe(record)]
    assert [(a["source.ip"], a["evidence"]["what"]) for a in alerts] == [
        ("10.0.0.16", "tcp port 22 of VIP 10.0.0.100, which no virtual service serves"),
        ("10.0.0.18", "udp port 80 of VIP 10.0.0.101, which no virtual service serves")]   # learnt from the log


def test_one_alert_per_criterion_and_source_per_realert_period():
    records = [attempt(i, "10.0.0.17", "10.0.1.11") for i in range(10)] + [attempt(700, "10.0.0.17", "10.0.1.11")]
    assert len(run(records)) == 2


def test_ignored_sources_and_records_without_source_raise_nothing():
    assert run([attempt(0, "10.0.1.250", "10.0.1.11"), {"@timestamp": ecs_timestamp(T0), "message": "x"}]) == []


@pytest.mark.parametrize("bad", [{"portscan_ports": 0}, {"sweep_window": -1}, {"realert": "soon"},
                                 {"bruteforce_failures": True}])
def test_nonsense_thresholds_are_refused(bad):
    with pytest.raises(ValueError, match="must be a positive number"):
        Thresholds(**bad).validate()


def test_an_attempt_counts_once_at_the_source_edge():
    detector = Detector(PUBLIC, PROTECTED, edges={"10.0.0.11": "s_pub", "10.0.1.11": "s_lan"})
    natted = dict(attempt(0, "10.0.0.11", "10.0.1.11"), **{"observer.name": "s_lan"})
    assert detector.observe(natted) == []                    # a NAT rewrite, not the client's doing
    assert [a["rule.name"] for a in detector.observe(attempt(1, "10.0.0.11", "10.0.1.11"))] == ["forbidden-service"]


def test_a_forged_packet_flags_the_host_on_its_port_not_the_address_it_claimed():
    spoof = {"@timestamp": ecs_timestamp(T0), "event.action": "spoofed-packet", "source.ip": "10.0.0.13",
             "labels.claimed_ip": "10.0.0.11", "observer.name": "s_pub", "observer.ingress.interface.id": "6",
             "observer.ingress.interface.alias": "c3", "destination.ip": "10.0.0.100"}
    alerts = run([spoof, dict(spoof, **{"@timestamp": ecs_timestamp(T0 + 1)})])
    assert [(a["rule.name"], a["source.ip"]) for a in alerts] == [("spoofing", "10.0.0.13")]
    assert alerts[0]["evidence"] == {"switch": "s_pub", "port": "6", "host": "c3", "claimed": "10.0.0.11"}
