"""RSTs provoked from healthy real servers (bare ACKs to the VIP's port from a client) take nobody
out, with the default health settings as a user runs them (an extra check at most every 0.2 s):
one check that fails on a loaded machine is confirmed before anything is done. Three floods on
one cluster per mode (issue 23: a healthy server was taken out in some runs only)."""
import json
from datetime import datetime

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
    for server in ("web1", "web2"):                # at most one extra check per interval
        starts = check_starts([e for e in checks if e["message"].startswith(server + ":")])
        # The checks' schedule is spaced by the interval; a check's start may lag its slot (the
        # controller's timers fire late, never early), by less than an interval here.
        assert len(starts) <= (starts[-1] - starts[0]) / interval + 2, (server, starts)


def check_starts(checks):
    """When each extra check began (its event is logged when it ends), in seconds."""
    return sorted(datetime.fromisoformat(e["@timestamp"].replace("Z", "+00:00")).timestamp()
                  - e["labels.check.ms"] / 1000 for e in checks)
