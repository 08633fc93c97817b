"""What several emulation tests do."""
import json
import re
import subprocess
import threading
import time
from collections import Counter

CLIENTS = ("c1", "c2", "c3", "c4")


def request_stream(cluster, count, timeout=1):
    """A client (c1) asking the VIP every 20 ms, each on a new connection: a Popen whose output
    reports the longest time without an answer."""
    return cluster.app("c1", "apps.loadclient", "--url", "http://%s/" % cluster.vip,
                       "--connections", count, "--interval", 0.02, "--timeout", timeout)


def served_counts(cluster, per_client=100):
    """New connections from every client at once; (Counter of serving hosts, errors)."""
    runs = [cluster.app(c, "apps.loadclient", "--url", "http://%s/" % cluster.vip,
                        "--connections", per_client) for c in CLIENTS]
    results = [json.loads(run.communicate(timeout=180)[0]) for run in runs]
    return sum((Counter(r["served_by"]) for r in results), Counter()), sum(r["errors"] for r in results)


def vip_packets(cluster, proxy):
    """Packets a proxy has taken in for the VIP (its classify flows; the other proxy's SYN
    copies not counted); 0 while its bridge is gone."""
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", proxy,
                          "table=0,ip,nw_dst=%s" % cluster.vip], capture_output=True, text=True).stdout
    return sum(int(n) for n, prio in re.findall(r"n_packets=(\d+),.*?priority=(\d+)", out) if prio in ("200", "210"))


class ProxySampler(threading.Thread):
    """Samples both proxies' VIP packet counters every `period` s; `receivers()` is the list of
    sets of proxies whose counter grew in each period, empty periods left out."""

    def __init__(self, cluster, period=0.05):
        super().__init__(daemon=True)
        self.cluster, self.period = cluster, period
        self.samples, self.running = [], True

    def run(self):
        while self.running:
            self.samples.append({p: vip_packets(self.cluster, p) for p in self.cluster.description.proxies})
            time.sleep(self.period)

    def stop(self):
        self.running = False
        self.join()

    def receivers(self):
        periods = []
        for before, after in zip(self.samples, self.samples[1:]):
            grew = frozenset(p for p in after if after[p] > before[p])
            if grew:
                periods.append(grew)
        return periods


def one_proxy_at_a_time(periods):
    """True if traffic went to one proxy, then (at most once, with at most one period where both
    saw packets: those already in flight) to the other, and never back and forth."""
    runs = [p for i, p in enumerate(periods) if i == 0 or p != periods[i - 1]]
    both = [r for r in runs if len(r) > 1]
    singles = [r for r in runs if len(r) == 1]
    return len(both) <= 1 and len(singles) <= 2 and (not both or runs.index(both[0]) not in (0, len(runs) - 1))


def status(cluster):
    return cluster.rest("GET", "/lb/status")


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def reaches_vip(cluster, client):
    """True if one HTTP request from `client` to the VIP is answered."""
    return "served_by" in cluster.host(client).cmd("curl -s -m 1 http://%s/" % cluster.vip)
