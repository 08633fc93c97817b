"""Every invalid configuration is refused before anything starts, with one line that names the
flag or field, the value, and what is allowed (exit code 2 for a program's flags)."""
import copy
import json

import pytest

from controller import launcher
from topologies import run
from core.builder import describe
from core.description import ClusterDescription
from core.rules import ConfigError
from core.settings import ControllerSettings, HealthSettings, ProxyPolicy


def refusal(parse, argv, capsys):
    """The one line a parser prints when it refuses `argv` (exit code 2 asserted)."""
    with pytest.raises(SystemExit) as exit_:
        parse(argv)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("argv,message", [
    (["--mode", "foo"], "unknown forwarding mode 'foo': choose one of nat, tun, dr"),
    (["--mode", "NAT"], "unknown forwarding mode 'NAT'"),
    (["--clients", "0"], "--clients must be an integer from 1 to 64, got 0"),
    (["--clients", "65"], "--clients must be an integer from 1 to 64, got 65"),
    (["--clients", "many"], "--clients must be an integer from 1 to 64, got 'many'"),
    (["--clients", "1.5"], "--clients must be an integer from 1 to 64, got '1.5'"),
    (["--webs", "0"], "--webs must be an integer from 1 to 32, got 0"),
    (["--webs", "33"], "--webs must be an integer from 1 to 32, got 33"),
    (["--webs", "-1"], "--webs must be an integer from 1 to 32, got -1"),
    (["--mode", "tun", "--remote-webs", "17"], "--remote-webs must be an integer from 0 to 16, got 17"),
    (["--mode", "dr", "--remote-webs", "1"], "DR cannot reach remote real servers"),
    (["--remote-webs", "1"], "NAT cannot reach remote real servers"),
    (["--vip", "vip"], "VIP 'vip' is not an IPv4 address"),
    (["--vip", "10.0.0.300"], "VIP '10.0.0.300' is not an IPv4 address"),
    (["--vip", "fe80::1"], "VIP fe80::1 is an IPv6 address; the cluster is IPv4"),
    (["--vip", "10.0.1.9"], "VIP 10.0.1.9 is inside the server LAN 10.0.1.0/24"),
    (["--vip", "10.0.2.99"], "VIP 10.0.2.99 is inside the DB network 10.0.2.0/24"),
    (["--vip", "192.168.1.1"], "VIP 192.168.1.1 is outside the public net 10.0.0.0/24"),
    (["--vip", "10.0.0.0"], "VIP 10.0.0.0 is the network address of the public net 10.0.0.0/24"),
    (["--vip", "10.0.0.255"], "VIP 10.0.0.255 is the broadcast address of the public net 10.0.0.0/24"),
    (["--vip", "10.0.0.1"], "VIP 10.0.0.1 is already the address of r0"),
    (["--vip", "10.0.0.12"], "VIP 10.0.0.12 is already the address of c2"),
    (["--health-interval", "0"], "health interval must be from 0.01 to 60 seconds, got 0.0"),
    (["--health-interval", "nan"], "health interval must be from 0.01 to 60 seconds, got nan"),
    (["--health-timeout", "61"], "health timeout must be from 0.01 to 60 seconds, got 61.0"),
    (["--health-fall", "0"], "health fall must be an integer from 1 to 100, got 0"),
    (["--health-rise", "101"], "health rise must be an integer from 1 to 100, got 101"),
    (["--health-rise", "two"], "argument --health-rise: invalid int value: 'two'"),
    (["--proxies", "both"], "proxy mode must be active-standby or active-active, got 'both'"),
    (["--proxies", "active-active", "--preempt"], "preemption applies to active-standby only"),
    (["--bfd-min-rx", "5"], "proxy bfd_min_rx must be an integer from 10 to 1000, got 5"),
    (["--preempt", "--preempt-delay", "-1"], "proxy preempt_delay must be from 0 to 3600 seconds, got -1"),
    (["--bfd-min-tx", "1001"], "proxy bfd_min_tx must be an integer from 10 to 1000, got 1001"),
    (["--bfd-min-tx", "fast"], "argument --bfd-min-tx: invalid int value: 'fast'"),
    (["--rest-port", "70000"], "--rest-port must be a TCP port from 1 to 65535, got 70000"),
    (["--of-port", "0"], "--of-port must be a TCP port from 1 to 65535, got 0"),
    (["--of-port", "x"], "argument --of-port: invalid int value: 'x'"),
    (["--rest-port", "6653"], "--rest-port and --of-port are both 6653"),
    (["--no-review", "--no-block"], "--no-block has no effect with --no-review"),
    (["--run-dir", "/etc/hostname/run"],
     "run directory /etc/hostname/run cannot be created: /etc/hostname is not a directory"),
    (["--run-dir", "/proc/forbidden/run"],
     "run directory /proc/forbidden/run cannot be created: /proc is not writable"),
    (["--director", "ipvs"], "unknown director 'ipvs': choose one of sdn, haproxy"),
    (["--director", "haproxy", "--mode", "dr"], "the haproxy director is a full proxy"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["extra"], "unrecognized arguments: extra"),
])
def test_run_py_refuses_a_bad_flag_naming_it(argv, message, capsys):
    assert message in refusal(run.parse_args, argv, capsys)


def test_good_flags_are_accepted_and_nothing_is_created(tmp_path):
    args = run.parse_args(["--mode", "tun", "--remote-webs", "2", "--clients", "8", "--vip", "10.0.0.200",
                           "--run-dir", str(tmp_path / "a" / "b")])
    assert (args.clients, args.remote_webs, args.health.fall) == (8, 2, 2)
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv,message", [
    (["--mode", "dr", "--cluster", "x.json"], "--cluster and --mode both describe the cluster"),
    (["--cluster", "/nonexistent.json"], "cluster description /nonexistent.json cannot be read"),
    (["--webs", "40"], "--webs must be an integer from 1 to 32, got 40"),
    (["--of-port", "8080"], "--rest-port and --of-port are both 8080"),
    (["--proxies", "one"], "proxy mode must be active-standby or active-active, got 'one'"),
])
def test_the_controller_launcher_refuses_a_bad_flag_naming_it(argv, message, capsys):
    assert message in refusal(launcher.parse_args, argv, capsys)


@pytest.mark.parametrize("content,message", [
    ('{"health": {"fall": 0}}', "health fall must be an integer from 1 to 100, got 0"),
    ('{"health": {"fall": true}}', "health fall must be an integer from 1 to 100, got True"),
    ('{"proxy_policy": {"mode": "both"}}', "proxy mode must be active-standby or active-active, got 'both'"),
    ('{"proxy_policy": {"probe_interval": "fast"}}', "proxy probe_interval must be from 0.01 to 60 seconds"),
    ('{"health": {"every": 1}}', "health must be an object with some of: fall, interval, passive, rise, timeout"),
    ('{"healthy": {}}', "must be an object with some of: health, network, proxy_policy"),
    ('[1, 2]', "must be an object with some of: health, network, proxy_policy"),
    ('{"health": ', "not JSON: Expecting value"),
])
def test_the_launcher_refuses_bad_settings_naming_them(content, message, tmp_path, capsys):
    path = tmp_path / "settings.json"
    path.write_text(content)
    assert "settings %s: %s" % (path, message) in refusal(launcher.parse_args, ["--settings", str(path)], capsys)


def test_the_launcher_takes_settings_from_a_file_or_flags_not_both(tmp_path, capsys):
    path = tmp_path / "settings.json"
    path.write_text(ControllerSettings(HealthSettings(fall=3), ProxyPolicy(preempt=True)).to_json())
    args = launcher.parse_args(["--settings", str(path)])
    assert (args.settings.health.fall, args.settings.proxy_policy.preempt) == (3, True)
    assert launcher.parse_args(["--health-fall", "4"]).settings.health.fall == 4
    assert "--settings and --health-fall both set the controller's settings" in refusal(
        launcher.parse_args, ["--settings", str(path), "--health-fall", "4"], capsys)
    assert "settings /nonexistent.json cannot be read: No such file or directory" in refusal(
        launcher.parse_args, ["--settings", "/nonexistent.json"], capsys)


def test_the_launcher_describes_a_cluster_from_flags_alone():
    args = launcher.parse_args(["--mode", "dr", "--clients", "2", "--webs", "3"])
    assert args.description == describe(mode="dr", clients=2, webs=3)


def good():
    return json.loads(describe(mode="tun", clients=2, webs=2).to_json())


def edited(change):
    data = copy.deepcopy(good())
    change(data)
    return data


def host(data, name):
    return next(h for h in data["hosts"] if h["name"] == name)


@pytest.mark.parametrize("change,message", [
    (lambda d: d.update(mode="lvs"), "mode is 'lvs'; it must be one of nat, tun, dr"),
    (lambda d: d.update(http_port=0), "http_port is 0; it must be an integer from 1 to 65535"),
    (lambda d: d.update(http_port="80"), "http_port is '80'; it must be an integer"),
    (lambda d: d.update(lan_mtu=1500), "lan_mtu is 1500; it must be an integer from 1550 to 9000"),
    (lambda d: d.update(vip="10.0.1.11"), "VIP 10.0.1.11 is inside the server LAN 10.0.1.0/24"),
    (lambda d: d.update(vip="10.0.0.11"), "VIP 10.0.0.11 is already the address of c1"),
    (lambda d: d.update(vip_mac="01:00:5e:00:01:01"), "vip_mac is '01:00:5e:00:01:01'; it must be a unicast MAC"),
    (lambda d: d.update(nat_gateway="gateway"), "nat_gateway is 'gateway'; it must be an IPv4 address"),
    (lambda d: d.pop("vip"), "description lacks the field 'vip'"),
    (lambda d: d.update(colour="blue"), "description has an unknown field 'colour'"),
    (lambda d: d.update(hosts={}), "description.hosts must be a list"),
    (lambda d: d["switches"][0].update(dpid=0), "switches[0].dpid is 0; it must be an integer from 1"),
    (lambda d: d["switches"][1].update(dpid=1), "switch dpid 1 appears twice"),
    (lambda d: d["switches"][0].update(role="core"), "switches[0].role is 'core'"),
    (lambda d: d["switches"][0].update(name="s pub"), "switches[0].name is 's pub'"),
    (lambda d: host(d, "c1")["interfaces"][0].update(ip="10.0.0.12"), "interface address '10.0.0.12' appears twice"),
    (lambda d: host(d, "c1")["interfaces"][0].update(ip="10.0.0.255"),
     "interfaces[0].ip is '10.0.0.255'; it must be a host address of 10.0.0.0/24"),
    (lambda d: host(d, "c1")["interfaces"][0].update(prefixlen=33), "interfaces[0].prefixlen is 33"),
    (lambda d: host(d, "c1")["interfaces"][0].update(mac="02:00:0a:00:00:zz"), "interfaces[0].mac is"),
    (lambda d: host(d, "c1")["interfaces"][0].update(switch="lb1"),
     "interfaces[0].switch is 'lb1'; it must be an edge switch"),
    (lambda d: host(d, "c1")["interfaces"][0].update(port=5), "switch port ('s_pub', 5) appears twice"),
    (lambda d: host(d, "c1")["interfaces"][0].update(port=0xffffff01), "interfaces[0].port is 4294967041"),
    (lambda d: host(d, "c1")["interfaces"][0].pop("mac"), "interfaces[0] lacks the field 'mac'"),
    (lambda d: host(d, "c1").update(role="attacker"), "role is 'attacker'; it must be one of client"),
    (lambda d: host(d, "c1").update(gateway="r0"), "gateway is 'r0'; it must be an IPv4 address"),
    (lambda d: host(d, "c2").update(name="c1"), "interfaces[0].name is 'c2-eth0'; it must be c1-eth0"),
    (lambda d: d["trunks"][0].update(switch_b="s_core"), "trunks[0] is 's_core'; it must be a switch"),
    (lambda d: d["tunnels"][0].update(vni=2 ** 24), "tunnels[0].vni is 16777216"),
    (lambda d: d["tunnels"][1].update(proxy="lb3"), "tunnels[1].proxy is 'lb3'"),
    (lambda d: d.update(proxies=["lb1"]), "proxies is ['lb1']; it must be two switches with the role proxy"),
    (lambda d: d.update(hosts=[h for h in d["hosts"] if h["role"] != "web"]), "at least one host with the role web"),
])
def test_a_bad_field_of_the_description_is_named(change, message):
    with pytest.raises(ConfigError) as refused:
        ClusterDescription.from_dict(edited(change))
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_description_file_names_itself_in_its_errors(tmp_path):
    path = tmp_path / "cluster.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cluster description %s is not JSON" % path):
        ClusterDescription.load(str(path))
    path.write_text(json.dumps(edited(lambda d: d.update(mode="x"))))
    with pytest.raises(ConfigError, match="cluster description %s: mode is 'x'" % path):
        ClusterDescription.load(str(path))


@pytest.mark.parametrize("vip", ["fe80::1", "10.0.2.99", "192.168.1.1", "10.0.0.255", "10.0.0.12"])
def test_a_vip_is_refused_in_the_same_words_from_flags_and_from_json(vip):
    """One rule for the VIP: describe() and a loaded description are checked by the same code."""
    with pytest.raises(ConfigError) as from_flags:
        describe(vip=vip)
    with pytest.raises(ConfigError) as from_json:
        ClusterDescription.from_dict(edited(lambda d: d.update(vip=vip)))
    assert str(from_json.value) == str(from_flags.value)


@pytest.mark.parametrize("mode", ["nat", "tun", "dr"])
def test_every_description_describe_makes_passes_the_checks(mode):
    for clients, webs in ((1, 1), (64, 32)):
        d = describe(mode=mode, clients=clients, webs=webs, remote_webs=16 if mode == "tun" else 0)
        assert ClusterDescription.from_dict(json.loads(d.to_json(compact=True))) == d


def test_fields_with_defaults_may_be_left_out_of_the_json():
    data = good()
    del data["proxies"], data["director"]
    assert ClusterDescription.from_dict(data) == describe(mode="tun", clients=2, webs=2)
