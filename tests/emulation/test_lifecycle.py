"""The cluster comes up as described and goes away without a trace: after a normal stop, a
signal to a script that uses the harness, or a crash cleaned up by the next run. The topology
alone comes up under `mn --custom` with the project's controller."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from core.paths import ROOT
from controller.loops import FAULT_ENV
from tests.emulation.helpers import reaches_vip, wait_for
from topologies.cluster import Cluster, ClusterError
from core.builder import describe
from topologies.runstate import RUNS_DIR_ENV, RunRecord, process_alive
from topologies.selfcheck import check_addresses, check_controller
from topologies.topo import segment_pairs

pytestmark = pytest.mark.emulation
RUN = os.path.join(ROOT, "topologies", "run.py")
TOPO = os.path.join(ROOT, "topologies", "topo.py")
# An experiment script as a user would write it.
HARNESS_SCRIPT = """
import sys, time
from topologies.cluster import Cluster
with Cluster(mode="nat", clients=2, webs=2, run_dir=sys.argv[1]) as cluster:
    print("up", flush=True)
    time.sleep(300)
"""


def bridges():
    return subprocess.run(["ovs-vsctl", "list-br"], capture_output=True, text=True, check=True).stdout.split()


def processes_mentioning(text, *pgrep_options):
    return subprocess.run(["pgrep", *pgrep_options, "-f", text], capture_output=True, text=True).stdout.split()


def mininet_shells():
    """This process's Mininet node shells still running (an ended one's cmdline is empty)."""
    return processes_mentioning("bash --norc --noediting -is mininet:", "-P", str(os.getpid()))


def test_up_and_down_twice_leaves_nothing_behind():
    for _ in range(2):
        with Cluster(mode="nat", clients=4, webs=2) as cluster:
            assert set(cluster.description.node_names) <= {node.name for node in cluster.net.values()}
            ok, detail = check_addresses(cluster)
            assert ok, detail
            health = cluster.etcd.health()
            assert len(health) == 3 and all(m["health"] for m in health), health
            status = cluster.rest("GET", "/lb/status")
            assert status["mode"] == "nat" and status["vip"] == cluster.vip
            assert status["active_proxy"] == "lb1"
            assert [b["name"] for b in status["backends"]] == ["web1", "web2"]
            assert all(b["state"] == "up" for b in status["backends"])
            pids = [cluster.controller.pid] + [p.pid for p in cluster.processes.values()]
            run_dir = cluster.run_dir
        assert bridges() == []
        assert mininet_shells() == []           # the nodes' shells, c0's too (RemoteController keeps it)
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


def wait_for_line(process, wanted):
    """Read a child's output until a line contains `wanted`; the output so far."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if wanted in line:
            return "".join(seen)
    raise AssertionError("the process ended without printing %r:\n%s" % (wanted, "".join(seen)))


def nothing_left_of(run_dir, pids):
    assert bridges() == []
    assert [pid for pid in pids if process_alive(pid)] == []
    assert processes_mentioning(run_dir) == []
    assert not os.path.exists(os.path.join(run_dir, "etcd"))       # the data goes, the logs stay
    assert os.path.exists(os.path.join(run_dir, "logs", "controller.log"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_script_using_the_harness_killed_by_a_signal_leaves_nothing(sig):
    """As `timeout` (SIGTERM) or Ctrl-C (SIGINT) would: the signal goes to the script's whole
    process group."""
    run_dir = os.path.join(os.environ[RUNS_DIR_ENV], "signalled-" + sig.name)
    script = subprocess.Popen([sys.executable, "-c", HARNESS_SCRIPT, run_dir], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                              env=dict(os.environ, PYTHONPATH=ROOT))
    wait_for_line(script, "up")
    pids = list(RunRecord.read()["pids"].values())
    assert len(pids) > 10 and os.path.isdir(os.path.join(run_dir, "etcd"))
    os.killpg(script.pid, sig)
    output = script.communicate(timeout=60)[0]
    assert script.returncode != 0, output
    nothing_left_of(run_dir, pids)


@pytest.mark.parametrize("step", ["web servers", "log reviewer"])
def test_a_crashed_run_is_cleaned_up_by_the_next(step):
    """run.py killed outright right after a start-up step (after the web servers: while the log
    reviewer is being spawned)."""
    run_dir = os.path.join(os.environ[RUNS_DIR_ENV], "crashed-" + step.replace(" ", "-"))
    crashed = subprocess.Popen([sys.executable, RUN, "--run-dir", run_dir], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_line(crashed, step)
    crashed.kill()
    crashed.wait()
    assert "s_pub" in bridges()
    # What the harness started itself dies with it (PR_SET_PDEATHSIG), even one being spawned.
    wait_for(lambda: processes_mentioning("controller.launcher") == processes_mentioning("apps.logreview") == [],
             5, "a controller or log reviewer outlived the crashed run")
    messages = []
    with Cluster(progress=messages.append) as cluster:
        assert "cleaned leftovers of a crashed run" in messages[0]
        assert "data in %s/etcd" % run_dir in messages[0]
        assert cluster.rest("GET", "/lb/status")["active_proxy"] == "lb1"
    assert bridges() == []
    assert processes_mentioning(run_dir) == [] and not os.path.exists(os.path.join(run_dir, "etcd"))


def test_the_topology_alone_comes_up_under_mn_with_the_project_controller():
    """docs/RUNNING.md's recipe: the controller from its own flags, then `mn --custom`; every two
    hosts that share an edge switch reach each other."""
    controller = subprocess.Popen([sys.executable, "-m", "controller.launcher", "--mode", "nat", "--clients", "2",
                                   "--webs", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        wait_for(lambda: answers("http://127.0.0.1:8080/lb/status"), 30, "the controller did not start")
        result = subprocess.run(["mn", "--custom", TOPO, "--topo", "lvs,mode=nat,clients=2,webs=2",
                                 "--controller", "remote,ip=127.0.0.1,port=6653", "--test", "pingsegments"],
                                capture_output=True, text=True, timeout=180)
    finally:
        controller.terminate()
        controller.wait(timeout=10)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    pairs = len(list(segment_pairs(describe(mode="nat", clients=2, webs=2))))
    assert "*** Results: 0%% dropped (%d/%d received)" % (pairs, pairs) in output, output
    assert bridges() == []


def answers(url):
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def test_every_background_loop_goes_on_after_a_round_that_raises(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "all")       # each loop's first round raises
    with Cluster(mode="dr", clients=2, webs=2) as cluster:
        expected = {"proxy-prober", "counter-poller", "block-expiry", "write-watch", "health-check web1",
                    "health-check web2"}

        def every_loop_went_round_after_its_failure():
            loops = cluster.rest("GET", "/lb/status")["loops"]
            return set(loops) == expected and all(
                loop["failed_rounds"] == 1 and loop["last_round_s_ago"] is not None for loop in loops.values())
        wait_for(every_loop_went_round_after_its_failure, 10, "a loop did not go on after its failed round")
        ok, detail = check_controller(cluster)
        assert ok, detail
        assert reaches_vip(cluster, "c1")
        with open(os.path.join(cluster.log_dir, "controller-events.jsonl")) as f:
            failed = [json.loads(line) for line in f if "loop-round-failed" in line]
        assert {event["labels.loop"] for event in failed} == expected
        assert all("InjectedFault" in event["message"] for event in failed)
