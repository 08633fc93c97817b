"""Preemptive failback: the recovered preferred proxy takes the VIP back, without overlap."""
import json
import time

import pytest

from core.settings import ProxyPolicy
from tests.emulation.helpers import ProxySampler, request_stream, status, wait_for
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation


def test_preemptive_failback_hands_the_vip_back_without_overlap():
    with Cluster(mode="dr", clients=2, webs=2, proxy_policy=ProxyPolicy(preempt=True)) as cluster:
        stream = request_stream(cluster, 400)
        sampler = ProxySampler(cluster)
        sampler.start()
        try:
            started = time.monotonic()
            time.sleep(1)
            failed = time.monotonic()
            cluster.fail("lb1", "link")
            wait_for(lambda: status(cluster)["active_proxy"] == "lb2", 3, "no failover")
            wait_for(lambda: sampler.carried_since("lb2", failed), 5, "lb2 carried nothing")
            recovered = time.monotonic()
            cluster.recover("lb1")
            # lb1 takes the VIP back only after its preempt delay; until then its counter may still
            # grow from before its failure (COUNTER_LAG), so its phase begins at the hand-back.
            handed_back = wait_for(lambda: status(cluster)["active_proxy"] == "lb1", 8, "no preemptive failback")
            wait_for(lambda: sampler.carried_since("lb1", handed_back), 5, "lb1 carried nothing after failback")
            result = json.loads(stream.communicate(timeout=60)[0])
        finally:
            sampler.stop()
        assert result["max_gap"] < 2.0, result
        assert handed_back - recovered > ProxyPolicy().preempt_delay / 2, "lb1 preempted before its delay"
        phases = [(started, "lb1"), (failed, "lb2"), (handed_back, "lb1")]
        assert sampler.handovers_violated(phases) == [], "%s (failed %+.2f, recovered %+.2f, handed back %+.2f)" % (
            sampler.since(started), failed - started, recovered - started, handed_back - started)
