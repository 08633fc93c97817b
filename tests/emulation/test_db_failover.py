"""A DB member's failure costs a conversation almost nothing (issue 23): a conversation asking
every 100 ms through the VIP while the etcd leader or a follower crashes or is cut off loses no
turn, duplicates none, and no turn waits over 300 ms. Each failure is undone before the next,
on one cluster. What makes it so: a 50 ms Raft election timeout, so that even a split vote costs
about 100 ms more (topologies/cluster.py), and a store that notices a dead member at once, asks a
member that failed lately last, and asks another member beside one silent for 50 ms
(apps/store.py)."""
import json
import time

import pytest

from tests.emulation.test_web_tier import etcd_leader, seconds_until
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation

PAUSE = 0.1             # between turns
TURN_BOUND = 0.3        # the longest one turn may take, retries included (measured: at most 0.09)


@pytest.fixture(scope="module")
def cluster():
    with Cluster(mode="nat", clients=2, webs=2) as running:
        yield running


@pytest.mark.parametrize("kind", ["crash", "link"])
@pytest.mark.parametrize("role", ["leader", "follower"])
def test_a_db_member_failing_costs_a_turn_at_most_300_ms(cluster, role, kind):
    leader = etcd_leader(cluster)
    followers = [h.name for h in cluster.description.hosts_with_role("db") if h.name != leader]
    target = leader if role == "leader" else followers[0]       # db1 when it follows: the webs ask it first
    prefix = "%s-%s" % (role, kind)
    client = cluster.app("c1", "apps.conversation_client", "--url", "http://%s" % cluster.vip, "--turns", 1000,
                         "--pause", PAUSE, "--seconds", 4, "--timeout", 2, "--prefix", prefix)
    try:
        first = json.loads(client.stdout.readline())
        assert first["event"] == "started", first
        time.sleep(1.5)                                        # about 13 turns before the failure
        cluster.fail(target, kind)
        out, err = client.communicate(timeout=60)
    finally:
        if target in cluster.failed:
            cluster.recover(target)
    seconds_until(lambda: sum(m["health"] for m in cluster.etcd.health()) == 3, 30)
    done = json.loads(out.strip().splitlines()[-1])
    assert done["event"] == "done", (out, err)
    assert done["turns"] == ["%s-%d" % (prefix, n) for n in range(1, len(done["turns"]) + 1)], done
    assert len(done["turns"]) >= 20 and done["failed_attempts"] == 0, done
    assert done["max_turn"] <= TURN_BOUND and done["max_gap"] <= TURN_BOUND + PAUSE, done
