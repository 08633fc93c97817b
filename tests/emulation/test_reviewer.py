"""The log reviewer running beside a fresh cluster (no history): it flags a brute-force login,
the controller blocks the source while the other clients are served, and batch mode over the
finished logs agrees with follow mode."""
import json
import os
import subprocess
import sys
import time

import pytest

from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def eventually(check, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met within %.0f s" % timeout
        time.sleep(0.1)


def reaches_vip(cluster, client):
    return "served_by" in cluster.host(client).cmd("curl -s -m 1 http://%s/" % cluster.vip)


def test_brute_force_is_flagged_and_blocked_and_batch_agrees():
    with Cluster(mode="nat", clients=2, webs=2, review=True) as cluster:
        attacker = cluster.description.host("c2").ip
        for _ in range(20):
            cluster.host("c2").cmd("curl -s -m 1 -d '{\"user\": \"alice\", \"password\": \"guess\"}' "
                                   "http://%s/login" % cluster.vip)
        eventually(lambda: ("brute-force-login", attacker) in
                   {(a["rule.name"], a["source.ip"]) for a in cluster.alerts()}, timeout=10)
        eventually(lambda: not reaches_vip(cluster, "c2"), timeout=5)
        assert reaches_vip(cluster, "c1")
        assert [b["reason"] for b in cluster.rest("GET", "/lb/blocks")["blocks"]] == ["brute-force-login"]
        followed = {(a["rule.name"], a["source.ip"]) for a in cluster.alerts()}
        run_dir = cluster.run_dir
    batch = subprocess.run([sys.executable, "-m", "apps.logreview", run_dir], cwd=ROOT,
                           capture_output=True, text=True, timeout=60).stdout
    assert {(a["rule.name"], a["source.ip"]) for a in map(json.loads, batch.splitlines())} == followed
