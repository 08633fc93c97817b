"""Passive health checks: a real server's RST (or an ICMP error about it), copied by its switch,
makes the controller check it at once and take it out if the check fails; RSTs provoked from a
healthy server take nobody out."""
import json
import os
import time
from datetime import datetime

import pytest

from tests.emulation.helpers import wait_for
from core.settings import HealthSettings
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module", params=["nat", "dr", "tun"])
def cluster(request):
    # Active checks once a second, so that what takes a dead server out here is the passive path.
    with Cluster(mode=request.param, clients=4, webs=2, health=HealthSettings(interval=1.0)) as running:
        yield running


def events(cluster, action):
    with open(os.path.join(cluster.log_dir, "controller-events.jsonl")) as f:
        return [e for e in map(json.loads, f) if e["event.action"] == action]


def at(timestamp):
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def backend(cluster, name):
    return next(b for b in cluster.rest("GET", "/lb/backends")["backends"] if b["name"] == name)


def test_a_killed_web_server_is_out_at_its_first_rst(cluster):
    crashed_at = time.time() + 1
    stream = cluster.app("c1", "apps.loadclient", "--url", "http://%s/" % cluster.vip, "--connections", 40,
                         "--interval", 0.1, "--timeout", 1)
    try:
        time.sleep(1)
        cluster.fail("web1", "crash")
        result = json.loads(stream.communicate(timeout=60)[0])
    finally:
        cluster.recover("web1")
    assert result["errors"] <= 1, result                       # the attempt that met the RST, at most
    down = next(e for e in events(cluster, "real-server-health")
                if e["message"].startswith("web1 is down") and at(e["@timestamp"]) > crashed_at - 0.5)
    first = next(e for e in events(cluster, "real-server-suspect")
                 if e["message"].startswith("web1:") and at(e["@timestamp"]) > crashed_at - 0.5)
    source = cluster.description.host("web1").ip if cluster.description.mode == "nat" else cluster.vip
    assert first["message"].startswith("web1: a RST from %s:80" % source)       # DR, TUN: from the VIP
    assert "then a failed check" in down["message"], down
    assert 0 <= at(down["@timestamp"]) - at(first["labels.signal.at"]) < 0.05          # out within 50 ms
    wait_for(lambda: backend(cluster, "web1")["state"] == "up", 10, "web1 did not come back")


def test_rsts_provoked_from_healthy_servers_take_nobody_out(cluster):
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
    for server in ("web1", "web2"):                # at most one extra check per 1 s interval, over ~5 s
        assert sum(e["message"].startswith(server + ":") for e in checks) <= 5 / 1.0 + 2
