"""The peer director's configuration files (keepalived + HAProxy), checked by the daemons' own
configuration checkers where they are installed."""
import shutil
import subprocess

import pytest

from core.builder import describe
from core.rules import ConfigError
from topologies.peer import PeerSettings, haproxy_config, keepalived_config

D = describe(director="haproxy", clients=2, webs=3)


def test_the_peer_stands_in_the_proxies_place():
    assert D.proxies == () and {s.name for s in D.switches} == {"s_pub", "s_lan", "s_db"}
    lb1 = D.host("lb1")
    assert [(i.switch, i.port, i.ip) for i in lb1.interfaces] == [("s_pub", 1, "10.0.0.2"), ("s_lan", 1, "10.0.1.2")]
    assert all(w.gateway == "10.0.1.1" for w in D.real_servers)
    with pytest.raises(ConfigError, match="the haproxy director is a full proxy"):
        describe(director="haproxy", mode="dr")
    with pytest.raises(ConfigError, match="unknown director 'ipvs'"):
        describe(director="ipvs")


def test_haproxy_checks_every_real_server_like_the_controller(tmp_path):
    config = haproxy_config(D, PeerSettings(), str(tmp_path / "haproxy.sock"))
    assert "default-server inter 200ms fall 2 rise 2" in config and "option httpchk GET /health" in config
    assert "stats socket %s mode 600 level admin" % (tmp_path / "haproxy.sock") in config
    for web in D.real_servers:
        assert "server %s %s:80 check" % (web.name, web.ip) in config
    if shutil.which("haproxy"):
        (tmp_path / "haproxy.cfg").write_text(config)
        result = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("advert_int", [1.0, 0.1])
def test_keepalived_holds_the_vip_with_unicast_vrrp(tmp_path, advert_int):
    configs = {name: keepalived_config(D, name, PeerSettings(advert_int=advert_int), "/run/x.pid")
               for name in ("lb1", "lb2")}
    assert "unicast_peer {\n        10.0.0.3\n    }" in configs["lb1"] and "priority 150" in configs["lb1"]
    assert "unicast_src_ip 10.0.0.3" in configs["lb2"] and "priority 100" in configs["lb2"]
    assert "10.0.0.100/24 dev lb1-eth0" in configs["lb1"] and "advert_int %g" % advert_int in configs["lb1"]
    if shutil.which("keepalived"):
        path = tmp_path / "keepalived.conf"
        path.write_text(configs["lb1"])
        result = subprocess.run(["keepalived", "--config-test", "-f", str(path)], capture_output=True, text=True)
        # Outside the director host its interface does not exist; nothing else may be wrong.
        complaints = [line for line in (result.stdout + result.stderr).splitlines()
                      if line.strip() and "lb1-eth0" not in line and "Non-existent interface" not in line]
        assert complaints == [], complaints


def test_an_advert_interval_out_of_range_is_refused():
    with pytest.raises(ValueError, match="VRRP advert_int must be from 0.01 to 255 seconds, got 0"):
        PeerSettings(advert_int=0).validate()
