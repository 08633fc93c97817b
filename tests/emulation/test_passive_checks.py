"""Passive health checks: a real server's RST (or an ICMP error about it), copied by its switch,
makes the controller check it at once and take it out if the checks fail (`fall` of them, made
back to back); each crash costs a client at most one attempt that meets the RST (and the attempt
in flight at the crash, which no balancer can save). Three crashes on
one cluster per mode (issue 23: a second failed attempt came in some runs only). RSTs provoked
from healthy servers: test_passive_flood.py."""
import json
import os
import time
from datetime import datetime

import pytest

from core.settings import HealthSettings
from tests.emulation.helpers import wait_for
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


TURNS = range(3)


@pytest.fixture(scope="module", params=["nat", "dr", "tun"])
def cluster(request):
    # Active checks once a second, so that what takes a dead server out here is the passive path
    # (at 0.2 s, two regular checks can come before the first client request meets the corpse).
    with Cluster(mode=request.param, clients=4, webs=2, health=HealthSettings(interval=1.0)) as running:
        yield running


def events(cluster, action):
    """The controller's events of one kind so far."""
    with open(os.path.join(cluster.log_dir, "controller-events.jsonl")) as f:
        return [e for e in map(json.loads, f) if e["event.action"] == action]


def at(timestamp):
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def backend(cluster, name):
    return next(b for b in cluster.rest("GET", "/lb/backends")["backends"] if b["name"] == name)


def failed_attempts(result, since):
    """Each failed request's start, in seconds from Unix time `since`, and what it met."""
    return ["%+.3f %s" % (asked - since, what) for asked, what in result["failures"]]


def signals(cluster, since):
    """The controller's passive-check events from Unix time `since`, as text with their offsets."""
    return ["%+.3f %s" % (at(e["@timestamp"]) - since, e["message"])
            for action in ("real-server-suspect", "real-server-health") for e in events(cluster, action)
            if at(e["@timestamp"]) > since - 0.5]


@pytest.mark.parametrize("turn", TURNS)
def test_a_killed_web_server_is_out_at_its_first_rst(cluster, turn):
    # each turn starts from a healthy web1, whatever the turn before it did
    wait_for(lambda: backend(cluster, "web1")["state"] == "up", 10, "web1 is not up before the crash")
    stream = cluster.app("c1", "apps.loadclient", "--url", "http://%s/" % cluster.vip, "--connections", 40,
                         "--interval", 0.1, "--timeout", 1, "--timeline")
    try:
        time.sleep(1)
        crashed_at = time.time()
        cluster.fail("web1", "crash")
        killed_at = time.time()
        result = json.loads(stream.communicate(timeout=60)[0])
    finally:
        cluster.recover("web1")
    # A request in flight at the kill fails; if it met a RST (the kernel's, for a connection not
    # yet answered), that was the signal, and no later attempt may fail; if the server closed it
    # without an answer, the next attempt that meets the RST may.
    in_flight = [what for asked, what in result["failures"] if asked < killed_at]
    later = [what for asked, what in result["failures"] if asked >= killed_at]
    why = (failed_attempts(result, crashed_at), "killed %+.3f" % (killed_at - crashed_at), signals(cluster, crashed_at))
    assert len(in_flight) <= 1 and later in ([], ["reset"]), why
    assert not (in_flight == ["reset"] and later), why
    down = next(e for e in events(cluster, "real-server-health")
                if e["message"].startswith("web1 is down") and at(e["@timestamp"]) > crashed_at - 0.5)
    first = next(e for e in events(cluster, "real-server-suspect")
                 if e["message"].startswith("web1:") and at(e["@timestamp"]) > crashed_at - 0.5)
    source = cluster.description.host("web1").ip if cluster.description.mode == "nat" else cluster.vip
    assert first["message"].startswith("web1: a RST from %s:80" % source)       # DR, TUN: from the VIP
    assert "then 2 failed checks" in down["message"], down
    assert 0 <= at(down["@timestamp"]) - at(first["labels.signal.at"]) < 0.05          # out within 50 ms
