"""cluster.fail / cluster.recover on a running cluster, and what is refused; blocks; the
connection log."""
import json
import os
import subprocess
import sys
import time

import pytest

from tests.emulation.helpers import reaches_vip
from topologies.cluster import Cluster, ClusterError

pytestmark = pytest.mark.emulation
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "topologies", "run.py")


@pytest.fixture(scope="module")
def cluster():
    with Cluster(mode="dr", clients=2, webs=2) as running:
        yield running


def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met within %.0f s" % timeout
        time.sleep(0.1)


def real_server_state(cluster, name):
    return next(b["state"] for b in cluster.rest("GET", "/lb/status")["backends"] if b["name"] == name)


def test_web_crash_and_recover(cluster):
    cluster.fail("web1", "crash")
    assert not cluster.web_healthy("web1")
    assert cluster.web_healthy("web2")
    cluster.recover("web1")
    eventually(lambda: cluster.web_healthy("web1"))
    eventually(lambda: real_server_state(cluster, "web1") == "up")


def test_web_link_down_is_seen_by_the_controller(cluster):
    cluster.fail("web2", "link")
    eventually(lambda: real_server_state(cluster, "web2") == "down", timeout=5)
    assert real_server_state(cluster, "web1") == "up"
    cluster.recover("web2")
    eventually(lambda: real_server_state(cluster, "web2") == "up", timeout=5)
    eventually(lambda: cluster.web_healthy("web2"))


def test_db_crash_leaves_two_members_and_recovery_rejoins(cluster):
    cluster.fail("db2", "crash")
    eventually(lambda: sum(m["health"] for m in cluster.etcd_health()) == 2)
    cluster.recover("db2")
    eventually(lambda: sum(m["health"] for m in cluster.etcd_health()) == 3, timeout=20)


@pytest.mark.parametrize("action,args,message", [
    ("fail", ("web9", "crash"), "no node named 'web9'"),
    ("fail", ("web1", "explode"), "cannot fail web1 (web) by 'explode'; kinds for it: crash, link"),
    ("fail", ("s_pub", "crash"), "cannot fail s_pub (switch) by 'crash'; kinds for it: none"),
    ("recover", ("web1",), "web1 has not failed"),
])
def test_impossible_failures_are_refused(cluster, action, args, message):
    with pytest.raises(ClusterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        getattr(cluster, action)(*args)


def test_a_second_run_is_refused_while_one_is_active(cluster):
    result = subprocess.run([sys.executable, RUN, "--no-cli"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "another cluster run is active (pid %d, run directory %s)" % (os.getpid(), cluster.run_dir) in result.stderr
    assert "Traceback" not in result.stderr
    assert cluster.rest("GET", "/lb/status")["active_proxy"] == "lb1"


def test_a_blocked_source_is_dropped_at_the_edge_until_unblocked_or_its_ban_ends(cluster):
    c2 = cluster.description.host("c2").ip
    cluster.rest("POST", "/lb/blocks", {"ip": c2, "seconds": 600, "reason": "test"})
    eventually(lambda: not reaches_vip(cluster, "c2"), timeout=3)
    assert reaches_vip(cluster, "c1")
    cluster.rest("DELETE", "/lb/blocks/" + c2)
    eventually(lambda: reaches_vip(cluster, "c2"), timeout=3)
    cluster.rest("POST", "/lb/blocks", {"ip": c2, "seconds": 2})
    eventually(lambda: not reaches_vip(cluster, "c2"), timeout=3)
    eventually(lambda: reaches_vip(cluster, "c2"), timeout=6)
    assert cluster.rest("GET", "/lb/blocks")["blocks"] == []


def logged_attempts(cluster, source):
    with open(os.path.join(cluster.log_dir, "connections.jsonl")) as log:
        return [r for r in map(json.loads, log) if r["source.ip"] == source]


def test_every_connection_attempt_is_logged_at_the_edge(cluster):
    c1 = cluster.description.host("c1").ip
    db1 = cluster.description.host("db1").ip
    cluster.host("c1").cmd("curl -s -m 1 http://%s/ >/dev/null; curl -s -m 1 http://%s:8443/; ping -c1 -W1 %s"
                           % (cluster.vip, cluster.vip, db1))
    wanted = {("tcp", cluster.vip, 80), ("tcp", cluster.vip, 8443), ("icmp", db1, None)}
    eventually(lambda: wanted <= {(r["network.transport"], r["destination.ip"], r.get("destination.port"))
                                  for r in logged_attempts(cluster, c1) if r["observer.name"] == "s_pub"})


def test_a_syn_flood_is_metered_and_forwarding_does_not_wait(cluster):
    before = cluster.rest("GET", "/lb/status")["log_copies_dropped"]
    flood = cluster.host("c2").popen(["hping3", "-q", "-S", "-p", "80", "-c", "6000", "-i", "u100", cluster.vip],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while flood.poll() is None and time.monotonic() - started < 20:
        asked = time.monotonic()
        cluster.rest("GET", "/lb/status")
        assert time.monotonic() - asked < 1.0                     # the controller keeps answering
        assert reaches_vip(cluster, "c1")                         # and others are served
    flood.wait(timeout=20)
    eventually(lambda: cluster.rest("GET", "/lb/status")["log_copies_dropped"] > before, timeout=5)
