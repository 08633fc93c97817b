"""keepalived.conf read as a cluster: Debian's samples each built or refused in one line naming
the file, the line and the keyword; bad files refused the same way; the address plan and the
checks' timers that follow from a file."""
import os
import subprocess
import sys

import pytest

from core.builder import AddressPlan, describe, describe_keepalived
from core.ipvsadm import RealServerEntry, ServiceKey
from core.keepalived import KeepalivedError, health_settings, notes, read_keepalived
from core.paths import ROOT

SAMPLES = "/usr/share/doc/keepalived/samples"   # Debian's keepalived package
RUN = os.path.join(ROOT, "topologies", "run.py")

# Every sample Debian ships: what it serves here, or the start of its one-line refusal.
SERVED = {
    "keepalived.conf.UDP_CHECK": ("-u 10.10.10.2:1358", "rr", "nat", ["192.168.200.6"]),
    "keepalived.conf.vrrp.lvs_syncd": ("-t 192.168.200.19:80", "rr", "nat", ["192.168.201.100"]),
}
REFUSED = {
    "keepalived.conf.HTTP_GET.port": "line 22: SSL_GET: HTTPS checks",
    "keepalived.conf.IPv6": "line 7: virtual_server_group: virtual server groups",
    "keepalived.conf.PING_CHECK": "line 23: PING_CHECK: ICMP checks",
    "keepalived.conf.SMTP_CHECK": "line 39: SMTP_CHECK: SMTP checks",
    "keepalived.conf.SSL_GET": "line 39: SSL_GET: HTTPS checks",
    "keepalived.conf.conditional_conf": "line 3: @high: conditional lines",
    "keepalived.conf.fwmark": "line 7: virtual_server: firewall-mark services",
    "keepalived.conf.inhibit": "line 26: digest: a digest check",
    "keepalived.conf.misc_check": "line 23: MISC_CHECK: check scripts",
    "keepalived.conf.misc_check_arg": "line 22: MISC_CHECK: check scripts",
    "keepalived.conf.quorum": "line 33: quorum_up: quorum scripts",
    "keepalived.conf.sample": "line 40: digest: a digest check",
    "keepalived.conf.status_code": "line 23: SSL_GET: HTTPS checks",
    "keepalived.conf.track_interface": "line 7: static_routes: the director's own routes",
    "keepalived.conf.virtual_server_group": "line 13: virtual_server_group: virtual server groups",
    "keepalived.conf.virtualhost": "line 24: SSL_GET: HTTPS checks",
    "keepalived.conf.vrrp": ": no virtual_server",
    "keepalived.conf.vrrp.localcheck": "line 11: vrrp_script: check scripts",
    "keepalived.conf.vrrp.routes": "line 7: static_routes",
    "keepalived.conf.vrrp.rules": "line 9: static_rules",
    "keepalived.conf.vrrp.scripts": "line 32: notify_backup: notify scripts",
    "keepalived.conf.vrrp.static_ipaddress": "line 7: static_ipaddress",
    "keepalived.conf.vrrp.sync": ": no virtual_server",
}
samples = pytest.mark.skipif(not os.path.isdir(SAMPLES), reason="Debian's keepalived samples are not installed")


def _sample(name):
    with open(os.path.join(SAMPLES, name)) as f:
        return read_keepalived(f.read(), name)


@samples
def test_every_sample_is_listed_here():
    assert sorted(n for n in os.listdir(SAMPLES) if n.startswith("keepalived.conf.")) == sorted({**SERVED, **REFUSED})


@samples
@pytest.mark.parametrize("name", sorted(SERVED))
def test_a_sample_that_can_be_built_is(name):
    key, scheduler, method, addresses = SERVED[name]
    config = _sample(name)
    description = describe_keepalived(config)
    (service,) = description.services
    assert (str(service.key), service.scheduler, service.persistence) == (key, scheduler, 50)
    assert [e.address for e in service.real_servers] == addresses == [w.ip for w in description.real_servers]
    assert {e.method for e in service.real_servers} == {method}
    assert description.vip == service.key.vip


@samples
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_sample_that_cannot_be_built_is_refused_in_one_line(name):
    with pytest.raises(KeepalivedError) as refused:
        describe_keepalived(_sample(name))
    message = str(refused.value)
    assert message.startswith(name) and REFUSED[name] in message and "\n" not in message, message


@samples
def test_a_lan_side_vrrp_address_becomes_the_nat_gateway_and_the_rest_are_listed():
    config = _sample("keepalived.conf.vrrp.lvs_syncd")
    description = describe_keepalived(config)
    assert description.nat_gateway == "192.168.201.19"
    assert description.host("web1").gateway == "192.168.201.19"      # NAT replies go back through it
    said = notes(config, description.vips + [description.nat_gateway])
    assert said[0].startswith("keepalived.conf.vrrp.lvs_syncd: ignored") and "vrrp_sync_group (line 3)" in said[0]
    assert "not carried: 192.168.200.16" in said[1] and "192.168.201.19" not in said[1]


SHOP = os.path.join(ROOT, "tests", "data", "shop-keepalived.conf")   # the emulation test starts it too


def _shop():
    with open(SHOP) as f:
        return read_keepalived(f.read(), "shop.conf")


def test_a_file_of_two_services_becomes_the_cluster_it_describes():
    config = _shop()
    description = describe_keepalived(config, clients=2)
    web, dns = description.services
    assert (web.key, web.scheduler, web.persistence, web.netmask) == (
        ServiceKey("tcp", "172.16.5.10", 80), "wlc", 600, "255.255.255.0")
    assert web.real_servers == (RealServerEntry("172.16.6.1", 80, "dr", 3), RealServerEntry("172.16.6.2", 80, "dr", 1))
    assert web.sorry_server == RealServerEntry("172.16.6.30", 80, "dr", 1)
    assert (dns.key, dns.scheduler, dns.real_servers) == (
        ServiceKey("udp", "172.16.5.10", 53), "sh", (RealServerEntry("172.16.6.2", 53, "nat", 1),))
    assert [w.ip for w in description.real_servers] == ["172.16.6.1", "172.16.6.2", "172.16.6.30"]
    assert description.router.interfaces[0].ip == "172.16.5.1" and description.nat_gateway == "172.16.6.254"
    assert [c.ip for c in description.hosts_with_role("client")] == ["172.16.5.11", "172.16.5.12"]
    checker = config.checkers[(web.key, "172.16.6.1")]
    assert (checker.kind, checker.path, checker.status_codes) == ("HTTP_GET", "/health", ((200, 299), (301, 301)))
    assert web.inhibit_on_failure == ("172.16.6.1", "172.16.6.2") and dns.inhibit_on_failure == ()


def test_the_checks_run_as_quickly_as_the_quickest_checker():
    settings = health_settings(_shop())
    # HTTP_GET: retries every 0.5 s, 1 s to connect, down after 1 + 2 bad checks; one good one restores
    assert (settings.interval, settings.timeout, settings.fall, settings.rise) == (0.5, 1.0, 2, 1)


def test_keepalived_defaults_when_a_checker_sets_no_timers():
    text = "virtual_server 172.16.5.10 80 {\n lb_algo rr\n real_server 172.16.6.1 80 {\n TCP_CHECK {\n }\n }\n}\n"
    settings = health_settings(read_keepalived(text, "k.conf"))
    assert (settings.interval, settings.timeout, settings.fall) == (1.0, 5.0, 2)   # keepalived.conf(5)


SERVICE = "virtual_server 172.16.5.10 80 {\n    lb_algo rr\n%s    real_server 172.16.6.1 80 {\n%s    }\n}\n"


@pytest.mark.parametrize("text, message", [
    (SERVICE % ("", "") + "}\n", "k.conf line 6: } closes no block"),
    (SERVICE % ("", "") + "virtual_server 172.16.5.10 81 {\n lb_algo rr\n",
     "k.conf line 6: the block opened here is never closed"),
    (SERVICE % ("    lb_algoo rr\n", ""),
     "k.conf line 3: lb_algoo: unknown keyword in virtual_server; known here: connect_timeout, delay_before_retry"),
    ("virtual_server 172.16.5.10 80 {\n    lb_algo rr\n}\n",
     "k.conf line 1: virtual_server: 172.16.5.10 80 has no real_server"),
    (SERVICE % ("", "") * 2, "k.conf line 6: virtual_server: -t 172.16.5.10:80 is defined already at line 1"),
    (SERVICE % ("", "") + SERVICE.replace("172.16.6.1", "172.16.7.1").replace(" 80 {\n    lb", " 81 {\n    lb")
     % ("", ""), "k.conf line 6: virtual_server -t 172.16.5.10:81: real server 172.16.7.1 is outside 172.16.6.0/24"),
    (SERVICE.replace("172.16.6.1", "172.16.5.20") % ("", ""), "real server 172.16.5.20 is on the VIPs' net"),
    (SERVICE % ("", "        weight 70000\n"), "k.conf line 4: weight: must be an integer from 0 to 65535, got 70000"),
    (SERVICE % ("    lb_kind FULLNAT\n", ""), "k.conf line 3: lb_kind: FULLNAT is not one of NAT, DR, TUN"),
    (SERVICE % ("    lb_algo lblc\n", ""),
     "k.conf line 1: virtual_server: -t 172.16.5.10:80: scheduler lblc is not carried out here"),
    (SERVICE.replace("172.16.5.10 80", "ae00::1 80") % ("", ""), "k.conf line 1: virtual_server: ae00::1 is an IPv6"),
    (SERVICE % ("", "        HTTP_GET {\n            connect_port 8080\n        }\n"),
     "k.conf line 5: connect_port: checks go to the real server's own port 80 here, not 8080"),
    (SERVICE % ("", "        notify_up /bin/true\n"), "k.conf line 4: notify_up: notify scripts cannot be done here"),
    (SERVICE % ("", "        HTTP_GET {\n        }\n        TCP_CHECK {\n        }\n"),
     "k.conf line 6: TCP_CHECK: a second checker for 172.16.6.1"),
    ("include /etc/keepalived/more.conf\n", "k.conf line 1: include: included files cannot be done here"),
])
def test_a_bad_file_is_refused_naming_the_line_and_the_keyword(text, message):
    with pytest.raises(KeepalivedError) as refused:
        describe_keepalived(read_keepalived(text, "k.conf"))
    assert message in str(refused.value)


def test_the_cluster_s_own_hosts_step_aside_for_the_file_s_addresses():
    text = SERVICE.replace("172.16.5.10", "172.16.5.1") % ("", "")
    description = describe_keepalived(read_keepalived(text, "k.conf"))
    router = [i.ip for i in description.router.interfaces]
    assert "172.16.5.1" not in router and "172.16.6.1" not in router   # the VIP's and the real server's
    assert description.vip == "172.16.5.1"


def test_the_default_plan_is_this_project_s_own_addresses():
    assert describe().to_json() == describe(plan=AddressPlan()).to_json()
    d = describe()
    assert ([i.ip for i in d.router.interfaces], d.nat_gateway, d.host("web1").ip, d.host("c1").ip) == (
        ["10.0.0.1", "10.0.1.1"], "10.0.1.254", "10.0.1.11", "10.0.0.11")


@pytest.mark.parametrize("flags, message", [
    (["--keepalived", "/nonexistent.conf"], "/nonexistent.conf cannot be read: No such file or directory"),
    (["--keepalived", os.path.join(ROOT, "README.md"), "--webs", "3"], "describes the cluster: leave out --webs"),
])
def test_run_py_refuses_a_bad_keepalived_flag_in_one_line(flags, message):
    result = subprocess.run([sys.executable, RUN] + flags, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
