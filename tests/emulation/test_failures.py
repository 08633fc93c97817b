"""cluster.fail / cluster.recover on a running cluster, and what is refused; blocks; the
connection log."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from core.paths import ROOT
from controller.pipeline import COOKIE_DENY, COOKIE_LOG, DENY_METER, KIND_MASK, LOG_METER
from tests.emulation.helpers import reaches_vip
from topologies.cluster import Cluster, ClusterError

pytestmark = pytest.mark.emulation
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
    assert not cluster.real_servers.healthy("web1")
    assert cluster.real_servers.healthy("web2")
    cluster.recover("web1")
    eventually(lambda: cluster.real_servers.healthy("web1"))
    eventually(lambda: real_server_state(cluster, "web1") == "up")


def test_web_link_down_is_seen_by_the_controller(cluster):
    cluster.fail("web2", "link")
    eventually(lambda: real_server_state(cluster, "web2") == "down", timeout=5)
    assert real_server_state(cluster, "web1") == "up"
    cluster.recover("web2")
    eventually(lambda: real_server_state(cluster, "web2") == "up", timeout=5)
    eventually(lambda: cluster.real_servers.healthy("web2"))


def test_db_crash_leaves_two_members_and_recovery_rejoins(cluster):
    cluster.fail("db2", "crash")
    eventually(lambda: sum(m["health"] for m in cluster.etcd.health()) == 2)
    cluster.recover("db2")
    eventually(lambda: sum(m["health"] for m in cluster.etcd.health()) == 3, timeout=20)


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


CONNECTION_COPIES = {COOKIE_LOG: LOG_METER, COOKIE_DENY: DENY_METER}   # the copies that become records


def copies_at_the_public_edge(cluster):
    """(copies the public edge's flows sent toward the controller, as its flow counters say; what
    its meters dropped of them; connection records the log holds for it). Only clients are cabled
    there: it is quiet between tests (the LAN edge carries the health checks)."""
    edge = cluster.description.public_edge
    with open(os.path.join(cluster.log_dir, "connections.jsonl")) as log:
        records = sum(1 for r in map(json.loads, log)
                      if r["event.action"] == "connection-attempt" and r["observer.name"] == edge)
    sent = sum(int(n) for cookie in CONNECTION_COPIES for n in re.findall(r"n_packets=(\d+).*CONTROLLER", ofctl(
        "dump-flows", edge, "cookie=%#x/%#x" % (cookie, KIND_MASK))))
    meters = ofctl("meter-stats", edge).split("meter:")[1:]
    dropped = sum(int(n) for m in meters if int(m.split()[0]) in CONNECTION_COPIES.values()
                  for n in re.findall(r"\d+: packet_count:(\d+)", m))
    return sent, dropped, records


def ofctl(*args):
    return subprocess.run(["ovs-ofctl", "-O", "OpenFlow13"] + list(args), capture_output=True, text=True).stdout


def controller_copies(cluster, edge):
    """(made, dropped, received, lost) of an edge's connection copies, as the controller accounts
    them."""
    entries = [e for e in cluster.rest("GET", "/lb/status")["copies"]
               if e["switch"] == edge and e["meter"] in CONNECTION_COPIES.values()]
    return tuple(sum(e[k] for e in entries) for k in ("made", "dropped", "received", "lost"))


def test_every_copy_of_a_flood_is_logged_or_dropped_by_the_meter_and_counted(cluster):
    """A flood of new connections (SYNs at up to 10,000/s, far above the log meter's 500/s) and
    real ones beside it: at the public edge, what its copy flows sent = records logged + meter
    drops; the controller's own account (from the meters' counts) agrees, and at every edge it
    finds none lost."""
    before = quiet(cluster)
    flood = cluster.host("c2").popen(["hping3", "-q", "-S", "-p", "80", "-c", "20000", "-i", "u100", cluster.vip],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cluster.host("c1").cmd("for i in $(seq 200); do curl -s -o /dev/null -m 1 http://%s/; done" % cluster.vip)
    flood.wait(timeout=60)
    after = quiet(cluster)
    (sent, dropped, logged), (made, metered, received, lost) = (
        [a - b for a, b in zip(after[i], before[i])] for i in range(2))
    assert sent >= 20000 and sent == dropped + logged, (sent, dropped, logged)
    assert (made, metered, received, lost) == (sent, dropped, logged, 0)
    assert cluster.rest("GET", "/lb/status")["copies_lost"] == 0


def quiet(cluster, timeout=20):
    """The public edge's copies and the controller's account of them, once neither has moved for
    two counter polls (the flow counters and the account lag the packets by up to a second)."""
    edge, deadline, last = cluster.description.public_edge, time.monotonic() + timeout, None
    while True:
        now = (copies_at_the_public_edge(cluster), controller_copies(cluster, edge))
        if now == last:
            return now
        assert time.monotonic() < deadline, "the copies did not settle within %d s" % timeout
        last = now
        time.sleep(2.5)
