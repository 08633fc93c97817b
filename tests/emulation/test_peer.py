"""The peer the benchmark compares against, keepalived + HAProxy on two hosts in the proxies'
place: it serves the VIP from every client over every real server, and its backup takes the VIP
when the master fails, on this project's switches and on plain learning switches."""
import subprocess

import pytest

from tests.emulation.helpers import wait_for
from topologies.cluster import Cluster
from topologies.peer import PeerSettings

pytestmark = pytest.mark.emulation


def vip_holder(cluster):
    return [name for name in cluster.directors if cluster.vip + "/" in cluster.host(name).cmd("ip -4 -o addr")]


# The cut is tried on plain learning switches (no controller: the benchmark's peer-plain), the
# others on this project's switches.
@pytest.mark.parametrize("kind, plain", [("crash", False), ("link", True), ("hang", False)])
def test_keepalived_moves_the_vip_and_haproxy_keeps_serving(kind, plain):
    with Cluster(director="haproxy", clients=4, webs=2, peer=PeerSettings(advert_int=0.1),
                 plain_switches=plain) as cluster:
        if plain:
            assert "NORMAL" in subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "s_pub"],
                                              capture_output=True, text=True).stdout
        else:
            assert cluster.rest("GET", "/lb/status")["director"] == "haproxy"
        counts, errors = cluster.served_counts(per_client=25)
        assert errors == 0 and set(counts) == {"web1", "web2"}, counts
        master = vip_holder(cluster)
        assert len(master) == 1, master
        backup = next(name for name in cluster.directors if name not in master)
        cluster.fail(master[0], kind)
        wait_for(lambda: backup in vip_holder(cluster), 10, "%s did not take the VIP" % backup)
        counts, errors = cluster.served_counts(per_client=25)
        assert set(counts) == {"web1", "web2"}, counts
        cluster.recover(master[0])
