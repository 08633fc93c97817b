"""TUN's point: a real server in another IP subnet, one L3 hop (r0) away from the proxies."""
import pytest

from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


def test_tun_reaches_a_real_server_across_an_l3_hop():
    with Cluster(mode="tun", clients=4, webs=1, remote_webs=1) as remote:
        remote_web = remote.description.host("web2")
        assert remote_web.service_interface.switch == "s_far"
        counts, errors = remote.served_counts()
        assert errors == 0 and 0.40 <= counts["web2"] / 400 <= 0.60, counts
        # A download served from across the hop returns straight to the client, not via a proxy.
        remote.rest("PUT", "/lb/backends/web1", {"weight": 0})

        def towards_clients():
            return sum(remote.port_bytes(p, remote.description.proxy_uplink(p))[1] for p in remote.description.proxies)
        before = towards_clients()
        received = remote.host("c1").cmd("curl -s -m 60 -o /dev/null -w '%%{size_download}' "
                                         "'http://%s/download?bytes=10000000'" % remote.vip)
        assert int(received) == 10_000_000
        assert towards_clients() - before < 500_000
