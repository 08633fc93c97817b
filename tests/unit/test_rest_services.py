"""The real controller process, with no switch connected: its virtual services through the REST
API, in JSON and in ipvsadm's own words, each change checked as in a rules file and refused
naming the field, its value and what is allowed, nothing changed."""
import json

import pytest
import requests

SERVICE = "/lb/services/tcp/10.0.0.100/80"


def rules(api):
    return requests.get(api + "/lb/services", timeout=5).json()["rules"]


def test_the_default_service_is_listed_with_its_real_servers_and_rules(api):
    (service,) = requests.get(api + "/lb/services", timeout=5).json()["services"]
    assert (service["service"], service["index"], service["scheduler"]) == ("-t 10.0.0.100:80", 1, "mh")
    assert [(r["name"], r["port"], r["method"], r["weight"]) for r in service["real_servers"]] == [
        ("web1", 80, "tun", 1), ("web2", 80, "tun", 1), ("web3", 80, "tun", 1)]
    assert rules(api).splitlines()[0] == "-A -t 10.0.0.100:80 -s mh"
    assert requests.get(api + SERVICE, timeout=5).json() == service


def test_a_service_added_changed_and_removed_in_json(api, changes, controller):
    response = changes.post(api + "/lb/services", json={"protocol": "udp", "vip": "10.0.0.100", "port": 53},
                            timeout=5)
    assert response.status_code == 201 and response.json()["index"] == 2
    dns = "/lb/services/udp/10.0.0.100/53"
    response = changes.post(api + dns + "/real_servers", json={"address": "10.0.1.12", "weight": 2}, timeout=5)
    assert response.status_code == 201
    assert [(r["name"], r["port"], r["method"], r["weight"]) for r in response.json()["real_servers"]] == [
        ("web2", 53, "tun", 2)]                            # the service's port and the cluster's method
    response = changes.put(api + dns + "/real_servers/10.0.1.12/53", json={"weight": 0}, timeout=5)
    assert response.json()["real_servers"][0]["weight"] == 0        # quiescent
    assert "-a -u 10.0.0.100:53 -r 10.0.1.12:53 -i -w 0" in rules(api)
    assert changes.delete(api + dns + "/real_servers/10.0.1.12/53", timeout=5).json()["real_servers"] == []
    assert changes.delete(api + dns, timeout=5).json() == {"service": "-u 10.0.0.100:53", "removed": True}
    assert requests.get(api + dns, timeout=5).status_code == 404
    changed = [json.loads(line) for line in controller[1].read_text().splitlines()
               if '"service-changed"' in line]
    assert [e["message"] for e in changed][-2:] == ["10.0.1.12:53 left -u 10.0.0.100:53",
                                                    "virtual service -u 10.0.0.100:53 removed"]
    assert changed[-1]["labels.door"] == "harness" and changed[-1]["labels.service"] == "-u 10.0.0.100:53"


def test_a_change_in_ipvsadm_words(api, changes):
    for command, done in (("-A -t 10.0.0.101:8080 -s mh", "virtual service -t 10.0.0.101:8080 added"),
                          ("-a -t 10.0.0.101:8080 -r 10.0.1.11 -i -w 3",
                           "10.0.1.11:8080 joined -t 10.0.0.101:8080 (TUN, weight 3)"),
                          ("-D -t 10.0.0.101:8080", "virtual service -t 10.0.0.101:8080 removed")):
        response = changes.post(api + "/lb/ipvsadm", json={"command": command}, timeout=5)
        assert (response.status_code, response.json()) == (200, {"done": done})


def test_a_sorry_server_is_set_and_taken_away(api, changes):
    changes.delete(api + SERVICE + "/real_servers/10.0.1.13/80", timeout=5)     # a sorry server is none of them
    response = changes.put(api + SERVICE, json={"sorry_server": {"address": "10.0.1.13"}}, timeout=5)
    assert response.status_code == 200 and response.json()["sorry_server"] == {
        "name": "web3", "address": "10.0.1.13", "port": 80, "method": "tun", "in_use": False}
    assert "10.0.1.13" not in rules(api)                  # ipvsadm's rules have no word for it
    assert changes.put(api + SERVICE, json={"sorry_server": None}, timeout=5).json()["sorry_server"] is None
    changes.post(api + SERVICE + "/real_servers", json={"address": "10.0.1.13"}, timeout=5)


@pytest.mark.parametrize("method, path, body, code, message", [
    ("POST", "/lb/services", {"protocol": "sctp", "vip": "10.0.0.100", "port": 9}, 400,
     'protocol must be one of tcp, udp, got "sctp"'),
    ("POST", "/lb/services", {"protocol": "tcp", "vip": "10.0.0.100", "port": 70000}, 400,
     "port must be a port from 1 to 65535, got 70000"),
    ("POST", "/lb/services", {"protocol": "tcp", "vip": "10.0.1.5", "port": 80}, 400,
     "VIP 10.0.1.5 is inside the server LAN"),
    ("POST", "/lb/services", {"protocol": "tcp", "vip": "10.0.0.100", "port": 80}, 400,
     "the virtual service -t 10.0.0.100:80 exists already"),
    ("POST", "/lb/services", {"protocol": "tcp", "vip": "10.0.0.100", "port": 81, "scheduler": "dh"}, 400,
     "scheduler dh is not carried out here"),
    ("POST", "/lb/services", {"protocol": "tcp", "vip": "10.0.0.100"}, 400, "missing field(s): port"),
    ("POST", SERVICE + "/real_servers", {"address": "10.0.1.99"}, 400, "10.0.1.99 is not a web host"),
    ("POST", SERVICE + "/real_servers", {"address": "10.0.1.11"}, 400, "10.0.1.11:80 is a real server of"),
    ("POST", SERVICE + "/real_servers", {"address": "10.0.1.11", "port": 8080, "method": "nat"}, 400,
     "10.0.1.11 serves it already on port 80"),
    ("POST", SERVICE + "/real_servers", {"address": "10.0.1.11", "weight": -1}, 400,
     "weight must be an integer from 0 to 65535 (0: quiescent), got -1"),
    ("PUT", SERVICE + "/real_servers/10.0.1.11/80", {"method": "gre"}, 400, 'method must be one of nat, tun, dr'),
    ("PUT", SERVICE + "/real_servers/10.0.1.13/81", {"weight": 2}, 404, "10.0.1.13:81 is not a real server"),
    ("DELETE", "/lb/services/tcp/10.0.0.100/81", None, 404, "no virtual service -t 10.0.0.100:81"),
    ("GET", "/lb/services/tcp/10.0.0.999/80", None, 400, 'vip must be an IPv4 address such as 10.0.0.100'),
    ("POST", "/lb/ipvsadm", {"command": "-A -t 10.0.0.100:80"}, 400, "exists already"),
    ("POST", "/lb/ipvsadm", {"command": "-Q"}, 400, "unknown option or stray word '-Q'"),
    ("POST", "/lb/ipvsadm", {"command": 7}, 400, "command must be a string"),
    ("PUT", SERVICE, {"sorry_server": {"address": "10.0.1.11"}}, 400, "its sorry server 10.0.1.11 is one of its"),
    ("PUT", SERVICE, {"sorry_server": {"port": 80}}, 400, 'sorry_server must be null or {"address", "port", "method"}'),
    ("PUT", SERVICE, {"sorry_server": {"address": "10.0.1.13", "method": "x"}}, 400,
     "sorry_server's method must be one of nat, tun, dr"),
    ("PUT", SERVICE, {"color": "red"}, 400, "unknown field(s): color"),
])
def test_a_bad_change_is_refused_naming_what_was_wrong_and_changes_nothing(
        api, changes, method, path, body, code, message):
    before = rules(api)
    response = changes.request(method, api + path, json=body, timeout=5)
    assert response.status_code == code and message in response.json()["error"], response.json()
    assert rules(api) == before
