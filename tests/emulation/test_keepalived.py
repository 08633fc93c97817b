"""A keepalived.conf brought up as an emulated copy: its networks, its real servers at their
addresses, its virtual servers served with their schedulers, persistence granularity and
checkers' timers."""
import pytest

from core.keepalived import read_keepalived
from tests.emulation.helpers import http_served
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation

CONF = """\
global_defs {
   router_id shop
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        172.16.5.10
        172.16.6.254
    }
}
virtual_server 172.16.5.10 80 {
    delay_loop 2
    lb_algo wlc
    lb_kind DR
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    protocol TCP
    real_server 172.16.6.1 80 {
        weight 1
        HTTP_GET {
            url {
              path /health
            }
            connect_timeout 1
            retry 1
            delay_before_retry 0.5
        }
    }
    real_server 172.16.6.2 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
virtual_server 172.16.5.10 53 {
    lb_algo sh
    lb_kind NAT
    protocol UDP
    real_server 172.16.6.2 53 {
        DNS_CHECK {
            connect_timeout 1
        }
    }
}
"""


@pytest.fixture(scope="module")
def cluster():
    with Cluster(keepalived=read_keepalived(CONF, "shop.conf"), clients=2) as running:
        yield running


def test_the_file_s_addresses_and_timers_are_the_cluster_s(cluster):
    d = cluster.description
    assert [(w.name, w.ip) for w in d.real_servers] == [("web1", "172.16.6.1"), ("web2", "172.16.6.2")]
    assert d.vip == "172.16.5.10" and d.nat_gateway == "172.16.6.254"
    assert (cluster.health.interval, cluster.health.timeout, cluster.health.fall, cluster.health.rise) == (
        0.5, 1.0, 2, 1)
    listing = cluster.ipvsadm("-Ln")
    assert "TCP  172.16.5.10:80 wlc" in listing and "persistent 600 mask 255.255.255.0" in listing
    assert "UDP  172.16.5.10:53 sh" in listing


def test_persistence_granularity_keeps_a_whole_net_of_clients_on_one_real_server(cluster):
    reached = {}
    for client in ("c1", "c2"):
        counts, errors = http_served(cluster, client, "http://172.16.5.10/", connections=10)
        assert errors == 0 and len(counts) == 1, counts
        reached[client] = next(iter(counts))
    assert reached["c1"] == reached["c2"], reached    # both in 172.16.5.0/24: one entry


def test_the_dns_virtual_server_answers_from_its_real_server(cluster):
    out = cluster.host("c1").cmd("dig @172.16.5.10 whoami.lvsdn +short +time=2 +tries=2").strip()
    assert out == "172.16.6.2", out
