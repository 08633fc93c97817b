"""The log reviewer running beside a fresh cluster (no history): it flags a brute-force login,
the controller blocks the source while the other clients are served, and batch mode over the
finished logs agrees with follow mode."""
import json
import subprocess
import sys
import time

import pytest

from core.paths import ROOT
from tests.emulation.helpers import reaches_vip
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


def eventually(check, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met within %.0f s" % timeout
        time.sleep(0.1)


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


def rules_for(cluster, source):
    return {a["rule.name"] for a in cluster.alerts() if a["source.ip"] == source}


def test_a_port_scan_and_a_syn_flood_are_flagged_while_others_are_served():
    with Cluster(mode="dr", clients=3, webs=2, review=True) as cluster:
        scanner, flooder = (cluster.description.host(c).ip for c in ("c1", "c3"))
        rip = cluster.description.host("web1").ip
        started = time.monotonic()
        cluster.host("c1").cmd("nmap -sS -Pn -n -p 1-200 --max-retries 0 --host-timeout 15s %s %s"
                               % (cluster.vip, rip))
        eventually(lambda: rules_for(cluster, scanner) & {"port-scan", "forbidden-service"}, timeout=10)
        assert time.monotonic() - started < 30
        eventually(lambda: not reaches_vip(cluster, "c1"), timeout=5)

        flood = cluster.host("c3").popen(["hping3", "-q", "-S", "-p", "80", "-c", "4000", "-i", "u200",
                                          cluster.vip], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        served = asked = 0
        while flood.poll() is None and asked < 200:
            before = time.monotonic()
            cluster.rest("GET", "/lb/status")
            assert time.monotonic() - before < 1.0
            asked += 1
            served += reaches_vip(cluster, "c2")
        flood.wait(timeout=30)
        assert served >= 0.99 * asked
        eventually(lambda: "syn-flood" in rules_for(cluster, flooder), timeout=10)
        assert not rules_for(cluster, cluster.description.host("c2").ip)


def test_a_minute_of_ordinary_conversations_with_a_web_host_crash_raises_no_alert():
    with Cluster(mode="nat", clients=4, webs=2, review=True) as cluster:
        clients = [cluster.app(c, "apps.conversation_client", "--url", "http://%s" % cluster.vip, "--turns", 120,
                               "--pause", 0.5, "--prefix", c) for c in ("c1", "c2", "c3", "c4")]
        time.sleep(25)
        cluster.fail("web1", "crash")
        time.sleep(5)
        cluster.recover("web1")
        for client in clients:
            client.communicate(timeout=120)
            assert client.returncode == 0
        time.sleep(2 * 0.5 + 1)            # the reviewer's last polls
        assert cluster.alerts() == []
        assert cluster.rest("GET", "/lb/blocks")["blocks"] == []
        run_dir = cluster.run_dir
    # Batch mode reads every line of the finished logs: no alert however late follow mode is.
    batch = subprocess.run([sys.executable, "-m", "apps.logreview", run_dir], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert batch.returncode == 0 and batch.stdout == "", batch.stdout + batch.stderr
