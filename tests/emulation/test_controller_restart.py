"""The controller is SIGKILLed and comes back 4 s later: clients notice nothing, no switch's flow is
deleted and added again, and what was changed over REST (weights, a drain, a block) is still in
force, the ban ending on time."""
import hashlib
import json
import os
import re
import subprocess
import time

import pytest

from apps.webserver import pattern
from tests.emulation.helpers import reaches_vip, request_stream, status, wait_for
from core.builder import describe
from topologies.cluster import Cluster, ClusterError, ControllerDown

pytestmark = pytest.mark.emulation
BAN = 20          # s


@pytest.fixture(scope="module", params=["nat", "dr"])
def cluster(request):
    with Cluster(mode=request.param, clients=4, webs=2) as running:
        yield running


def flows(cluster):
    """{(switch, table, priority, match): seconds it has existed} of every flow the controller
    installed (the connection log's learned entries, cookie 0, left out)."""
    found = {}
    for switch in cluster.description.switches:
        out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", switch.name],
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            fields = re.match(r"\s*cookie=(\S+), duration=([\d.]+)s, table=(\d+), .*?priority=(\d+),?(\S*) actions=",
                              line)
            if fields and int(fields.group(1), 16) != 0:
                found[(switch.name, int(fields.group(3)), int(fields.group(4)), fields.group(5))] = \
                    float(fields.group(2))
    return found


def test_a_controller_crash_and_restart_goes_unnoticed_and_keeps_what_was_changed(cluster):
    cluster.rest("PUT", "/lb/backends/web1", {"weight": 3})
    cluster.rest("PUT", "/lb/backends/web2", {"weight": 0})            # drained
    cluster.rest("POST", "/lb/blocks", {"ip": cluster.description.host("c4").interfaces[0].ip, "seconds": BAN,
                                        "reason": "test"})
    blocked_at = time.monotonic()
    wait_for(lambda: status(cluster)["flows_in_sync"], 10, "the changes never reached the switches")
    size, rate = 6_000_000, 600_000                  # a 10 s download spanning the restart
    body = os.path.join(cluster.run_dir, "restart.bin")
    download = cluster.host("c2").popen(["curl", "-s", "-m", "60", "-o", body,
                                         "http://%s/download?bytes=%d&rate=%d" % (cluster.vip, size, rate)])
    stream = request_stream(cluster, 500)               # every 20 ms, about 12 s
    try:
        time.sleep(2)
        before, read_before = flows(cluster), time.monotonic()
        cluster.fail("controller", "crash")
        with pytest.raises(ControllerDown):
            cluster.rest("GET", "/lb/status")
        time.sleep(4)
        cluster.recover("controller")
        after, between = flows(cluster), time.monotonic() - read_before
        result = json.loads(stream.communicate(timeout=60)[0])
        assert download.wait(timeout=60) == 0
    finally:
        cluster.rest("PUT", "/lb/backends/web1", {"weight": 1})
        cluster.rest("PUT", "/lb/backends/web2", {"weight": 1})
    assert result["errors"] == 0 and set(result["served_by"]) == {"web1"}, result     # web2 still drained
    with open(body, "rb") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(pattern(0, size)).digest()
    readded = [key for key, age in before.items() if key in after and after[key] < age + between - 1.0]
    assert set(before) <= set(after) and not readded, (set(before) - set(after), readded)
    assert status(cluster)["last_failover"] is None              # a restart is not a failover
    blocks = cluster.rest("GET", "/lb/blocks")["blocks"]
    assert [b["ip"] for b in blocks] == ["10.0.0.14"] and blocks[0]["seconds_left"] < BAN - 4
    assert not reaches_vip(cluster, "c4")
    wait_for(lambda: reaches_vip(cluster, "c4"), BAN - (time.monotonic() - blocked_at) + 5,
             "the ban did not end on time")


def test_a_proxy_that_dies_while_the_controller_is_down_is_replaced_in_the_datapath(cluster):
    """The edges' fast-failover groups move the VIP without the controller: a client asking
    every 20 ms keeps being served (at most the request in flight at the crash is lost); the
    controller, back, does not trust its saved active proxy blindly: it reports the standby
    and why."""
    active = status(cluster)["active_proxy"]
    standby = next(p for p in cluster.description.proxies if p != active)
    cluster.fail("controller", "crash")
    try:
        stream = request_stream(cluster, 150)
        time.sleep(1)
        cluster.fail(active, "crash")
        result = json.loads(stream.communicate(timeout=60)[0])
        assert result["errors"] <= 1 and sum(result["served_by"].values()) >= 149, result
        with pytest.raises(ClusterError, match="recover the controller first"):
            cluster.recover(active)
        cluster.recover("controller")
        wait_for(lambda: status(cluster)["active_proxy"] == standby, 1, "no failover to %s within 1 s" % standby)
        assert active in status(cluster)["last_failover"]["cause"]
        wait_for(lambda: reaches_vip(cluster, "c1"), 5, "the VIP does not answer through %s" % standby)
    finally:
        if "controller" in cluster.failed:
            cluster.recover("controller")
        cluster.recover(active)
    wait_for(lambda: next(p for p in status(cluster)["proxies"] if p["name"] == active)["role"] == "standby",
             10, "%s did not come back as standby" % active)


def test_a_damaged_saved_state_and_a_changed_description_are_taken_in_stride(cluster):
    run_dir = cluster.run_dir
    state_file, description_file = (os.path.join(run_dir, name) for name in ("controller-state.json", "cluster.json"))
    with open(description_file) as f:
        original = f.read()
    cluster.fail("controller", "crash")
    try:
        with open(state_file, "w") as f:
            f.write('{"version": 1, "weights": ')                          # cut off mid-write
        with open(description_file, "w") as f:                              # one web host fewer
            f.write(describe(mode=cluster.description.mode, clients=4, webs=1).to_json())
        cluster.recover("controller")
        assert [b["name"] for b in cluster.rest("GET", "/lb/backends")["backends"]] == ["web1"]
        wait_for(lambda: "web1" in cluster.host("c1").cmd("curl -s -m 1 http://%s/" % cluster.vip), 5,
                 "the VIP is not served by the one web host described")
        with open(os.path.join(cluster.log_dir, "controller-events.jsonl")) as f:
            refused = [json.loads(line)["message"] for line in f if "state-not-restored" in line]
        assert refused and "cannot be used" in refused[-1] and "\n" not in refused[-1]
        with open(os.path.join(cluster.log_dir, "controller.log")) as f:
            assert "Traceback" not in f.read()
    finally:
        with open(description_file, "w") as f:
            f.write(original)
        cluster.fail("controller", "crash")
        cluster.recover("controller")
    assert len(cluster.rest("GET", "/lb/backends")["backends"]) == 2
