"""The cluster comes up as described and goes away without a trace, twice in a row."""
import os
import subprocess
import sys
import time

import pytest

from topologies.cluster import Cluster, ClusterError
from topologies.runstate import process_alive
from topologies.selfcheck import check_addresses

pytestmark = pytest.mark.emulation
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "topologies", "run.py")


def bridges():
    return subprocess.run(["ovs-vsctl", "list-br"], capture_output=True, text=True, check=True).stdout.split()


def processes_mentioning(text):
    return subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout.split()


def test_up_and_down_twice_leaves_nothing_behind():
    for _ in range(2):
        with Cluster(mode="nat", clients=4, webs=2) as cluster:
            assert set(cluster.description.node_names) <= {node.name for node in cluster.net.values()}
            ok, detail = check_addresses(cluster)
            assert ok, detail
            health = cluster.etcd_health()
            assert len(health) == 3 and all(m["health"] for m in health), health
            status = cluster.rest("GET", "/lb/status")
            assert status["mode"] == "nat" and status["vip"] == cluster.vip
            assert status["active_proxy"] == "lb1"
            assert [b["name"] for b in status["backends"]] == ["web1", "web2"]
            assert all(b["state"] == "up" for b in status["backends"])
            pids = [cluster.controller.pid] + [p.pid for p in cluster.processes.values()]
            run_dir = cluster.run_dir
        assert bridges() == []
        assert not [pid for pid in pids if process_alive(pid)]
        assert processes_mentioning(run_dir) == []
        assert not os.path.exists(os.path.join(run_dir, "etcd"))             # the logs stay, not the data
        assert os.path.exists(os.path.join(run_dir, "logs", "connections.jsonl"))


def test_run_py_self_check_passes_within_a_minute():
    started = time.monotonic()
    result = subprocess.run([sys.executable, RUN, "--no-cli"], capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-check: 8 passed, 0 failed" in result.stdout
    assert elapsed < 60, "took %.1f s" % elapsed
    assert bridges() == []


def test_a_taken_port_is_named():
    with __import__("socket").socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ClusterError, match="port %d on 127.0.0.1 is taken by pid %d" % (port, os.getpid())):
            Cluster(rest_port=port).__enter__()
    assert bridges() == []


def test_a_crashed_run_is_cleaned_up_by_the_next():
    crashed = subprocess.Popen([sys.executable, RUN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    for line in crashed.stdout:
        if "web servers" in line:
            break
    crashed.kill()
    crashed.wait()
    assert "s_pub" in bridges()
    time.sleep(1)        # the controller and the log reviewer die with the harness (PDEATHSIG)
    assert processes_mentioning("controller.launcher") == [] and processes_mentioning("apps.logreview") == []
    messages = []
    with Cluster(progress=messages.append) as cluster:
        assert "cleaned leftovers of a crashed run" in messages[0]
        assert cluster.rest("GET", "/lb/status")["active_proxy"] == "lb1"
    assert bridges() == []
