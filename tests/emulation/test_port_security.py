"""Port security at the edges: a forged source is dropped at the port it came in on and only the
forger is flagged, so nobody can get another client banned; it holds with segmentation off too."""
import pytest

from core.settings import NetworkPolicy
from tests.emulation.helpers import reaches_vip, status, wait_for
from tests.emulation.test_segmentation import http_code
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


def test_with_segmentation_off_a_client_reaches_a_real_server_directly_and_forgery_is_still_dropped():
    with Cluster(mode="dr", clients=2, webs=1, network_policy=NetworkPolicy(segmentation=False)) as cluster:
        d = cluster.description
        assert http_code(cluster, "c1", "http://%s:%d/" % (d.host("web1").ip, d.http_port)) == "200"
        assert status(cluster)["segmentation"] is False
        cluster.host("c2").cmd("hping3 -q -S -a %s -p 80 -c 5 -i u10000 %s 2>&1" % (d.host("c1").ip, d.vip))
        wait_for(lambda: status(cluster)["spoofed"] >= 5, 5, "forged SYNs not reported")


def test_a_forged_scan_bans_only_the_forger_and_the_victim_keeps_being_served():
    with Cluster(mode="nat", clients=3, webs=2, review=True) as cluster:
        d = cluster.description
        c1, c3 = d.host("c1").ip, d.host("c3").ip
        c3_port = d.host("c3").interface_on(d.public_edge).port
        cluster.host("c3").cmd("hping3 -q -S -a %s -p ++1 -c 40 -i u10000 %s 2>&1" % (c1, d.vip))
        wait_for(lambda: [a for a in cluster.alerts() if a["rule.name"] == "spoofing"], 10, "no spoofing alert")
        (alert,) = [a for a in cluster.alerts() if a["rule.name"] == "spoofing"]
        assert alert["source.ip"] == c3
        assert alert["evidence"] == {"switch": d.public_edge, "port": str(c3_port), "host": "c3", "claimed": c1}
        wait_for(lambda: [b["ip"] for b in cluster.rest("GET", "/lb/blocks")["blocks"]] == [c3], 5,
                 "the forger is not blocked")
        assert reaches_vip(cluster, "c1") and not reaches_vip(cluster, "c3")
        assert not [a for a in cluster.alerts() if a["source.ip"] == c1]
        assert status(cluster)["spoofed"] >= 40
