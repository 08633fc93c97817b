"""A cluster's virtual services (core/services.py): the default one, a rules file read for a
cluster, and each way a service cannot fit the cluster refused naming the file and the line."""
import json

import pytest

from core.builder import describe, with_services
from core.description import ClusterDescription
from core.rules import ConfigError
from core.ipvsadm import IpvsadmError, ServiceKey, ServiceTable
from core.services import default_services, load_rules

D = describe()

RULES = """\
# three services (as ipvsadm -S orders them): web by NAT, 8080 by DR on a second VIP, DNS by NAT
-A -t 10.0.0.100:80 -s mh
-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 1
-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1
-A -t 10.0.0.101:8080 -s mh
-a -t 10.0.0.101:8080 -r 10.0.1.11:8080 -g -w 2
-a -t 10.0.0.101:8080 -r 10.0.1.12:8080 -g -w 0
-A -u 10.0.0.100:53 -s mh
-a -u 10.0.0.100:53 -r 10.0.1.11:53 -m -w 1
-a -u 10.0.0.100:53 -r 10.0.1.12:53 -m -w 1
"""


def saved(services):
    return ServiceTable(services).save()


def test_the_default_service_is_todays_one():
    assert saved(default_services(D)) == ("-A -t 10.0.0.100:80 -s mh\n"
                                          "-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 1\n"
                                          "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1\n")
    tun = describe(mode="tun", webs=1, remote_webs=1)
    assert saved(default_services(tun)).count(" -i -w 1") == 2


def test_a_rules_file_for_the_cluster_gives_its_services():
    services = load_rules(RULES, "services.rules", D)
    assert saved(services) == "".join(line + "\n" for line in RULES.splitlines()[1:])
    assert [str(s.key) for s in services] == ["-t 10.0.0.100:80", "-t 10.0.0.101:8080", "-u 10.0.0.100:53"]


def test_a_remote_real_server_is_served_by_tun():
    tun = describe(mode="tun", webs=1, remote_webs=1)
    rules = "-A -u 10.0.0.100:53 -s mh\n-a -u 10.0.0.100:53 -r 10.0.3.11 -i\n-a -u 10.0.0.100:53 -r 10.0.1.11 -m\n"
    (service,) = load_rules(rules, "r", tun)
    assert [(r.address, r.method) for r in service.real_servers] == [("10.0.1.11", "nat"), ("10.0.3.11", "tun")]


@pytest.mark.parametrize("line, words", [
    ("-A -t 10.0.5.1:80 -s mh", "-t 10.0.5.1:80: VIP 10.0.5.1 is outside the public net 10.0.0.0/24"),
    ("-A -t 10.0.1.50:80 -s mh", "VIP 10.0.1.50 is inside the server LAN 10.0.1.0/24"),
    ("-A -t 10.0.0.11:80 -s mh", "VIP 10.0.0.11 is already the address of c1"),
    ("-A -t 10.0.0.1:80 -s mh", "VIP 10.0.0.1 is already the address of r0"),
    ("-A -t 10.0.0.255:80 -s mh", "VIP 10.0.0.255 is the broadcast address of the public net"),
    ("-A -t 10.0.0.102:80 -s sed", "scheduler sed is not carried out here; use -s with one of mh (Maglev), "
                                   "sh (Maglev by client address), rr"),
    ("-A -t 10.0.0.102:80 -s mh -p 70000", "-p 70000: a client's entry is kept at most 65535 s here"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.99 -m", "10.0.1.99 is not a web host of the cluster; web hosts: "
                                            "web1 10.0.1.11, web2 10.0.1.12"),
    ("-a -t 10.0.0.100:80 -r 10.0.0.11 -m", "10.0.0.11 is not a web host of the cluster"),
    ("-A -t 10.0.0.100:80 -s mh", "the virtual service -t 10.0.0.100:80 exists already"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m", "10.0.1.11:80 is a real server of -t 10.0.0.100:80 already"),
    ("-d -t 10.0.0.100:80 -r 10.0.1.13", "10.0.1.13:80 is not a real server of -t 10.0.0.100:80"),
    ("-D -t 10.0.0.100:81", "no virtual service -t 10.0.0.100:81"),
    ("-A -t 10.0.0.102:0 -s mh", "the service's port must be from 1 to 65535, got '0'"),
    ("-A -x 10.0.0.102:80 -s mh", "-x: connection thresholds are not supported here"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 65536", "-w must be a weight from 0 to 65535"),
])
def test_what_cannot_fit_the_cluster_is_refused_naming_the_file_and_the_line(line, words):
    rules = "-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m\n" + line + "\n"
    with pytest.raises(IpvsadmError) as refused:
        load_rules(rules, "/etc/ipvsadm.rules", D)
    assert str(refused.value).startswith("/etc/ipvsadm.rules line 3: ")
    assert words in str(refused.value)


def test_a_remote_real_server_by_another_method_is_refused():
    tun = describe(mode="tun", webs=1, remote_webs=1)
    with pytest.raises(IpvsadmError) as refused:
        load_rules("-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.3.11 -g\n", "r", tun)
    assert str(refused.value) == ("r line 2: -t 10.0.0.100:80: web2 (10.0.3.11) is one L3 hop away behind r0: "
                                  "only TUN (-i) reaches it, not DR")


@pytest.mark.parametrize("rules, words", [
    ("-A -u 10.0.0.101:53 -s mh\n-a -u 10.0.0.101:53 -r 10.0.1.11:53 -m\n",
     "line 6: -u 10.0.0.101:53: 10.0.1.11:53 already answers -u 10.0.0.100:53 by NAT, and the replies of the two "
     "could not be told apart: give it another port"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.11:8080 -m\n",
     "line 5: -t 10.0.0.100:80: 10.0.1.11 serves it already on port 80: one port per web host in a service"),
])
def test_services_that_cannot_stand_beside_each_other_are_refused(rules, words):
    base = "-A -u 10.0.0.100:53 -s mh\n-a -u 10.0.0.100:53 -r 10.0.1.11:53 -m\n" \
           "-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m\n"
    with pytest.raises(IpvsadmError) as refused:
        load_rules(base + rules, "r", D)
    assert str(refused.value) == "r " + words


def test_a_cluster_with_services_routes_each_real_server_by_its_methods():
    services = load_rules(RULES, "services.rules", D)
    cluster = with_services(D, services)
    assert cluster.services == services and cluster.methods == {"nat", "dr"}
    assert cluster.vips == ["10.0.0.100", "10.0.0.101"]
    # Both serve by DR as well as NAT: their default route is r0, NAT replies go by source port.
    assert [h.gateway for h in cluster.real_servers] == ["10.0.1.1", "10.0.1.1"]
    nat_only = with_services(D, load_rules(RULES.split("-A -t 10.0.0.101")[0], "r", D))
    assert [h.gateway for h in nat_only.real_servers] == ["10.0.1.254", "10.0.1.254"]
    tunnel = "-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.11 -i\n"
    tunnelled = with_services(D, load_rules(tunnel, "r", D))
    assert tunnelled.lan_mtu == describe(mode="tun").lan_mtu > D.lan_mtu


def test_tun_is_taken_at_start_but_at_run_time_only_by_a_cluster_started_with_tunnels():
    from controller.servicebook import ServiceBook
    tunnel = "-e -t 10.0.0.100:80 -r 10.0.1.12 -i"
    with pytest.raises(IpvsadmError, match="^-t 10.0.0.100:80: 10.0.1.12 by TUN .-i.: the proxies' tunnel ports "
                                           "are made at start; start the cluster with a TUN service"):
        ServiceBook(D).ipvsadm(tunnel)
    started = with_services(D, load_rules(RULES + "-A -t 10.0.0.102:80 -s mh\n-a -t 10.0.0.102:80 -r 10.0.1.11 -i\n",
                                          "r", D))
    book = ServiceBook(started)
    book.ipvsadm(tunnel)
    assert book.service(ServiceKey("tcp", "10.0.0.100", 80)).real_servers[1].method == "tun"


def test_services_survive_the_description_as_json():
    cluster = with_services(D, load_rules(RULES, "services.rules", D))
    assert ClusterDescription.from_dict(json.loads(cluster.to_json())) == cluster


@pytest.mark.parametrize("change, words", [
    ({"protocol": "sctp"}, "a service's protocol is 'sctp'; it must be one of tcp, udp"),
    ({"port": 0}, "the port of tcp 10.0.0.100 is 0; it must be an integer from 1 to 65535"),
    ({"vip": "10.0.1.11"}, "VIP 10.0.1.11 is inside the server LAN"),
])
def test_a_damaged_service_in_a_description_is_refused_by_its_field(change, words):
    data = json.loads(D.to_json())
    data["services"][0]["key"].update(change)
    with pytest.raises(ConfigError) as refused:
        ClusterDescription.from_dict(data)
    assert words in str(refused.value)


def test_the_peer_directors_serve_only_the_default_service():
    peer = describe(director="haproxy")
    with pytest.raises(ConfigError) as refused:
        with_services(peer, load_rules(RULES, "r", peer))
    assert str(refused.value) == ("the haproxy director serves the one default service (TCP 80 on the VIP): "
                                  "services of your own need --director sdn")
