"""RSTs provoked from healthy real servers (bare ACKs to the VIP's port from a client) take nobody
out, with the default health settings as a user runs them (an extra check at most every 0.2 s):
one check that fails on a loaded machine is confirmed before anything is done. Three floods on
one cluster per mode (issue 23: a healthy server was taken out in some runs only)."""
import json

import pytest

from tests.emulation.test_passive_checks import TURNS, events
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module", params=["nat", "dr", "tun"])
def cluster(request):
    with Cluster(mode=request.param, clients=4, webs=2) as running:
        yield running


@pytest.mark.parametrize("turn", TURNS)
def test_rsts_provoked_from_healthy_servers_take_nobody_out(cluster, turn):
    before = len(events(cluster, "real-server-suspect"))
    flood = cluster.host("c3").popen(["hping3", "-q", "-A", "-p", "80", "-i", "u10000", "-c", "500", cluster.vip])
    stream = cluster.app("c1", "apps.loadclient", "--url", "http://%s/" % cluster.vip, "--connections", 100,
                         "--interval", 0.05, "--timeout", 1)
    result = json.loads(stream.communicate(timeout=60)[0])
    assert flood.wait(timeout=30) == 0
    assert result["errors"] == 0 and set(result["served_by"]) == {"web1", "web2"}, result
    assert all(b["state"] == "up" and b["slots"] > 0 for b in cluster.rest("GET", "/lb/backends")["backends"])
    checks = events(cluster, "real-server-suspect")[before:]
    assert checks and all(e["labels.result"] == "ok" for e in checks)
    interval = cluster.health.interval
    for server in ("web1", "web2"):                # at most one extra check per interval, over ~5 s
        assert sum(e["message"].startswith(server + ":") for e in checks) <= 5 / interval + 2
