"""The DB tier: a three-member etcd cluster on db1..db3, where conversations keep their state
(apps/store.py is its client)."""
import json
import os

from core.addressing import ETCD_CLIENT_PORT, ETCD_PEER_PORT
from topologies.runstate import wait_until

# etcd's Raft timers (ms). Followers notice a lost leader 5-10 heartbeats after its last one (etcd
# randomises the timeout in whole heartbeat ticks), and when two of them time out in the same tick
# the vote splits and costs another such round: measured at 20/100, one leader loss in 6 split
# and the new leader came 276 ms after the cut. At 10/50 a split round costs at most 100 ms, so a
# conversation's turn stays under 300 ms (apps/store.py hedges across members meanwhile). etcd
# wants the election timeout at least 5 heartbeats; pre-vote and check-quorum keep one member
# that missed heartbeats (a stalled machine) from deposing a leader the others still hear.
ETCD_HEARTBEAT_MS, ETCD_ELECTION_MS = 10, 50


class EtcdCluster:
    """The members' commands, their health, and their start; `cluster` runs them in its hosts."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.members = [h.name for h in cluster.description.hosts_with_role("db")]

    @property
    def data_dir(self):
        """etcd's data; removed when the run stops (each member preallocates 64 MB of WAL)."""
        return os.path.join(self.cluster.run_dir, "etcd")

    def endpoints(self):
        return ",".join("http://%s:%d" % (self.cluster.description.host(db).ip, ETCD_CLIENT_PORT)
                        for db in self.members)

    def command(self, db, cluster_state="new"):
        """etcd for member `db`: "new" at the start, "existing" when a crashed member rejoins."""
        description = self.cluster.description
        peers = ",".join("%s=http://%s:%d" % (name, description.host(name).ip, ETCD_PEER_PORT)
                         for name in self.members)
        client_url, peer_url = ("http://%s:%d" % (description.host(db).ip, port)
                                for port in (ETCD_CLIENT_PORT, ETCD_PEER_PORT))
        # Pre-vote: a member that comes back after a crash asks before it campaigns, so it cannot
        # depose a working leader with a higher term. zap: JSON lines with millisecond times.
        return ["etcd", "--name", db, "--data-dir", os.path.join(self.data_dir, db),
                "--listen-client-urls", client_url + ",http://127.0.0.1:%d" % ETCD_CLIENT_PORT,
                "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url,
                "--initial-advertise-peer-urls", peer_url, "--initial-cluster", peers,
                "--initial-cluster-token", "lvsdn-" + os.path.basename(self.cluster.run_dir),
                "--initial-cluster-state", cluster_state, "--heartbeat-interval", str(ETCD_HEARTBEAT_MS),
                "--election-timeout", str(ETCD_ELECTION_MS), "--pre-vote", "--logger", "zap"]

    def health(self):
        """[{"endpoint": URL, "health": bool}, ...] for every member, as etcdctl sees it."""
        out = self.cluster.host(self.members[0]).cmd(
            "ETCDCTL_API=3 etcdctl --command-timeout=2s --endpoints=%s endpoint health -w json 2>/dev/null"
            % self.endpoints())
        try:
            return [{"endpoint": e["endpoint"], "health": bool(e["health"])} for e in json.loads(out)]
        except (ValueError, KeyError, TypeError):
            return []

    def start(self):
        for db in self.members:
            self.cluster.spawn(db, "etcd", self.command(db))
        wait_until("3 healthy etcd members",
                   lambda: sum(e["health"] for e in self.health()) == len(self.members), timeout=30)
        return "%d members healthy (%s)" % (len(self.members), self.endpoints())

    def stop(self):
        """Every member at once, killed: etcd's data is scratch, removed with the run. A leader
        stopped gracefully first tries to hand its leadership over, to members stopping with it,
        and holds the teardown for seconds."""
        self.cluster.kill(*[(db, "etcd") for db in self.members], crash=True)

    def crash(self, db):
        self.cluster.kill((db, "etcd"), crash=True)

    def rejoin(self, db):
        """A crashed member starts again with its data and rejoins the cluster."""
        self.cluster.spawn(db, "etcd", self.command(db, cluster_state="existing"))
